// Quantized weights repacked 16 rows at a time for the 8-bit GEMM (engine/interleaved_quant.hpp,
// engine/quant_interleaved.cpp):
//  - the repacked matrix holds every weight exactly as the file's dequantizer gives it;
//  - the GEMM equals a double-precision sum of (dequantized weight) x (quantized activation)
//    within f32 rounding (3e-5 of sum |w x|, test_cpu_isa.cpp's bound), in every variant;
//  - the AVX-512 kernel gives the portable reference's bits, and a token's bits do not depend on
//    how many tokens share the call;
//  - cpu::matmul_wt and matmul_wt_multi route interleaved views to it.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "engine/cpu_isa.hpp"
#include "engine/cpu_kernels.hpp"
#include "engine/interleaved_quant.hpp"
#include "engine/kernel_table.hpp"
#include "tests/quant_test_rows.hpp"

using namespace precis::engine;
using namespace precis::engine::test;

namespace {

const GgmlType kInterleavedTypes[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                                      GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q4_K,
                                      GgmlType::Q5_K, GgmlType::Q6_K};

std::string type_name(GgmlType t) {
  return ggml_type_name(static_cast<uint32_t>(t));
}

// A row of `blocks` type blocks. Three give the types with blocks of 32 an odd count, so the
// layout's one-block units are covered; four, its paired ones.
int row_length(GgmlType t, int blocks = 3) {
  return static_cast<int>(ggml_type_info(t).block_elems) * blocks;
}

// T tokens of activations with an outlier (real activations have them: it coarsens a block's
// scale), quantized as the GEMM reads them.
struct Activations8 {
  std::vector<BlockQ8A> xq;  // [T][nb]
  std::vector<int32_t> xs;   // [T][2 nb]
  std::vector<float> seen;   // [T][K], d * q
};

Activations8 quantized_activations(int T, int K, std::mt19937& rng) {
  std::vector<float> x = normal_vector(static_cast<size_t>(T) * K, rng);
  x[5] = 30.f;
  const KernelTable& kt = kernels_for(CpuIsa::scalar);
  const int nb = K / kQK;
  Activations8 a;
  a.xq.resize(static_cast<size_t>(T) * nb);
  a.xs.resize(static_cast<size_t>(T) * nb * 2);
  for (int t = 0; t < T; ++t) {
    kt.quantize_activations(x.data() + static_cast<size_t>(t) * K, a.xq.data() + t * nb, nb);
    kt.interleaved_half_sums(a.xq.data() + t * nb, nb, a.xs.data() + t * nb * 2);
  }
  for (size_t i = 0; i < x.size(); ++i)
    a.seen.push_back(a.xq[i / kQK].d * a.xq[i / kQK].qs[i % kQK]);
  return a;
}

// y [T, N] by a variant's GEMM, group by group.
std::vector<float> gemm(const KernelTable& kt, const InterleavedMatrix& m, const Activations8& a,
                        int T) {
  const int64_t nb = m.K / kQK;
  std::vector<float> y(static_cast<size_t>(T) * m.N, NAN);
  for (int g = 0; g < m.N / kInterleaveRows; ++g)
    kt.gemm_interleaved(m, g, a.xq.data(), nb, a.xs.data(), 2 * nb, T, y.data(), m.N);
  return y;
}

}  // namespace

