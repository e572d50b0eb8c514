// The linear layers: y[T, N] = x[T, K] * W[N, K]^T through cuBLAS with f32 accumulation. W is a
// row-major Hugging Face weight ([out_features, in_features]); x is in W's dtype (cuBLAS wants
// both operands in one type); y is f32.
#pragma once

#include <cublas_v2.h>

#include "cuda/device_buffer.hpp"
#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

class Gemm {
 public:
  explicit Gemm(cudaStream_t stream);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // ldy: y's row stride (0 = N), so several weights can fill column ranges of one output.
  void linear(const void* x, DType dtype, int T, int K, const void* w, int N, float* y,
              int ldy = 0);

 private:
  cublasHandle_t handle_ = nullptr;
  // Our own workspace, so cuBLAS never allocates while a CUDA graph is being captured.
  DeviceBuffer<std::byte> workspace_;
};

}  // namespace precis::cuda
