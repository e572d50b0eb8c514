// Runtime instruction-set dispatch of the CPU kernels (engine/cpu_isa.hpp, kernel_table.hpp):
// PRECIS_CPU_ISA's parsing and refusals, and every variant this CPU runs (the one it would not
// pick by default too, e.g. avx2 on an AVX-512 machine) checked kernel by kernel against the scalar
// variant, on shapes that leave tails: rows not a multiple of the 4- and 8-row tiles, K not a
// multiple of the 8- and 16-lane loops, odd block counts.
//
// Tolerances: the variants sum in different orders (8 or 16 lanes, FMA), so a dot product may
// differ by a few f32 roundings of its terms' magnitude: 3e-5 * sum |w x|, the bound
// test_quant.cpp uses against a double-precision reference. What involves no sum (dequantizing,
// quantizing, loading a row) must be bit-identical: the formats are exact and quantize_row must
// match ggml's reference bytes whatever the variant.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/aligned_allocator.hpp"
#include "engine/cpu_isa.hpp"
#include "engine/cpu_kv_kernels.hpp"
#include "engine/cpu_prefetch.hpp"
#include "engine/dtype.hpp"
#include "engine/ggml_type.hpp"
#include "engine/kernel_table.hpp"
#include "engine/quant.hpp"
#include "test_support.hpp"
#include "tests/quant_test_rows.hpp"

using namespace precis::engine;
using namespace precis::engine::test;

namespace {

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                              GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
const CpuIsa kAllIsas[] = {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512};

std::string type_name(GgmlType t) {
  return ggml_type_name(static_cast<uint32_t>(t));
}

// sum |a b|: the scale of the rounding a float dot product of a and b can accumulate.
double magnitude(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m += std::fabs(static_cast<double>(a[i]) * b[i]);
  return m;
}

// The activations quantize_activations gives, as floats (d * q).
std::vector<float> activations_seen(const std::vector<BlockQ8A>& xq) {
  std::vector<float> x(xq.size() * kQK);
  for (size_t i = 0; i < x.size(); ++i) x[i] = xq[i / kQK].d * xq[i / kQK].qs[i % kQK];
  return x;
}

std::vector<CpuIsa> simd_variants() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : available_cpu_isas())
    if (isa != CpuIsa::scalar) out.push_back(isa);
  return out;
}

// Element counts per type: odd numbers of blocks, and for the plain types lengths around the 8-
// and 16-lane loops.
std::vector<int64_t> row_lengths(GgmlType t) {
  const int64_t block = ggml_type_info(t).block_elems;
  if (block == 1) return {1, 7, 8, 15, 17, 37, 67};
  return {block, 3 * block, 5 * block};
}

}  // namespace

TEST_CASE("cpu isa: names, the default, and PRECIS_CPU_ISA's checks", "[cpu_isa]") {
  for (CpuIsa isa : kAllIsas) CHECK(parse_cpu_isa(cpu_isa_name(isa)) == isa);
  CHECK_FALSE(parse_cpu_isa("AVX2"));
  CHECK_FALSE(parse_cpu_isa(""));
  CHECK_FALSE(parse_cpu_isa("avx512 "));

  CHECK(choose_cpu_isa(nullptr, kAllIsas) == CpuIsa::avx512);
  CHECK(choose_cpu_isa("", kAllIsas) == CpuIsa::avx512);
  CHECK(choose_cpu_isa("avx2", kAllIsas) == CpuIsa::avx2);
  CHECK(choose_cpu_isa("scalar", kAllIsas) == CpuIsa::scalar);
  const CpuIsa no_avx512[] = {CpuIsa::scalar, CpuIsa::avx2};
  CHECK(choose_cpu_isa(nullptr, no_avx512) == CpuIsa::avx2);
  CHECK_THROWS_WITH(
      choose_cpu_isa("avx512", no_avx512),
      Catch::Contains("PRECIS_CPU_ISA=avx512") && Catch::Contains("available here: scalar, avx2"));
  CHECK_THROWS_WITH(choose_cpu_isa("sse4", kAllIsas),
                    Catch::Contains("PRECIS_CPU_ISA=sse4") && Catch::Contains("unknown") &&
                        Catch::Contains("valid values: scalar, avx2, avx512"));

  // This process: the variants the CPU runs, scalar first; the active one is what the
  // environment asks for (ctest leaves PRECIS_CPU_ISA unset: the best).
  const auto available = available_cpu_isas();
  REQUIRE_FALSE(available.empty());
  CHECK(available.front() == CpuIsa::scalar);
  std::string names;
  for (CpuIsa isa : available) names += std::string(" ") + cpu_isa_name(isa);
  WARN("CPU kernel variants this machine runs:" << names);
  CHECK(active_cpu_isa() == choose_cpu_isa(std::getenv("PRECIS_CPU_ISA"), available));
  CHECK(active_kernels().isa == active_cpu_isa());
  for (CpuIsa isa : kAllIsas) {
    if (cpu_isa_available(isa))
      CHECK(kernels_for(isa).isa == isa);
    else
      CHECK_THROWS_WITH(kernels_for(isa), Catch::Contains("not available"));
  }
}