TEST_CASE("interleave: the repacked matrix holds the dequantizer's weights exactly",
          "[interleaved]") {
  std::mt19937 rng(11);
  for (GgmlType t : kInterleavedTypes) {
    for (const int K : {row_length(t), row_length(t, 4)}) {
      INFO(type_name(t) << ", K " << K);
      const int N = 32;
      const Matrix w = random_matrix(t, N, K, rng);
      const std::optional<InterleavedMatrix> m = interleave_matrix(w.view, N, K);
      REQUIRE(m);
      int exact = 0;
      for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k) exact += interleaved_weight(*m, n, k) == w.w[n * K + k];
      CHECK(exact == N * K);
      // Code bits per weight, what the type stores: nibbles plus planes of the bits above.
      const int bits = t == GgmlType::Q8_0                                                   ? 8
                       : t == GgmlType::Q6_K                                                 ? 6
                       : (t == GgmlType::Q5_0 || t == GgmlType::Q5_1 || t == GgmlType::Q5_K) ? 5
                                                                                             : 4;
      CHECK(m->code_bytes * 8 == static_cast<size_t>(bits) * kQK * kInterleaveRows);
      // Padded sections: every group starts 64-byte aligned, as the kernel's aligned loads need.
      CHECK(m->group_bytes % 64 == 0);
      CHECK(reinterpret_cast<uintptr_t>(m->group(1)) % 64 == 0);
      for (int64_t b = 0; b < m->nb; ++b)
        CHECK(reinterpret_cast<uintptr_t>(m->group(1) + m->codes_offset(b)) % 64 == 0);
    }
  }
}

TEST_CASE("interleave: what has no interleaved form is left alone, bad shapes are refused",
          "[interleaved]") {
  std::mt19937 rng(12);
  const Matrix dense = random_matrix(GgmlType::F16, 16, 64, rng);
  CHECK_FALSE(interleave_matrix(dense.view, 16, 64));
  const Matrix q = random_matrix(GgmlType::Q4_0, 24, 64, rng);
  CHECK_FALSE(interleave_matrix(q.view, 24, 64));  // not a multiple of 16 rows
  CHECK_THROWS_AS(interleave_matrix(q.view, 16, 48), std::invalid_argument);  // K
  CHECK_THROWS_WITH(interleave_matrix(q.view, 32, 64), Catch::Contains("fewer than 32 rows"));
}

TEST_CASE("interleaved GEMM: every variant within f32 rounding of the exact sum", "[interleaved]") {
  std::mt19937 rng(13);
  for (GgmlType type : kInterleavedTypes)
    for (const int K : {row_length(type), row_length(type, 4)}) {
      const int N = 48, T = 11;
      const Matrix w = random_matrix(type, N, K, rng);
      const InterleavedMatrix m = *interleave_matrix(w.view, N, K);
      const Activations8 a = quantized_activations(T, K, rng);
      for (CpuIsa isa : available_cpu_isas()) {
        INFO(type_name(type) << " " << cpu_isa_name(isa));
        const std::vector<float> y = gemm(kernels_for(isa), m, a, T);
        int within = 0;
        for (int t = 0; t < T; ++t)
          for (int n = 0; n < N; ++n) {
            double ref = 0, mag = 0;
            for (int k = 0; k < K; ++k) {
              const double p = static_cast<double>(w.w[n * K + k]) * a.seen[t * K + k];
              ref += p;
              mag += std::fabs(p);
            }
            within += std::fabs(y[t * N + n] - ref) <= 3e-5 * mag + 1e-6;
          }
        CHECK(within == T * N);
      }
    }
}

