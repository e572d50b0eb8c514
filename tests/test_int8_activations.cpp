// The CPU matmul over quantized weights (engine/cpu_kernels): the f32-activation path, tiled over
// rows of x, gives exactly the row-by-row dot products; the int8-activation path (x quantized to
// 8 bits per 32, as llama.cpp does) stays within the error that quantizing x can cause, computed
// per output from the weights and the activations' block maxima.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "engine/cpu_kernels.hpp"
#include "engine/ggml_type.hpp"
#include "engine/quant.hpp"

using namespace precis::engine;

namespace {

struct QuantMatrix {
  std::vector<std::byte> bytes;
  std::vector<float> dequantized;  // [N, K]
  TensorView view;
};

QuantMatrix random_matrix(GgmlType type, int N, int K, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.f, 0.5f);
  std::vector<float> w(static_cast<size_t>(N) * K);
  for (auto& v : w) v = normal(rng);
  QuantMatrix m;
  const size_t row_bytes = quant_row_bytes(type, K);
  m.bytes.resize(row_bytes * N);
  m.dequantized.resize(w.size());
  for (int n = 0; n < N; ++n) {
    quantize_row(type, w.data() + static_cast<size_t>(n) * K, m.bytes.data() + n * row_bytes, K);
    dequantize_row(type, m.bytes.data() + n * row_bytes, m.dequantized.data() + n * K, K);
  }
  m.view.quant = type;
  m.view.shape = {N, K};
  m.view.data = m.bytes.data();
  m.view.nbytes = m.bytes.size();
  return m;
}

}  // namespace

TEST_CASE("quantized matmul: f32 activations exact, int8 within the quantization bound") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int N = 37;  // not a multiple of the 16-row grain
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1}) {
    for (int K : {64, 96}) {
      const QuantMatrix w = random_matrix(type, N, K, rng);
      for (int T : {1, 5, 8, 9, 17}) {  // around the 8-row tile
        INFO(ggml_type_info(type).name << " K " << K << " T " << T);
        std::vector<float> x(static_cast<size_t>(T) * K);
        for (auto& v : x) v = normal(rng);
        x[3] = 40.f;  // an outlier, as real activations have: it coarsens its block's scale
        std::vector<float> y32(static_cast<size_t>(T) * N), y8(y32.size());
        cpu::matmul_wt(x.data(), T, K, w.view, N, y32.data(), cpu::Activations::f32);
        cpu::matmul_wt(x.data(), T, K, w.view, N, y8.data(), cpu::Activations::int8);
        int exact = 0, within = 0;
        for (int t = 0; t < T; ++t) {
          const float* xt = x.data() + static_cast<size_t>(t) * K;
          for (int n = 0; n < N; ++n) {
            const float* wn = w.dequantized.data() + static_cast<size_t>(n) * K;
            const float row_by_row =
                dot_row(type, w.bytes.data() + n * quant_row_bytes(type, K), xt, K);
            exact += y32[static_cast<size_t>(t) * N + n] == row_by_row;
            // Rounding x to the nearest multiple of d = amax / 127 moves each element by at
            // most d / 2, so the sum by at most sum over blocks of d / 2 * sum |w|.
            double bound = 0, ref = 0, mag = 0;
            for (int b = 0; b < K / 32; ++b) {
              float amax = 0, wsum = 0;
              for (int i = 32 * b; i < 32 * b + 32; ++i) {
                amax = std::max(amax, std::fabs(xt[i]));
                wsum += std::fabs(wn[i]);
                ref += static_cast<double>(wn[i]) * xt[i];
                mag += std::fabs(static_cast<double>(wn[i]) * xt[i]);
              }
              bound += amax / 127.0 / 2.0 * wsum;
            }
            within += std::fabs(y8[static_cast<size_t>(t) * N + n] - ref) <=
                      bound * 1.0001 + 1e-5 * mag + 1e-5;
          }
        }
        CHECK(exact == T * N);
        CHECK(within == T * N);
      }
    }
  }
}

TEST_CASE("quantized matmul: int8 activations leave dense weights to the f32 path") {
  const int N = 3, K = 32;
  std::vector<float> w(static_cast<size_t>(N) * K), x(K);
  for (int i = 0; i < N * K; ++i) w[i] = 0.01f * static_cast<float>(i % 17) - 0.05f;
  for (int i = 0; i < K; ++i) x[i] = 0.3f * static_cast<float>(i % 5) - 0.7f;
  TensorView v;
  v.dtype = DType::F32;
  v.shape = {N, K};
  v.data = reinterpret_cast<const std::byte*>(w.data());
  v.nbytes = w.size() * sizeof(float);
  std::vector<float> a(N), b(N);
  cpu::matmul_wt(x.data(), 1, K, v, N, a.data(), cpu::Activations::f32);
  cpu::matmul_wt(x.data(), 1, K, v, N, b.data(), cpu::Activations::int8);
  CHECK(a == b);
}
