// The decode GEMV over f16 and bf16 weights: y = x W^T for up to kDenseGemvMaxRows rows of x.
// cuBLAS's GEMM reaches about half the memory bandwidth at one to eight rows (H100/H200, 7B
// shapes); a warp per output row streaming W with 16-byte loads reads each weight byte once
// per step, as the quantized GEMV does.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/dtype_convert.cuh"
#include "cuda/kernels/gemv_common.cuh"
#include "cuda/kernels/kernels.hpp"
#include "cuda/kernels/programmatic_launch.cuh"

namespace precis::cuda {

namespace {

constexpr int kWarps = 4;  // output rows per thread block

// Eight consecutive elements from a 16-byte aligned address, as floats.
template <typename E>
__device__ __forceinline__ void load8(const E* p, float v[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  E e[8];
  memcpy(static_cast<void*>(e), &raw,
         sizeof raw);  // not a pointer cast: that would break strict aliasing
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = to_float(e[i]);
}

// How many of a lane's 16-byte weight loads are issued before waiting on the kernel that wrote
// x (programmatic_launch.cuh): the weights are constant, so they may be read early.
constexpr int kEarlyLoads = 4;

template <typename E, int TR>
__device__ __forceinline__ void accumulate8(const float (&v)[8], const E* __restrict__ x, int T,
                                            int K, int e0, float (&acc)[TR]) {
#pragma unroll
  for (int t = 0; t < TR; ++t) {
    if (t < T) {
      float xf[8];
      load8(x + static_cast<int64_t>(t) * K + e0, xf);
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[t] += v[i] * xf[i];
    }
  }
}

// One warp per output row n; lane l reads elements [8 l + 256 c, + 8) of W's row and of every
// x row t < T, accumulating in f32, c in order. TR >= T is the accumulator count.
template <typename E, int TR>
__global__ void __launch_bounds__(kWarps * 32)
    dense_gemv_kernel(const E* __restrict__ w, int N, int K, const E* __restrict__ x, int T,
                      float* __restrict__ y, int ldy) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * kWarps + warp;
  if (n >= N) return;  // the whole warp leaves together, before any shuffle
  const E* row = w + static_cast<int64_t>(n) * K;
  float early[kEarlyLoads][8];
#pragma unroll
  for (int c = 0; c < kEarlyLoads; ++c) {
    const int e0 = 8 * lane + 256 * c;
    if (e0 < K) load8(row + e0, early[c]);
  }
  pdl_wait();  // x is the previous kernel's output
  float acc[TR];
#pragma unroll
  for (int t = 0; t < TR; ++t) acc[t] = 0.f;
#pragma unroll
  for (int c = 0; c < kEarlyLoads; ++c) {
    const int e0 = 8 * lane + 256 * c;
    if (e0 < K) accumulate8(early[c], x, T, K, e0, acc);
  }
#pragma unroll 4
  for (int e0 = 8 * lane + 256 * kEarlyLoads; e0 < K; e0 += 256) {
    float v[8];
    load8(row + e0, v);
    accumulate8(v, x, T, K, e0, acc);
  }
  gemv_warp_store(acc, T, lane, y, ldy, n);
}

}  // namespace

bool dense_gemv_supported(DType dtype, int K, const void* w, const void* x) {
  return dtype != DType::f32 && K > 0 && K % 8 == 0 && aligned16(w) && aligned16(x);
}

void dense_gemv(const void* w, DType dtype, int N, int K, const void* x, int T, float* y, int ldy,
                cudaStream_t stream) {
  const char* name = "dense_gemv";
  if (N <= 0) throw std::invalid_argument("dense_gemv: N must be positive");
  if (T < 1 || T > kDenseGemvMaxRows)
    throw std::invalid_argument("dense_gemv: T " + std::to_string(T) + " is outside [1, " +
                                std::to_string(kDenseGemvMaxRows) + "]");
  if (ldy < N) throw std::invalid_argument("dense_gemv: ldy is smaller than N");
  if (!w || !x || !y) throw std::invalid_argument("dense_gemv: null pointer argument");
  if (!dense_gemv_supported(dtype, K, w, x))
    throw std::invalid_argument(
        "dense_gemv: needs f16 or bf16, K a multiple of 8 and 16-byte aligned w and x");
  const unsigned blocks = static_cast<unsigned>((N + kWarps - 1) / kWarps);
  const bool programmatic = programmatic_launch_enabled();
  dispatch_dtype(dtype, [&]<typename E>() {
    if constexpr (!std::is_same_v<E, float>) {
      const auto* wt = static_cast<const E*>(w);
      const auto* xt = static_cast<const E*>(x);
      auto launch = [&]<int TR>() {
        if (programmatic)
          launch_programmatic(dense_gemv_kernel<E, TR>, dim3(blocks), dim3(kWarps * 32), stream, wt,
                              N, K, xt, T, y, ldy);
        else
          dense_gemv_kernel<E, TR><<<blocks, kWarps * 32, 0, stream>>>(wt, N, K, xt, T, y, ldy);
      };
      if (T == 1)
        launch.template operator()<1>();
      else if (T == 2)
        launch.template operator()<2>();
      else if (T <= 4)
        launch.template operator()<4>();
      else
        launch.template operator()<8>();
      check_launch(name);
    }
  });
}

}  // namespace precis::cuda
