// The residual add fused with RMSNorm, and the plain residual add.
#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/dtype_convert.cuh"
#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

namespace {

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One block per row; blockDim.x is a multiple of 32 (at most 1024). The sum of squares is
// accumulated in double and the scale computed as in engine/cpu_kernels.cpp's rms_norm,
// float(1 / sqrt(ss / H + eps)), so only the summation order differs from the CPU. Each thread
// revisits in the second pass exactly the elements it wrote in the first, so x (and out, if
// it aliases x) needs no barrier between the passes.
template <typename O>
__global__ void add_rms_norm_kernel(float* x, const float* delta, const float* __restrict__ weight,
                                    int H, float eps, O* out) {
  __shared__ double partial[32];
  __shared__ float scale;
  const int64_t base = static_cast<int64_t>(blockIdx.x) * H;
  float* xr = x + base;

  double ss = 0.0;
  if (delta != nullptr) {
    const float* dr = delta + base;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
      const float v = xr[i] + dr[i];
      xr[i] = v;
      ss += static_cast<double>(v) * v;
    }
  } else {
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
      const float v = xr[i];
      ss += static_cast<double>(v) * v;
    }
  }

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  ss = warp_sum(ss);
  if (lane == 0) partial[warp] = ss;
  __syncthreads();
  if (warp == 0) {
    const int nwarps = blockDim.x >> 5;
    double v = lane < nwarps ? partial[lane] : 0.0;
    v = warp_sum(v);
    // Double sqrt and division are correctly rounded on the device, as on the host.
    if (lane == 0) scale = static_cast<float>(1.0 / sqrt(v / H + static_cast<double>(eps)));
  }
  __syncthreads();

  const float inv = scale;
  O* orow = out + base;
  for (int i = threadIdx.x; i < H; i += blockDim.x)
    orow[i] = from_float<O>(xr[i] * inv * weight[i]);
}

__global__ void add_inplace_kernel(float* __restrict__ x, const float* __restrict__ delta,
                                   int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    x[i] += delta[i];
}

}  // namespace

void add_rms_norm(float* x, const float* delta, const float* weight, int T, int H, float eps,
                  void* out, DType out_dtype, cudaStream_t stream) {
  if (T < 0) throw std::invalid_argument("add_rms_norm: T must be >= 0");
  if (H <= 0) throw std::invalid_argument("add_rms_norm: H must be > 0");
  if (T == 0) return;
  // About 8 elements per thread, in whole warps: enough threads to hide latency for one row
  // of a decode step without idling most of a block on narrow rows.
  const int threads = std::clamp((H / 8 + 31) / 32 * 32, 32, 1024);
  dispatch_dtype(out_dtype, [&]<typename O>() {
    add_rms_norm_kernel<O>
        <<<T, threads, 0, stream>>>(x, delta, weight, H, eps, static_cast<O*>(out));
    check_launch("add_rms_norm_kernel");
  });
}

void add_inplace(float* x, const float* delta, int64_t n, cudaStream_t stream) {
  if (n < 0) throw std::invalid_argument("add_inplace: n must be >= 0");
  if (n == 0) return;
  constexpr int kThreads = 256;
  // Grid-stride: a few thousand blocks saturate the GPU; more would only add scheduling.
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 4096);
  add_inplace_kernel<<<static_cast<int>(blocks), kThreads, 0, stream>>>(x, delta, n);
  check_launch("add_inplace_kernel");
}

}  // namespace precis::cuda