TEST_CASE("cpu isa: every variant's row kernels match the scalar variant's", "[cpu_isa]") {
  const KernelTable& ref = kernels_for(CpuIsa::scalar);
  std::mt19937 rng(2024);
  for (CpuIsa isa : simd_variants()) {
    const KernelTable& simd = kernels_for(isa);
    for (GgmlType t : kAllTypes) {
      const QuantKernels& k = *simd.quant(t);
      const QuantKernels& r = *ref.quant(t);
      for (int64_t n : row_lengths(t)) {
        INFO(cpu_isa_name(isa) << " " << type_name(t) << " n=" << n);
        const int64_t nb = n / k.block;
        const auto row = random_row(t, n, rng);
        const auto x = normal_vector(static_cast<size_t>(n), rng);
        std::vector<float> w(static_cast<size_t>(n)), w_ref(w.size());
        k.dequantize(row.data(), w.data(), nb);
        r.dequantize(row.data(), w_ref.data(), nb);
        CHECK(std::memcmp(w.data(), w_ref.data(), w.size() * sizeof(float)) == 0);

        const double mag = magnitude(w_ref.data(), x.data(), n);
        CHECK(std::fabs(k.dot(row.data(), x.data(), nb) - r.dot(row.data(), x.data(), nb)) <=
              3e-5 * mag);

        if (r.quantize) {
          std::vector<std::byte> q(row.size()), q_ref(row.size());
          k.quantize(x.data(), q.data(), nb);
          r.quantize(x.data(), q_ref.data(), nb);
          CHECK(q == q_ref);
        }
        if (r.dot_q8) {
          std::vector<BlockQ8A> xq(static_cast<size_t>(n / kQK));
          ref.quantize_activations(x.data(), xq.data(), n / kQK);
          const auto xhat = activations_seen(xq);
          const double mag_hat = magnitude(w_ref.data(), xhat.data(), n);
          CHECK(std::fabs(k.dot_q8(row.data(), xq.data(), nb) -
                          r.dot_q8(row.data(), xq.data(), nb)) <= 3e-5 * mag_hat);
        }
      }
    }
    INFO(cpu_isa_name(isa) << " quantize_activations");
    auto x = normal_vector(32 * 7, rng, 3.f);
    std::fill(x.begin() + 32, x.begin() + 64, 0.f);  // an all-zero block: d = 0
    x[100] = 80.f;                                   // an outlier sets its block's scale
    // A block whose scale is exactly 1 (max 127), holding ties: roundf takes them away from zero.
    const float ties[] = {127.f, 0.5f,  -0.5f,  1.5f,    -1.5f,
                          2.5f,  -2.5f, 126.5f, -126.5f, 0.49999997f};
    std::copy(std::begin(ties), std::end(ties), x.begin() + 160);
    std::vector<BlockQ8A> xq(7), xq_ref(7);
    simd.quantize_activations(x.data(), xq.data(), 7);
    ref.quantize_activations(x.data(), xq_ref.data(), 7);
    CHECK(std::memcmp(xq.data(), xq_ref.data(), xq.size() * sizeof(BlockQ8A)) == 0);
    CHECK(xq[5].qs[1] == 1);  // 0.5 -> 1, -2.5 -> -3, 0.49999997 -> 0
    CHECK(xq[5].qs[6] == -3);
    CHECK(xq[5].qs[9] == 0);
  }
}

