// The linear layers over DeviceLinear weights: y[T, N] = x[T, K] * W[N, K]^T, f32 out. Dense
// f16/bf16 parts take the dense GEMV kernel for up to kDenseGemvPreferredRows rows and cuBLAS
// otherwise; quantized parts take the quantized GEMV for up to kQuantGemvPreferredRows rows (each
// weight byte read once per step) and, for more, are dequantized to f16 into a scratch matrix
// that cuBLAS multiplies (bench/cuda_linear_bench measured both choices). Everything is enqueued
// on one stream without allocating, so a decode step can be captured as a CUDA graph.
#pragma once

#include "cuda/device_buffer.hpp"
#include "cuda/device_weights.hpp"
#include "cuda/gemm.hpp"

namespace precis::cuda {

class Linear {
 public:
  // The scratch holds the largest quantized part dequantized (weights.max_quant_elements).
  Linear(Gemm& gemm, const DeviceWeights& weights, cudaStream_t stream);

  // x is [T, w.cols] in `dtype` (DeviceWeights::dtype); y is [T, w.rows] f32.
  void operator()(const void* x, DType dtype, int T, const DeviceLinear& w, float* y);

  size_t scratch_bytes() const { return scratch_.size() * sizeof(__half); }

 private:
  Gemm& gemm_;
  cudaStream_t stream_;
  DeviceBuffer<__half> scratch_;
};

}  // namespace precis::cuda