TEST_CASE("interleaved GEMM: the AVX-512 kernel gives the reference's bits, whatever the batch",
          "[interleaved]") {
  std::mt19937 rng(14);
  const KernelTable& ref = kernels_for(CpuIsa::scalar);
  const bool avx512 = cpu_isa_available(CpuIsa::avx512);
  if (!avx512) WARN("skipped the AVX-512 comparison: this CPU has no AVX-512 VNNI");
  for (GgmlType type : kInterleavedTypes)
    for (const int K : {row_length(type), row_length(type, 4)}) {
      INFO(type_name(type) << ", K " << K);
      const int N = 32, T = 19;  // two full tiles of 8 and a tail of 3
      const Matrix w = random_matrix(type, N, K, rng);
      const InterleavedMatrix m = *interleave_matrix(w.view, N, K);
      const Activations8 a = quantized_activations(T, K, rng);
      const std::vector<float> expect = gemm(ref, m, a, T);
      for (CpuIsa isa : available_cpu_isas()) {
        const KernelTable& kt = kernels_for(isa);
        INFO(cpu_isa_name(isa));
        CHECK(gemm(kt, m, a, T) == expect);
        // Token t alone, at offsets that put it in every position of a tile.
        int same = 0;
        for (int t = 0; t < T; ++t) {
          std::vector<float> one(N);
          const int64_t nb = K / kQK;
          for (int g = 0; g < N / kInterleaveRows; ++g)
            kt.gemm_interleaved(m, g, a.xq.data() + t * nb, nb, a.xs.data() + t * 2 * nb, 2 * nb, 1,
                                one.data(), N);
          for (int n = 0; n < N; ++n) same += one[n] == expect[t * N + n];
        }
        CHECK(same == T * N);
      }
    }
}

TEST_CASE("interleaved GEMM: matmul_wt and matmul_wt_multi route interleaved views to it",
          "[interleaved]") {
  std::mt19937 rng(15);
  const int K = 256, T = 5;
  Matrix a = random_matrix(GgmlType::Q4_K, 32, K, rng);
  Matrix b = random_matrix(GgmlType::Q8_0, 48, K, rng);
  const Matrix c = random_matrix(GgmlType::Q4_1, 16, K, rng);  // stays on the row kernels
  const InterleavedMatrix ma = *interleave_matrix(a.view, 32, K);
  const InterleavedMatrix mb = *interleave_matrix(b.view, 48, K);
  TensorView va = a.view, vb = b.view;
  va.cpu_interleaved = &ma;
  vb.cpu_interleaved = &mb;
  const std::vector<float> x = normal_vector(static_cast<size_t>(T) * K, rng);
  const Activations8 xq = [&] {
    Activations8 r;
    const int nb = K / kQK;
    r.xq.resize(static_cast<size_t>(T) * nb);
    r.xs.resize(static_cast<size_t>(T) * nb * 2);
    const KernelTable& kt = kernels_for(CpuIsa::scalar);
    for (int t = 0; t < T; ++t) {
      kt.quantize_activations(x.data() + t * K, r.xq.data() + t * nb, nb);
      kt.interleaved_half_sums(r.xq.data() + t * nb, nb, r.xs.data() + t * 2 * nb);
    }
    return r;
  }();
  const KernelTable& active = kernels_for(active_cpu_isa());
  // Alone, through the dispatching entry point: what the variant's GEMM gives.
  std::vector<float> ya(T * 32), yb(T * 48), yc(T * 16);
  cpu::matmul_wt(x.data(), T, K, va, 32, ya.data(), cpu::Activations::int8);
  CHECK(ya == gemm(active, ma, xq, T));
  // Together with a matrix that is not interleaved: each output as alone.
  std::vector<float> ya2(ya.size()), yb2(yb.size()), yc2(yc.size());
  cpu::matmul_wt(x.data(), T, K, vb, 48, yb.data(), cpu::Activations::int8);
  cpu::matmul_wt(x.data(), T, K, c.view, 16, yc.data(), cpu::Activations::int8);
  const cpu::MatmulOut outs[] = {
      {&va, 32, ya2.data()}, {&c.view, 16, yc2.data()}, {&vb, 48, yb2.data()}};
  cpu::matmul_wt_multi(x.data(), T, K, outs, cpu::Activations::int8);
  CHECK(ya2 == ya);
  CHECK(yb2 == yb);
  CHECK(yc2 == yc);
  // A view interleaved for another shape is refused, naming it.
  va.name = "blk.0.attn_q.weight";
  CHECK_THROWS_WITH(cpu::matmul_wt(x.data(), T, K, va, 16, ya.data(), cpu::Activations::int8),
                    Catch::Contains("blk.0.attn_q.weight is interleaved as [32, 256]"));
}
