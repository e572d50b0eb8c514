// Errors from the CUDA runtime and cuBLAS become exceptions naming the call that failed, so a
// bad launch fails one request with a message instead of aborting the process.
#pragma once

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace precis::cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw CudaError(std::string(what) + ": " + cudaGetErrorName(status) + " (" +
                    cudaGetErrorString(status) + ")");
}

inline void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw CudaError(std::string(what) + ": cuBLAS status " +
                    std::to_string(static_cast<int>(status)));
}

// After a <<<...>>> launch: reports bad launch configurations at once (asynchronous faults
// surface at the next synchronising call, which is checked too).
inline void check_launch(const char* kernel) {
  check_cuda(cudaGetLastError(), kernel);
}

}  // namespace precis::cuda
