// The quantized-weight kernels (cuda/kernels/quant.cu) against the CPU engine's reference
// dequantization (engine::dequantize_row, itself bit-exact with ggml and the gguf package), on
// random blocks of all eight block types: dequantization to f16, the decode GEMV for 1 to 8
// rows (row lengths with and without a partial 256-element warp stride), the embedding lookup,
// and the launchers' argument checks.
#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/device_weights.hpp"
#include "cuda/kernels/quant_kernels.hpp"
#include "engine/dtype.hpp"
#include "engine/ggml_type.hpp"
#include "engine/quant.hpp"

namespace {

using precis::cuda::DeviceBuffer;
using precis::cuda::QuantType;
using precis::engine::GgmlType;

struct TypeCase {
  GgmlType ggml;
  std::vector<int> f16_fields;  // byte offsets of the block's f16 scale/min fields
};

const TypeCase kTypes[] = {
    {GgmlType::Q8_0, {0}},    {GgmlType::Q4_0, {0}},    {GgmlType::Q4_1, {0, 2}},
    {GgmlType::Q5_0, {0}},    {GgmlType::Q5_1, {0, 2}}, {GgmlType::Q4_K, {0, 2}},
    {GgmlType::Q5_K, {0, 2}}, {GgmlType::Q6_K, {208}},
};

// N rows of K elements as random blocks: random quant bits, scales in a realistic range (a
// random f16 bit pattern would be Inf or NaN now and then).
std::vector<uint8_t> random_rows(const TypeCase& tc, int N, int K, std::mt19937& rng) {
  const QuantType q = *precis::cuda::cuda_quant_type(tc.ggml);
  const int bb = precis::cuda::quant_block_bytes(q), be = precis::cuda::quant_block_elems(q);
  const size_t blocks = static_cast<size_t>(N) * (K / be);
  std::vector<uint8_t> bytes(blocks * bb);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (auto& b : bytes) b = static_cast<uint8_t>(byte(rng));
  for (size_t i = 0; i < blocks; ++i)
    for (int off : tc.f16_fields) {
      const uint16_t h = precis::engine::f32_to_f16(scale(rng));
      std::memcpy(bytes.data() + i * bb + off, &h, 2);
    }
  return bytes;
}

std::vector<float> reference_rows(GgmlType t, const std::vector<uint8_t>& bytes, int N, int K) {
  std::vector<float> out(static_cast<size_t>(N) * K);
  const uint64_t row_bytes = precis::engine::quant_row_bytes(t, K);
  for (int n = 0; n < N; ++n)
    precis::engine::dequantize_row(t, bytes.data() + n * row_bytes, out.data() + n * K, K);
  return out;
}

}  // namespace

TEST_CASE("quantized blocks dequantize on the device as the CPU reference does", "[gpu]") {
  std::mt19937 rng(7);
  const int N = 37, K = 512;
  for (const TypeCase& tc : kTypes) {
    const QuantType q = *precis::cuda::cuda_quant_type(tc.ggml);
    INFO("type " << precis::engine::ggml_type_info(tc.ggml).name);
    const auto bytes = random_rows(tc, N, K, rng);
    const auto ref = reference_rows(tc.ggml, bytes, N, K);
    DeviceBuffer<uint8_t> w(bytes);
    DeviceBuffer<__half> out(static_cast<size_t>(N) * K);
    precis::cuda::quant_dequantize(w.get(), q, N, K, out.get(), nullptr);
    const auto got = out.download();
    size_t bad = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      // The kernel writes f16: the reference rounded the same way, give or take one f16 step
      // where nvcc fused d * q - m into one rounding.
      const float want = precis::engine::f16_to_f32(precis::engine::f32_to_f16(ref[i]));
      const float have = __half2float(got[i]);
      if (std::fabs(have - want) > 1e-3f * std::fabs(want) + 1e-7f) ++bad;
    }
    CHECK(bad == 0);

    // The embedding lookup: f32 rows, the reference's values up to a fused multiply-add.
    std::vector<int> ids = {3, 0, 36, 3, 17};
    DeviceBuffer<int> d_ids(ids);
    DeviceBuffer<float> rows(ids.size() * K);
    precis::cuda::quant_embedding_gather(w.get(), q, d_ids.get(), static_cast<int>(ids.size()), K,
                                         rows.get(), nullptr);
    const auto emb = rows.download();
    float worst = 0;
    for (size_t t = 0; t < ids.size(); ++t)
      for (int k = 0; k < K; ++k) {
        const float want = ref[static_cast<size_t>(ids[t]) * K + k];
        worst = std::max(worst, std::fabs(emb[t * K + k] - want) / (std::fabs(want) + 1e-6f));
      }
    CHECK(worst < 1e-5f);
  }
}

