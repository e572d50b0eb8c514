#include "cuda/device_bandwidth.hpp"

#include <algorithm>

#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"

namespace precis::cuda {

double device_copy_bandwidth(size_t bytes, int device) {
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  DeviceBuffer<char> src(bytes), dst(bytes);
  check_cuda(cudaMemset(src.get(), 1, bytes), "cudaMemset");
  cudaEvent_t start, stop;
  check_cuda(cudaEventCreate(&start), "cudaEventCreate");
  check_cuda(cudaEventCreate(&stop), "cudaEventCreate");
  float best_ms = 1e30f;
  for (int rep = 0; rep < 6; ++rep) {  // the first copy warms up; the best of the rest counts
    check_cuda(cudaEventRecord(start), "cudaEventRecord");
    check_cuda(cudaMemcpy(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy");
    check_cuda(cudaEventRecord(stop), "cudaEventRecord");
    check_cuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check_cuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    if (rep > 0) best_ms = std::min(best_ms, ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 2.0 * static_cast<double>(bytes) / (best_ms / 1e3);
}

}  // namespace precis::cuda