// Prefill's GEMM hands each weight row several tokens at once (QuantKernels::dot_tokens); a token's
// result must not depend on which others share its call, or a sequence's logits would change with
// the batch it runs in and with prefix caching. So: bit-identical, not merely close.
TEST_CASE("cpu isa: the several-token row kernels give each token the one-token kernel's bits",
          "[cpu_isa]") {
  std::mt19937 rng(11);
  for (CpuIsa isa : available_cpu_isas()) {
    const KernelTable& kt = kernels_for(isa);
    for (GgmlType t : kAllTypes) {
      const QuantKernels& k = *kt.quant(t);
      for (int64_t n : row_lengths(t)) {
        const int64_t nb = n / k.block;
        const auto row = random_row(t, n, rng);
        const int64_t x_stride = n + 3;  // rows of x apart by more than n
        const auto x = normal_vector(static_cast<size_t>(kDotTokens * x_stride), rng);
        std::vector<BlockQ8A> xq;
        if (k.dot_q8) {
          xq.resize(static_cast<size_t>(kDotTokens) * (nb * k.block / kQK));
          for (int t2 = 0; t2 < kDotTokens; ++t2)
            kt.quantize_activations(x.data() + t2 * x_stride, xq.data() + t2 * (n / kQK), n / kQK);
        }
        for (int nt = 1; nt <= kDotTokens; ++nt) {
          INFO(cpu_isa_name(isa) << " " << type_name(t) << " n=" << n << " nt=" << nt);
          std::vector<float> out(static_cast<size_t>(nt) * 2, -1.f);
          k.dot_tokens(row.data(), x.data(), x_stride, nt, nb, out.data(), 2);
          for (int t2 = 0; t2 < nt; ++t2) {
            const float one = k.dot(row.data(), x.data() + t2 * x_stride, nb);
            CHECK(std::memcmp(&out[t2 * 2], &one, sizeof(float)) == 0);
            CHECK(out[t2 * 2 + 1] == -1.f);  // out_stride respected
          }
          if (!k.dot_q8) continue;
          k.dot_q8_tokens(row.data(), xq.data(), n / kQK, nt, nb, out.data(), 2);
          for (int t2 = 0; t2 < nt; ++t2) {
            const float one = k.dot_q8(row.data(), xq.data() + t2 * (n / kQK), nb);
            CHECK(std::memcmp(&out[t2 * 2], &one, sizeof(float)) == 0);
          }
        }
      }
    }
  }
}

TEST_CASE("cpu isa: the kernels' aligned buffers start on a cache line whatever their size",
          "[cpu_isa]") {
  // Sizes below and above glibc's mmap threshold (128 KiB), whose chunks are 16-byte aligned.
  for (size_t n : {size_t{1}, size_t{17}, size_t{4096}, size_t{1} << 16, size_t{3} << 20}) {
    AlignedFloats v(n, 1.f);
    CHECK(reinterpret_cast<uintptr_t>(v.data()) % kCacheLine == 0);
    v.resize(n * 2 + 5, 2.f);  // reallocation keeps the alignment and the contents
    CHECK(reinterpret_cast<uintptr_t>(v.data()) % kCacheLine == 0);
    CHECK(v[n - 1] == 1.f);
    CHECK(v.back() == 2.f);
  }
}

TEST_CASE("cpu isa: a token's matmul output is the same bits whatever the batch", "[cpu_isa]") {
  std::mt19937 rng(12);
  // 53 tokens: eight full 6-token groups and one of 5 (AVX2: 26 2-token groups and 1), so a
  // panel's prefetch of the next is spread over many groups and ends mid-group.
  const int max_t = 53;
  for (CpuIsa isa : available_cpu_isas()) {
    const KernelTable& kt = kernels_for(isa);
    for (GgmlType t : kAllTypes) {
      const int64_t block = ggml_type_info(t).block_elems;
      // Dense rows also long (68 vectors and a tail), and row counts around the batched path's
      // 32-row tiles, their 4-row register tiles and the 16- (AVX2: 8-) row blocks its sums are
      // reduced in (37: a tile and 5 rows; 70: two and 6; 45: a tile and 13, 12 of them in
      // register tiles).
      for (const auto& [N, K] :
           block == 1 ? std::vector<std::pair<int, int>>{{21, 77}, {37, 1100}, {70, 40}, {45, 300}}
                      : std::vector<std::pair<int, int>>{{21, 3 * block}}) {
        const Matrix m = random_matrix(t, N, K, rng);
        const auto x = normal_vector(static_cast<size_t>(max_t) * K, rng);
        for (auto act : {cpu::Activations::f32, cpu::Activations::int8}) {
          std::vector<float> alone(static_cast<size_t>(max_t) * N);
          for (int tt = 0; tt < max_t; ++tt)
            kt.matmul_wt(x.data() + static_cast<size_t>(tt) * K, 1, K, m.view, N,
                         alone.data() + static_cast<size_t>(tt) * N, act);
          for (int T : {2, 3, 4, 5, 7, 8, 9, 13, 19, 48, max_t}) {
            INFO(cpu_isa_name(isa) << " " << type_name(t) << " K=" << K << " T=" << T
                                   << (act == cpu::Activations::int8 ? " int8" : " f32"));
            std::vector<float> y(static_cast<size_t>(T) * N);
            kt.matmul_wt(x.data(), T, K, m.view, N, y.data(), act);
            CHECK(std::memcmp(y.data(), alone.data(), y.size() * sizeof(float)) == 0);
          }
        }
      }
    }
  }
}

