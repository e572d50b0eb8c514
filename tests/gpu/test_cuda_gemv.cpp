// The dense decode GEMV (cuda/kernels/dense_gemv.cu) over f16 and bf16 weights against a double
// dot product of the same rounded values, for 1 to 8 rows, row lengths that are and are not a
// multiple of a warp's 256-element stride (and long enough for full batches of eight loads), a y
// wider than N, and every DenseGemvConfig; and its argument checks. Then dense_gemv_silu, the
// gate/up GEMV with the SiLU gate fused, against that GEMV followed by silu_mul.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "cuda/device_buffer.hpp"
#include "cuda/kernels/kernels.hpp"
#include "engine/dtype.hpp"

namespace {

using precis::cuda::DeviceBuffer;
using precis::cuda::DType;

// `n` random values in [-1, 1) as 16-bit patterns of `dtype`, and the values they hold.
void random_values(DType dtype, size_t n, std::mt19937& rng, std::vector<uint16_t>& bits,
                   std::vector<float>& values) {
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  bits.resize(n);
  values.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const float v = uni(rng);
    if (dtype == DType::f16) {
      bits[i] = precis::engine::f32_to_f16(v);
      values[i] = precis::engine::f16_to_f32(bits[i]);
    } else {
      bits[i] = precis::engine::f32_to_bf16(v);
      values[i] = precis::engine::bf16_to_f32(bits[i]);
    }
  }
}

}  // namespace

TEST_CASE("the dense GEMV matches a double dot product for 1 to 8 rows", "[gpu]") {
  std::mt19937 rng(5);
  const int N = 45;
  // Every config the launcher takes; {0, 0} stands for the default (no config argument).
  std::vector<precis::cuda::DenseGemvConfig> configs = {{0, 0}};
  for (int u : {1, 2, 4, 8})
    for (int w : {1, 2, 4}) configs.push_back({u, w});
  for (DType dtype : {DType::f16, DType::bf16}) {
    for (int K : {776, 1024, 2312}) {
      std::vector<uint16_t> wbits;
      std::vector<float> wv;
      random_values(dtype, static_cast<size_t>(N) * K, rng, wbits, wv);
      DeviceBuffer<uint16_t> w(wbits);
      for (int T : {1, 2, 3, 5, 8}) {
        for (const auto& config : configs) {
          INFO((dtype == DType::f16 ? "f16" : "bf16")
               << ", K " << K << ", T " << T << ", loads in flight " << config.loads_in_flight
               << ", warps per row " << config.warps_per_row);
          std::vector<uint16_t> xbits;
          std::vector<float> xv;
          random_values(dtype, static_cast<size_t>(T) * K, rng, xbits, xv);
          DeviceBuffer<uint16_t> x(xbits);
          // y's rows are wider than N (ldy): the columns past N must stay as they were.
          const int ldy = N + 3;
          DeviceBuffer<float> y(std::vector<float>(static_cast<size_t>(T) * ldy, -12345.f));
          REQUIRE(precis::cuda::dense_gemv_supported(dtype, K, w.get(), x.get()));
          if (config.loads_in_flight == 0)
            precis::cuda::dense_gemv(w.get(), dtype, N, K, x.get(), T, y.get(), ldy, nullptr);
          else
            precis::cuda::dense_gemv(w.get(), dtype, N, K, x.get(), T, y.get(), ldy, nullptr,
                                     config);
          const auto got = y.download();
          for (int t = 0; t < T; ++t) {
            for (int n = 0; n < N; ++n) {
              double dot = 0, mag = 0;
              for (int k = 0; k < K; ++k) {
                const double p = static_cast<double>(wv[static_cast<size_t>(n) * K + k]) *
                                 xv[static_cast<size_t>(t) * K + k];
                dot += p;
                mag += std::fabs(p);
              }
              // f32 sums in another order: within a few ulps of the sum of |terms|.
              CHECK(std::fabs(got[static_cast<size_t>(t) * ldy + n] - dot) <= 1e-5 * mag + 1e-6);
            }
            for (int n = N; n < ldy; ++n) CHECK(got[static_cast<size_t>(t) * ldy + n] == -12345.f);
          }
        }
      }
    }
  }
}

