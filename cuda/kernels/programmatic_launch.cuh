// Programmatic dependent launch (Hopper and later): a kernel launched with it may start while
// the kernel before it in the stream is still running, once every block of that kernel has
// called pdl_launch_dependents() (or exited). It must call pdl_wait() before it reads anything
// the earlier kernels wrote or writes anything they read; pdl_wait() returns when the kernel
// before it has completed and its writes are visible (and that kernel waited on its own
// predecessor, so on everything earlier too).
//
// What it buys a batch-1 decode step: the GEMV after a one-block RMSNorm or a small merge or
// SiLU kernel streams its first weights (which no kernel writes) while that kernel runs, instead
// of starting from an idle memory system after it.
//
// Under the CUDA emulator (tests/cuda_emulator) kernels run one after another, so launches take
// the plain <<<...>>> path and the device calls are no-ops.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "cuda/cuda_check.hpp"

namespace precis::cuda {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Whether launches on the current device may use it: compute capability 9.0 or later, and
// PRECIS_CUDA_PDL is not "0" (the switch for measuring what it gains). Queried once per device.
inline bool programmatic_launch_enabled() {
#ifdef PRECIS_CUDA_EMULATOR
  return false;
#else
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cache[kMaxDevices] = {};  // 0 unknown, 1 no, 2 yes
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  if (device >= 0 && device < kMaxDevices) {
    if (const int v = cache[device].load(std::memory_order_relaxed); v != 0) return v == 2;
  }
  int major = 0;
  check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
             "cudaDeviceGetAttribute");
  const char* env = std::getenv("PRECIS_CUDA_PDL");
  const bool on = major >= 9 && !(env && std::strcmp(env, "0") == 0);
  if (device >= 0 && device < kMaxDevices)
    cache[device].store(on ? 2 : 1, std::memory_order_relaxed);
  return on;
#endif
}

// kernel<<<grid, block, 0, stream>>>(args...) with programmatic stream serialization allowed.
// Only called when programmatic_launch_enabled(). The arguments are converted to the kernel's
// parameter types, as the launch passes them by address.
template <typename... Params>
void launch_programmatic(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream,
                         std::type_identity_t<Params>... args) {
#ifdef PRECIS_CUDA_EMULATOR
  (void)kernel, (void)grid, (void)block, (void)stream, ((void)args, ...);
  throw std::logic_error("launch_programmatic: not under the CUDA emulator");
#else
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = 1;
  void* params[] = {static_cast<void*>(&args)...};
  check_cuda(cudaLaunchKernelExC(&config, reinterpret_cast<const void*>(kernel), params),
             "cudaLaunchKernelExC");
#endif
}

}  // namespace precis::cuda