TEST_CASE(
    "cpu isa: every variant's matmul, load_row, rms_norm, dot, axpy and f16 KV kernels match "
    "the scalar variant's",
    "[cpu_isa]") {
  const KernelTable& ref = kernels_for(CpuIsa::scalar);
  std::mt19937 rng(7);
  const int N = 13;  // one 8-row tile of the batched path plus 5; three 4-row groups plus 1
  for (CpuIsa isa : simd_variants()) {
    const KernelTable& simd = kernels_for(isa);
    for (GgmlType t : kAllTypes) {
      const int64_t block = ggml_type_info(t).block_elems;
      // K not a multiple of 8 or 16 for the dense types; 3 or 5 blocks for the block types.
      const std::vector<int> ks =
          block == 1 ? std::vector<int>{37, 77}
                     : std::vector<int>{static_cast<int>(3 * block), static_cast<int>(5 * block)};
      for (int K : ks) {
        const Matrix m = random_matrix(t, N, K, rng);
        for (int r = 0; r < N; r += 6) {
          INFO(cpu_isa_name(isa) << " load_row " << type_name(t) << " K=" << K << " row " << r);
          std::vector<float> got(K), want(K);
          simd.load_row(m.view, r, K, got.data());
          ref.load_row(m.view, r, K, want.data());
          CHECK(std::memcmp(got.data(), want.data(), K * sizeof(float)) == 0);
        }
        for (int T : {1, 2, 3, 9}) {  // GEMV; the 2-token pairs, with an odd one left; > 8 tile
          for (auto act : {cpu::Activations::f32, cpu::Activations::int8}) {
            if (act == cpu::Activations::int8 && block == 1) continue;  // dense: always f32
            INFO(cpu_isa_name(isa) << " matmul_wt " << type_name(t) << " K=" << K << " T=" << T
                                   << (act == cpu::Activations::int8 ? " int8" : " f32"));
            const auto x = normal_vector(static_cast<size_t>(T) * K, rng);
            std::vector<float> y(static_cast<size_t>(T) * N), y_ref(y.size());
            simd.matmul_wt(x.data(), T, K, m.view, N, y.data(), act);
            ref.matmul_wt(x.data(), T, K, m.view, N, y_ref.data(), act);
            for (int tt = 0; tt < T; ++tt) {
              std::vector<float> xs(x.begin() + static_cast<size_t>(tt) * K,
                                    x.begin() + static_cast<size_t>(tt + 1) * K);
              if (act == cpu::Activations::int8) {  // the magnitude of what the kernel sums
                std::vector<BlockQ8A> xq(K / kQK);
                ref.quantize_activations(xs.data(), xq.data(), K / kQK);
                xs = activations_seen(xq);
              }
              for (int n = 0; n < N; ++n) {
                const size_t i = static_cast<size_t>(tt) * N + n;
                const double mag = magnitude(m.w.data() + static_cast<size_t>(n) * K, xs.data(), K);
                CHECK(std::fabs(y[i] - y_ref[i]) <= 3e-5 * mag);
              }
            }
          }
        }
      }
    }

    for (int n : {1, 7, 8, 15, 16, 17, 37, 64, 67}) {
      INFO(cpu_isa_name(isa) << " dot/axpy n=" << n);
      const auto a = normal_vector(n, rng), b = normal_vector(n, rng);
      CHECK(std::fabs(simd.dot(a.data(), b.data(), n) - ref.dot(a.data(), b.data(), n)) <=
            3e-5 * magnitude(a.data(), b.data(), n));
      auto y = normal_vector(n, rng);
      auto y_ref = y;
      simd.axpy(0.37f, a.data(), y.data(), n);
      ref.axpy(0.37f, a.data(), y_ref.data(), n);
      // One rounding each way (FMA or multiply-then-add): within 2 ulp of the larger term.
      for (int i = 0; i < n; ++i)
        CHECK(std::fabs(y[i] - y_ref[i]) <=
              2.4e-7 * (std::fabs(y_ref[i]) + std::fabs(0.37f * a[i])));
    }

    // The f16 KV cache's kernels: the same halves (F16C rounds to nearest even, as the scalar
    // f32_to_f16 does), and sums within the dot/axpy bounds above.
    for (int n : {1, 7, 8, 15, 16, 17, 37, 64, 67}) {
      INFO(cpu_isa_name(isa) << " store_f16/dot_f16/axpy_f16 n=" << n);
      const auto a = normal_vector(n, rng), q = normal_vector(n, rng);
      std::vector<uint16_t> h(n), h_ref(n);
      simd.store_f16(a.data(), h.data(), n);
      ref.store_f16(a.data(), h_ref.data(), n);
      CHECK(h == h_ref);
      std::vector<float> ah(n);
      for (int i = 0; i < n; ++i) ah[i] = f16_to_f32(h[i]);
      CHECK(std::fabs(simd.dot_f16(q.data(), h.data(), n) - ref.dot_f16(q.data(), h.data(), n)) <=
            3e-5 * magnitude(q.data(), ah.data(), n));
      auto y = normal_vector(n, rng);
      auto y_ref = y;
      simd.axpy_f16(0.37f, h.data(), y.data(), n);
      ref.axpy_f16(0.37f, h.data(), y_ref.data(), n);
      for (int i = 0; i < n; ++i)
        CHECK(std::fabs(y[i] - y_ref[i]) <=
              2.4e-7 * (std::fabs(y_ref[i]) + std::fabs(0.37f * ah[i])));
    }

    for (GgmlType t : {GgmlType::F32, GgmlType::F16}) {
      INFO(cpu_isa_name(isa) << " rms_norm " << type_name(t));
      const int T = 3, H = 37;
      const Matrix weight = random_matrix(t, 1, H, rng);
      const auto x = normal_vector(static_cast<size_t>(T) * H, rng);
      std::vector<float> out(x.size()), out_ref(x.size());
      simd.rms_norm(x.data(), T, H, weight.view, 1e-5f, out.data());
      ref.rms_norm(x.data(), T, H, weight.view, 1e-5f, out_ref.data());
      // The sum of squares is in double; what differs is at most a rounding of the products.
      for (size_t i = 0; i < out.size(); ++i)
        CHECK(std::fabs(out[i] - out_ref[i]) <= 1e-6 * std::fabs(out_ref[i]));
    }
  }
}