TEST_CASE("the dense GEMV says what it cannot take and rejects bad arguments", "[gpu]") {
  DeviceBuffer<uint16_t> w(4096), x(1024);
  DeviceBuffer<float> y(1024);
  using precis::cuda::dense_gemv;
  using precis::cuda::dense_gemv_supported;
  CHECK(dense_gemv_supported(DType::f16, 64, w.get(), x.get()));
  CHECK_FALSE(dense_gemv_supported(DType::f32, 64, w.get(), x.get()));  // cuBLAS's job
  CHECK_FALSE(dense_gemv_supported(DType::f16, 60, w.get(), x.get()));  // K not a multiple of 8
  CHECK_FALSE(dense_gemv_supported(DType::bf16, 64, w.get(), x.get() + 1));  // misaligned x
  CHECK_THROWS_AS(dense_gemv(w.get(), DType::f16, 2, 64, x.get(), 0, y.get(), 2, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(dense_gemv(w.get(), DType::f16, 2, 64, x.get(), 9, y.get(), 2, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(dense_gemv(w.get(), DType::f16, 4, 64, x.get(), 1, y.get(), 3, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(dense_gemv(w.get(), DType::f16, 2, 64, x.get(), 1, y.get(), 2, nullptr, {3, 1}),
                  std::invalid_argument);  // loads in flight not 1, 2, 4 or 8
  CHECK_THROWS_AS(dense_gemv(w.get(), DType::f16, 2, 64, x.get(), 1, y.get(), 2, nullptr, {8, 8}),
                  std::invalid_argument);  // warps per row not 1, 2 or 4
  CHECK_THROWS_AS(dense_gemv(w.get(), DType::f16, 2, 60, x.get(), 1, y.get(), 2, nullptr),
                  std::invalid_argument);
}

TEST_CASE("dense_gemv_silu equals the two-warp GEMV followed by silu_mul, bit for bit", "[gpu]") {
  std::mt19937 rng(11);
  const int I = 45;
  for (DType dtype : {DType::f16, DType::bf16}) {
    for (int K : {776, 2312}) {
      std::vector<uint16_t> wbits, xbits;
      std::vector<float> wv, xv;
      random_values(dtype, static_cast<size_t>(2 * I) * K, rng, wbits, wv);
      random_values(dtype, static_cast<size_t>(K), rng, xbits, xv);
      // Gate row 0 opposite to x everywhere: a large negative gate, where expf(-g) overflows
      // and the product is a signed zero.
      for (int k = 0; k < K; ++k) {
        const float v = xv[k] > 0 ? -1.f : 1.f;
        wbits[k] =
            dtype == DType::f16 ? precis::engine::f32_to_f16(v) : precis::engine::f32_to_bf16(v);
        wv[k] = v;
      }
      DeviceBuffer<uint16_t> w(wbits), x(xbits);
      for (int u : {1, 2, 4, 8}) {
        INFO((dtype == DType::f16 ? "f16" : "bf16") << ", K " << K << ", loads in flight " << u);
        DeviceBuffer<float> gate_up(static_cast<size_t>(2 * I));
        DeviceBuffer<uint16_t> want(static_cast<size_t>(I)), got(static_cast<size_t>(I));
        precis::cuda::dense_gemv(w.get(), dtype, 2 * I, K, x.get(), 1, gate_up.get(), 2 * I,
                                 nullptr, {u, 2});
        precis::cuda::silu_mul(gate_up.get(), 1, I, want.get(), dtype, nullptr);
        precis::cuda::dense_gemv_silu(w.get(), dtype, I, K, x.get(), got.get(), nullptr, u);
        const std::vector<uint16_t> a = got.download(), b = want.download();
        CHECK(a == b);
        // And near the double reference: silu(gate) * up, to the dtype's rounding.
        for (int i = 0; i < I; ++i) {
          double g = 0, up = 0, mag_g = 0, mag_u = 0;
          for (int k = 0; k < K; ++k) {
            const double pg = static_cast<double>(wv[static_cast<size_t>(i) * K + k]) * xv[k];
            const double pu = static_cast<double>(wv[static_cast<size_t>(I + i) * K + k]) * xv[k];
            g += pg;
            up += pu;
            mag_g += std::fabs(pg);
            mag_u += std::fabs(pu);
          }
          const double ref = g / (1 + std::exp(-g)) * up;
          const float v = dtype == DType::f16 ? precis::engine::f16_to_f32(a[i])
                                              : precis::engine::bf16_to_f32(a[i]);
          const double rel = dtype == DType::f16 ? 1e-3 : 8e-3;
          CHECK(std::fabs(v - ref) <= rel * std::fabs(ref) +
                                          1e-5 * (mag_g * std::fabs(up) + std::fabs(g) * mag_u) +
                                          1e-6);
        }
        CHECK((a[0] & 0x7fff) == 0);  // the overflowed gate: a zero of either sign
      }
    }
  }
}

TEST_CASE("dense_gemv_silu rejects what it cannot take", "[gpu]") {
  DeviceBuffer<uint16_t> w(4096), x(1024), act(64);
  using precis::cuda::dense_gemv_silu;
  CHECK_THROWS_AS(dense_gemv_silu(w.get(), DType::f32, 2, 64, x.get(), act.get(), nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(dense_gemv_silu(w.get(), DType::f16, 2, 60, x.get(), act.get(), nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(dense_gemv_silu(w.get(), DType::f16, 0, 64, x.get(), act.get(), nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(dense_gemv_silu(w.get(), DType::f16, 2, 64, x.get(), act.get(), nullptr, 3),
                  std::invalid_argument);
  CHECK_THROWS_AS(dense_gemv_silu(w.get(), DType::f16, 2, 64, x.get(), nullptr, nullptr),
                  std::invalid_argument);
  CHECK_NOTHROW(dense_gemv_silu(w.get(), DType::f16, 2, 64, x.get(), act.get(), nullptr));
}
