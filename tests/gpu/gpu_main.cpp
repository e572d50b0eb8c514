// Entry point of the `gpu`-labelled tests. Without a usable CUDA device they print
// "skipped: no CUDA device (why)" and exit with 77, which ctest reports as skipped (not failed).
#define CATCH_CONFIG_RUNNER
#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "cuda/cuda_backend.hpp"

int main(int argc, char** argv) {
  std::string why;
  if (precis::cuda::cuda_device_count(&why) == 0) {
    std::printf("skipped: no CUDA device (%s)\n", why.c_str());
    return 77;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
    std::printf("CUDA device 0: %s (sm_%d%d, %.1f GiB)\n", prop.name, prop.major, prop.minor,
                prop.totalGlobalMem / 1073741824.0);
  return Catch::Session().run(argc, argv);
}