// A layer's q/k/v (and gate/up) go through matmul_wt_multi as one job; each output must be what
// matmul_wt gives it alone, whatever the mix of types (Q4_K_M files mix q4_K, q6_K and others).
TEST_CASE("cpu isa: matmul_wt_multi gives each matrix matmul_wt's bits", "[cpu_isa]") {
  std::mt19937 rng(14);
  const int K = 256;
  const std::vector<std::vector<GgmlType>> groups = {
      {GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0},
      {GgmlType::Q4_1, GgmlType::Q4_1},
      {GgmlType::Q5_0, GgmlType::F16, GgmlType::Q4_0}};  // a dense one: a job per matrix
  const int Ns[] = {19, 7, 33};
  for (CpuIsa isa : available_cpu_isas()) {
    const KernelTable& kt = kernels_for(isa);
    for (const auto& types : groups) {
      std::vector<Matrix> mats;
      for (size_t i = 0; i < types.size(); ++i)
        mats.push_back(random_matrix(types[i], Ns[i], K, rng));
      for (int T : {1, 6}) {
        const auto x = normal_vector(static_cast<size_t>(T) * K, rng);
        for (auto act : {cpu::Activations::f32, cpu::Activations::int8}) {
          std::vector<std::vector<float>> got(types.size()), want(types.size());
          std::vector<cpu::MatmulOut> outs;
          for (size_t i = 0; i < types.size(); ++i) {
            got[i].assign(static_cast<size_t>(T) * Ns[i], -1.f);
            want[i].assign(got[i].size(), -2.f);
            outs.push_back({&mats[i].view, Ns[i], got[i].data()});
            kt.matmul_wt(x.data(), T, K, mats[i].view, Ns[i], want[i].data(), act);
          }
          kt.matmul_wt_multi(x.data(), T, K, outs, act);
          for (size_t i = 0; i < types.size(); ++i) {
            INFO(cpu_isa_name(isa)
                 << " " << type_name(types[i]) << " in a group of " << types.size() << " T=" << T
                 << (act == cpu::Activations::int8 ? " int8" : " f32"));
            CHECK(std::memcmp(got[i].data(), want[i].data(), got[i].size() * sizeof(float)) == 0);
          }
        }
      }
    }
  }
}