TEST_CASE("the quantized GEMV matches dequantize-then-dot for 1 to 8 rows", "[gpu]") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  const int N = 45;
  for (const TypeCase& tc : kTypes) {
    const QuantType q = *precis::cuda::cuda_quant_type(tc.ggml);
    // A warp strides 256 elements: 800 (32-element blocks only) leaves a partial stride.
    for (int K : {768, 800}) {
      if (K % precis::cuda::quant_block_elems(q) != 0) continue;
      const auto bytes = random_rows(tc, N, K, rng);
      const auto ref = reference_rows(tc.ggml, bytes, N, K);
      DeviceBuffer<uint8_t> w(bytes);
      for (int T : {1, 2, 3, 5, 8}) {
        INFO("type " << precis::engine::ggml_type_info(tc.ggml).name << ", K " << K << ", T " << T);
        std::vector<__half> x(static_cast<size_t>(T) * K);
        std::vector<float> xf(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
          const uint16_t h = precis::engine::f32_to_f16(uni(rng));
          x[i] = __ushort_as_half(h);
          xf[i] = precis::engine::f16_to_f32(h);
        }
        // y's rows are wider than N (ldy): the columns past N must stay as they were.
        const int ldy = N + 3;
        std::vector<float> sentinel(static_cast<size_t>(T) * ldy, -12345.f);
        DeviceBuffer<__half> dx(x);
        DeviceBuffer<float> y(sentinel);
        precis::cuda::quant_gemv(w.get(), q, N, K, dx.get(), T, y.get(), ldy, nullptr);
        const auto got = y.download();
        for (int t = 0; t < T; ++t) {
          for (int n = 0; n < N; ++n) {
            double dot = 0, mag = 0;
            for (int k = 0; k < K; ++k) {
              const double p =
                  static_cast<double>(ref[static_cast<size_t>(n) * K + k]) * xf[t * K + k];
              dot += p;
              mag += std::fabs(p);
            }
            // f32 sums in another order: within a few ulps of the sum of |terms|.
            CHECK(std::fabs(got[t * ldy + n] - dot) <= 1e-5 * mag + 1e-6);
          }
          for (int n = N; n < ldy; ++n) CHECK(got[t * ldy + n] == -12345.f);
        }
      }
    }
  }
}

TEST_CASE("quantized kernel launchers reject bad arguments", "[gpu]") {
  DeviceBuffer<uint8_t> w(4096);
  DeviceBuffer<__half> x(1024);
  DeviceBuffer<float> y(1024);
  using precis::cuda::quant_dequantize;
  using precis::cuda::quant_gemv;
  // q4_K rows are whole 256-element super-blocks.
  CHECK_THROWS_AS(quant_gemv(w.get(), QuantType::q4_k, 2, 96, x.get(), 1, y.get(), 2, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(quant_gemv(w.get(), QuantType::q8_0, 2, 64, x.get(), 0, y.get(), 2, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(quant_gemv(w.get(), QuantType::q8_0, 2, 64, x.get(), 9, y.get(), 2, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(quant_gemv(w.get(), QuantType::q8_0, 4, 64, x.get(), 1, y.get(), 3, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(quant_dequantize(w.get(), QuantType::q6_k, 1, 100, nullptr, nullptr),
                  std::invalid_argument);
  // The GEMV reads x 16 bytes at a time.
  CHECK_THROWS_AS(quant_gemv(w.get(), QuantType::q8_0, 2, 64, x.get() + 1, 1, y.get(), 2, nullptr),
                  std::invalid_argument);
  CHECK(precis::cuda::quant_block_bytes(QuantType::q6_k) == 210);
  CHECK(precis::cuda::quant_block_elems(QuantType::q5_k) == 256);
}
