#include "cuda/gemm.hpp"

#include "cuda/cuda_check.hpp"

namespace precis::cuda {

namespace {

cudaDataType_t cuda_type(DType d) {
  switch (d) {
    case DType::f16:
      return CUDA_R_16F;
    case DType::bf16:
      return CUDA_R_16BF;
    case DType::f32:
      break;
  }
  return CUDA_R_32F;
}

}  // namespace

Gemm::Gemm(cudaStream_t stream) {
  check_cublas(cublasCreate(&handle_), "cublasCreate");
  check_cublas(cublasSetStream(handle_, stream), "cublasSetStream");
  workspace_.resize(32u << 20);  // what cuBLAS recommends for Hopper
  check_cublas(cublasSetWorkspace(handle_, workspace_.get(), workspace_.size()),
               "cublasSetWorkspace");
}

Gemm::~Gemm() {
  if (handle_) cublasDestroy(handle_);
}

void Gemm::linear(const void* x, DType dtype, int T, int K, const void* w, int N, float* y,
                  int ldy) {
  if (ldy == 0) ldy = N;
  // cuBLAS is column-major: row-major y[T, N] is column-major Y[N, T] = W[N, K] * X[K, T], where
  // the row-major W[N, K] reads as column-major [K, N] (so op T) and row-major x[T, K] as
  // column-major [K, T] (op N).
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t t = cuda_type(dtype);
  // f32 models must not silently drop to TF32 (the CPU backend is the reference), so their
  // compute type is pedantic; f16/bf16 inputs use tensor cores with f32 accumulation.
  const cublasComputeType_t compute =
      dtype == DType::f32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
  check_cublas(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &alpha, w, t, K, x, t, K,
                            &beta, y, CUDA_R_32F, ldy, compute, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

}  // namespace precis::cuda