// Attention calls the *_rows kernels once per KV block; each row must get exactly what a call of
// the one-row kernel gives it, or attention would differ from the reference it was checked with.
TEST_CASE("cpu isa: the attention row kernels equal one call per row, bit for bit", "[cpu_isa]") {
  std::mt19937 rng(13);
  for (CpuIsa isa : available_cpu_isas()) {
    const KernelTable& kt = kernels_for(isa);
    // Widths around the kernels' spans: 4 vectors (64 floats on AVX-512, 32 on AVX2), fewer
    // whole vectors (32, 48), a span and more (88: 64 + 16 + 8), tails (8, 37).
    for (int n : {8, 32, 37, 48, 64, 88, 128}) {
      for (int rows : {1, 5, 16}) {
        INFO(cpu_isa_name(isa) << " n=" << n << " rows=" << rows);
        const auto q = normal_vector(n, rng), a = normal_vector(rows, rng);
        const auto k = normal_vector(static_cast<size_t>(rows) * n, rng);
        std::vector<uint16_t> kh(k.size());
        kt.store_f16(k.data(), kh.data(), static_cast<int>(k.size()));
        std::vector<float> got(rows), got_h(rows);
        kt.dot_rows(q.data(), k.data(), rows, n, got.data());
        kt.dot_f16_rows(q.data(), kh.data(), rows, n, got_h.data());
        auto y = normal_vector(n, rng);
        auto y_h = y, y_one = y, y_h_one = y;
        kt.axpy_rows(a.data(), k.data(), rows, n, y.data());
        kt.axpy_f16_rows(a.data(), kh.data(), rows, n, y_h.data());
        for (int r = 0; r < rows; ++r) {
          const float one = kt.dot(q.data(), k.data() + r * n, n);
          const float one_h = kt.dot_f16(q.data(), kh.data() + r * n, n);
          CHECK(std::memcmp(&got[r], &one, sizeof(float)) == 0);
          CHECK(std::memcmp(&got_h[r], &one_h, sizeof(float)) == 0);
          kt.axpy(a[r], k.data() + r * n, y_one.data(), n);
          kt.axpy_f16(a[r], kh.data() + r * n, y_h_one.data(), n);
        }
        CHECK(std::memcmp(y.data(), y_one.data(), n * sizeof(float)) == 0);
        CHECK(std::memcmp(y_h.data(), y_h_one.data(), n * sizeof(float)) == 0);
      }
    }
  }
}

// The tiled attention weighs the values for all the query heads of a KV head at once; each head's
// output must be the bits axpy_rows (and so axpy_f16_rows, per block) gives it alone.
TEST_CASE("cpu isa: axpy_rows_queries gives each query axpy_rows's bits", "[cpu_isa]") {
  std::mt19937 rng(19);
  for (CpuIsa isa : available_cpu_isas()) {
    const KernelTable& kt = kernels_for(isa);
    for (int n : {37, 64, 128}) {
      for (int queries : {1, 2, 3, 5, 6, 7, 8, 13}) {
        for (int rows : {1, 17, 300}) {
          INFO(cpu_isa_name(isa) << " n=" << n << " queries=" << queries << " rows=" << rows);
          const int lda = rows + 3, ldy = n + 5;  // strides wider than the rows, as in the backend
          const auto a = normal_vector(static_cast<size_t>(queries) * lda, rng);
          const auto v = normal_vector(static_cast<size_t>(rows) * n, rng);
          auto y = normal_vector(static_cast<size_t>(queries) * ldy, rng);
          auto want = y;
          kt.axpy_rows_queries(a.data(), lda, queries, v.data(), rows, n, y.data(), ldy);
          for (int q = 0; q < queries; ++q)
            kt.axpy_rows(a.data() + q * lda, v.data(), rows, n, want.data() + q * ldy);
          // Bit for bit, the padding between outputs untouched included.
          CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
        }
      }
    }
  }
}

// Prefill attention scores a tile of queries against a block of keys transposed once
// (dot_f16_transposed) and weighs f32 copies of the values (load_f16 + axpy_rows); both must give
// each query exactly what dot_f16_rows / axpy_f16_rows give it, or a prompt's scores would depend
// on how its rows were chunked. The head sizes the attention uses them for: multiples of 16 (keys)
// and 64 (values).
TEST_CASE("cpu isa: the tiled attention kernels equal the row kernels, bit for bit", "[cpu_isa]") {
  std::mt19937 rng(17);
  for (CpuIsa isa : available_cpu_isas()) {
    const KernelTable& kt = kernels_for(isa);
    for (int n : {16, 64, 80, 128, 256}) {
      for (int rows : {1, 5, 16}) {
        for (int M : {1, 3, 7}) {
          INFO(cpu_isa_name(isa) << " n=" << n << " rows=" << rows << " M=" << M);
          const int ldq = n + 3, ldo = 16 + 5;
          const auto q = normal_vector(static_cast<size_t>(M) * ldq, rng);
          const auto k = normal_vector(static_cast<size_t>(rows) * n, rng);
          std::vector<uint16_t> kh(k.size());
          kt.store_f16(k.data(), kh.data(), static_cast<int>(k.size()));
          std::vector<float> trans(static_cast<size_t>(n) * precis::engine::cpu::kKeyTile, -7.f);
          kt.transpose_f16_keys(kh.data(), rows, n, trans.data());
          std::vector<float> got(static_cast<size_t>(M) * ldo, -9.f);
          kt.dot_f16_transposed(q.data(), ldq, M, trans.data(), n, got.data(), ldo);
          for (int m = 0; m < M; ++m) {
            std::vector<float> want(rows);
            kt.dot_f16_rows(q.data() + static_cast<size_t>(m) * ldq, kh.data(), rows, n,
                            want.data());
            CHECK(std::memcmp(got.data() + static_cast<size_t>(m) * ldo, want.data(),
                              rows * sizeof(float)) == 0);
            for (int r = rows; r < precis::engine::cpu::kKeyTile; ++r)
              CHECK(got[static_cast<size_t>(m) * ldo + r] == 0.f);  // padding keys are zero
            CHECK(got[static_cast<size_t>(m) * ldo + 16] == -9.f);  // nothing past the tile
          }
          std::vector<float> vf(k.size());
          kt.load_f16(kh.data(), vf.data(), static_cast<int>(kh.size()));
          for (size_t i = 0; i < k.size(); ++i) CHECK(vf[i] == precis::engine::f16_to_f32(kh[i]));
          if (n % 64 == 0) {
            const auto a = normal_vector(rows, rng);
            auto y = normal_vector(n, rng);
            auto y_h = y;
            kt.axpy_rows(a.data(), vf.data(), rows, n, y.data());
            kt.axpy_f16_rows(a.data(), kh.data(), rows, n, y_h.data());
            CHECK(std::memcmp(y.data(), y_h.data(), n * sizeof(float)) == 0);
          }
        }
      }
    }
  }
}

