#include "cuda/sm_count.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>

#include "cuda/cuda_check.hpp"

namespace precis::cuda {

int current_device_sm_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cache[kMaxDevices] = {};
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  if (device >= 0 && device < kMaxDevices) {
    if (const int n = cache[device].load(std::memory_order_relaxed); n > 0) return n;
  }
  cudaDeviceProp prop;
  check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  const int n = std::max(prop.multiProcessorCount, 1);
  if (device >= 0 && device < kMaxDevices) cache[device].store(n, std::memory_order_relaxed);
  return n;
}

}  // namespace precis::cuda
