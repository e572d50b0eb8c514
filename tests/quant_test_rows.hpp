// Random quantized rows and matrices for the kernel tests (test_cpu_isa.cpp,
// test_interleaved_quant.cpp), made by the scalar variant so that every variant meets the same
// bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engine/dtype.hpp"
#include "engine/ggml_type.hpp"
#include "engine/kernel_table.hpp"
#include "engine/quant.hpp"
#include "engine/safetensors.hpp"

namespace precis::engine::test {

inline std::vector<float> normal_vector(size_t n, std::mt19937& rng, float sigma = 1.f) {
  std::normal_distribution<float> normal(0.f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// A random row of n weights of type t, valid for every kernel: the quantizable types from normal
// values through the scalar quantizer; the K types as random bytes with moderate f16 scales (at
// the offsets of ggml-common.h), since nothing here writes them.
inline std::vector<std::byte> random_row(GgmlType t, int64_t n, std::mt19937& rng) {
  const KernelTable& scalar = kernels_for(CpuIsa::scalar);
  const QuantKernels& k = *scalar.quant(t);
  std::vector<std::byte> row(quant_row_bytes(t, n));
  if (k.quantize) {
    const auto w = normal_vector(static_cast<size_t>(n), rng, 0.5f);
    k.quantize(w.data(), row.data(), n / k.block);
    return row;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.001f, 0.01f);
  for (std::byte& b : row) b = static_cast<std::byte>(byte(rng));
  const size_t block_bytes = ggml_type_info(t).block_bytes;
  for (size_t b = 0; b < row.size(); b += block_bytes) {
    const auto put = [&](size_t off) {
      const uint16_t h = f32_to_f16(scale(rng));
      std::memcpy(row.data() + b + off, &h, 2);
    };
    if (t == GgmlType::Q6_K) {
      put(208);
    } else {
      put(0);
      put(2);
    }
  }
  return row;
}

inline std::vector<float> dequantized(GgmlType t, const std::vector<std::byte>& row, int64_t n) {
  const QuantKernels& k = *kernels_for(CpuIsa::scalar).quant(t);
  std::vector<float> w(static_cast<size_t>(n));
  k.dequantize(row.data(), w.data(), n / k.block);
  return w;
}

// A weight matrix [N, K] of type t as the engine binds it: f32/f16/bf16 as plain dtypes (the
// dense matmul), the rest as ggml blocks.
struct Matrix {
  std::vector<std::byte> bytes;
  std::vector<float> w;  // dequantized, [N, K]
  TensorView view;
};

inline Matrix random_matrix(GgmlType t, int N, int K, std::mt19937& rng) {
  Matrix m;
  for (int n = 0; n < N; ++n) {
    const auto row = random_row(t, K, rng);
    m.bytes.insert(m.bytes.end(), row.begin(), row.end());
    const auto w = dequantized(t, row, K);
    m.w.insert(m.w.end(), w.begin(), w.end());
  }
  if (t == GgmlType::F32)
    m.view.dtype = DType::F32;
  else if (t == GgmlType::F16)
    m.view.dtype = DType::F16;
  else if (t == GgmlType::BF16)
    m.view.dtype = DType::BF16;
  else
    m.view.quant = t;
  m.view.shape = {N, K};
  m.view.data = m.bytes.data();
  m.view.nbytes = m.bytes.size();
  return m;
}

}  // namespace precis::engine::test