TEST_CASE(
    "cpu isa: precis --version names the active variant; PRECIS_CPU_ISA forces one or is "
    "refused",
    "[cpu_isa]") {
  const std::string precis = PRECIS_BINARY;
  for (CpuIsa isa : available_cpu_isas()) {
    std::string out;
    REQUIRE(precis::test::run_command(
                std::string("PRECIS_CPU_ISA=") + cpu_isa_name(isa) + " " + precis + " --version",
                &out) == 0);
    CHECK_THAT(out, Catch::Contains(std::string("cpu kernels: ") + cpu_isa_name(isa) + " "));
  }
  std::string out;
  CHECK(precis::test::run_command("PRECIS_CPU_ISA=avx9 " + precis + " --version 2>&1", &out) != 0);
  CHECK_THAT(out, Catch::Contains("PRECIS_CPU_ISA=avx9") &&
                      Catch::Contains("valid values: scalar, avx2, avx512"));
  for (CpuIsa isa : kAllIsas) {
    if (cpu_isa_available(isa)) continue;
    CHECK(precis::test::run_command(
              std::string("PRECIS_CPU_ISA=") + cpu_isa_name(isa) + " " + precis + " --version 2>&1",
              &out) != 0);
    CHECK_THAT(out, Catch::Contains("cannot run it"));
  }
}

TEST_CASE("cpu isa: a model scores the same under every forced variant", "[cpu_isa]") {
  // End to end through the public entry points: the engine under PRECIS_CPU_ISA=each variant.
  const std::string model = precis::test::cached_model("tiny", 2, DType::F16);
  const auto score = [&](CpuIsa isa) {
    std::string out;
    REQUIRE(precis::test::run_command(std::string("PRECIS_CPU_ISA=") + cpu_isa_name(isa) + " " +
                                          PRECIS_BINARY + " score --json --model " + model +
                                          " --prompt 'In the beginning was the word'",
                                      &out) == 0);
    return nlohmann::json::parse(out)["logprobs"];
  };
  const auto want = score(CpuIsa::scalar);
  REQUIRE(want.size() > 3);
  for (CpuIsa isa : simd_variants()) {
    INFO(cpu_isa_name(isa));
    const auto got = score(isa);
    REQUIRE(got.size() == want.size());
    for (size_t i = 1; i < want.size(); ++i)
      CHECK(got[i].get<double>() == Approx(want[i].get<double>()).margin(1e-4));
  }
}

TEST_CASE("cpu isa: exp_sum's terms are within 2 ulp of exp, NaN and underflow count 0",
          "[cpu_isa]") {
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> uniform(-90.f, 0.f);
  for (CpuIsa isa : available_cpu_isas()) {
    const KernelTable& kt = kernels_for(isa);
    INFO(cpu_isa_name(isa));
    for (int n : {1, 7, 16, 37, 1000, 256000}) {  // the last: a large vocabulary
      std::vector<float> x(n);
      for (float& v : x) v = uniform(rng) + 3.f;  // shifted by 3 below: x - shift in [-90, 0]
      x[0] = 3.f;                                 // the max term, e^0 = 1
      if (n > 5) x[3] = NAN, x[4] = -INFINITY, x[5] = -86.f;  // 0, 0, e^-89 below f32's normals
      std::vector<float> out(n, -1.f);
      const double sum = kt.exp_sum(x.data(), n, 3.f, out.data());
      double ref_sum = 0;
      int close = 0;
      for (int i = 0; i < n; ++i) {
        const double d = static_cast<double>(x[i]) - 3.0;
        const double ref = std::isnan(d) || d < -87.33654 ? 0.0 : std::exp(d);
        ref_sum += ref;
        close += std::fabs(out[i] - ref) <= 2.5e-7 * ref;  // 2 ulp of a float
      }
      CHECK(close == n);
      CHECK(std::fabs(sum - ref_sum) <= 2e-7 * ref_sum);
      CHECK(kt.exp_sum(x.data(), n, 3.f, nullptr) == sum);  // the same sum without storing terms
    }
  }
}

TEST_CASE("cpu isa: argmax is the scalar loop's first largest element, NaN skipped", "[cpu_isa]") {
  // The reference: a strict-greater scan, NaN never greater, so ties keep the lowest index.
  auto reference = [](const std::vector<float>& x, float* m) {
    int best = -1;
    for (int i = 0; i < static_cast<int>(x.size()); ++i)
      if (!std::isnan(x[i]) && (best < 0 || x[i] > x[best])) best = i;
    *m = best < 0 ? -INFINITY : x[best];
    return best < 0 || x[best] == -INFINITY ? 0 : best;
  };
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> small(-3, 3);  // many ties
  for (CpuIsa isa : available_cpu_isas()) {
    const KernelTable& kt = kernels_for(isa);
    INFO(cpu_isa_name(isa));
    for (int n : {1, 7, 8, 15, 16, 17, 33, 49152}) {
      for (int pattern = 0; pattern < 6; ++pattern) {
        std::vector<float> x(n);
        for (float& v : x) v = static_cast<float>(small(rng));
        if (pattern == 1) x[n - 1] = 100.f;  // the max in the scalar tail
        if (pattern == 2) x[0] = NAN, x[n / 2] = NAN;
        if (pattern == 3) std::fill(x.begin(), x.end(), -INFINITY);
        if (pattern == 4) std::fill(x.begin(), x.end(), NAN);
        if (pattern == 5) {  // -0 before +0 at the top: they tie, the first wins
          std::fill(x.begin(), x.end(), -1.f);
          x[n - 1] = 0.f, x[(n - 1) / 2] = -0.f;
        }
        INFO("n " << n << " pattern " << pattern);
        float want_max, got_max = 1.f;
        const int want = reference(x, &want_max);
        CHECK(kt.argmax(x.data(), n, &got_max) == want);
        CHECK(got_max == want_max);
        CHECK(kt.argmax(x.data(), n, nullptr) == want);
      }
    }
  }
}

TEST_CASE("cpu isa: silu_mul is g / (1 + e^-g) * up within a few ulp, at any length and range",
          "[cpu_isa]") {
  std::mt19937 rng(22);
  std::uniform_real_distribution<float> uniform(-100.f, 100.f);
  for (CpuIsa isa : available_cpu_isas()) {
    const KernelTable& kt = kernels_for(isa);
    INFO(cpu_isa_name(isa));
    for (int n : {1, 7, 16, 37, 1000}) {
      std::vector<float> gate(n), up(n);
      for (int i = 0; i < n; ++i)
        gate[i] = uniform(rng) / (i % 3 ? 20.f : 1.f), up[i] = uniform(rng);
      if (n > 6) gate[1] = 0.f, gate[2] = 88.5f, gate[3] = -88.5f, gate[4] = -200.f, gate[5] = NAN;
      std::vector<float> got = gate;
      kt.silu_mul(got.data(), up.data(), n);
      int close = 0;
      for (int i = 0; i < n; ++i) {
        // In f64: the reference is exact to f32's precision.
        const double g = gate[i];
        const double ref = g / (1.0 + std::exp(-g)) * up[i];
        if (std::isnan(g)) {
          close += std::isnan(got[i]);
          continue;
        }
        // Two roundings (the division, the product) on a 2-ulp exponential; results below
        // f32's normals (g under -88) only need to be as small as the reference.
        close += std::fabs(got[i] - ref) <= 6e-7 * std::fabs(ref) + 1e-30;
      }
      CHECK(close == n);
    }
  }
}

TEST_CASE("the K types' software prefetch is off on Zen 3/4 only, unless forced", "[cpu_isa]") {
  using precis::engine::k_unit_prefetch_wanted;
  CHECK_FALSE(k_unit_prefetch_wanted(true, nullptr));  // Zen 3 / Zen 4
  CHECK(k_unit_prefetch_wanted(false, nullptr));       // Zen 5, Zen 1/2, Intel, ...
  CHECK(k_unit_prefetch_wanted(false, ""));            // empty means unset
  CHECK(k_unit_prefetch_wanted(true, "1"));
  CHECK_FALSE(k_unit_prefetch_wanted(false, "0"));
  CHECK_THROWS_WITH(k_unit_prefetch_wanted(false, "yes"), Catch::Contains("PRECIS_K_PREFETCH=yes"));
  // Whatever this machine decides, it decides once.
  CHECK(precis::engine::k_unit_prefetch() == precis::engine::k_unit_prefetch());
}
