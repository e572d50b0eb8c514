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

// One warp per output row n; lane l reads elements [8 l + 256 c, + 8) of W's row and of every
// x row t < T, accumulating in f32. TR >= T is the accumulator count.
template <typename E, int TR>
__global__ void __launch_bounds__(kWarps * 32)
    dense_gemv_kernel(const E* __restrict__ w, int N, int K, const E* __restrict__ x, int T,
                      float* __restrict__ y, int ldy) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * kWarps + warp;
  if (n >= N) return;  // the whole warp leaves together, before any shuffle
  const E* row = w + static_cast<int64_t>(n) * K;
  float acc[TR];
#pragma unroll
  for (int t = 0; t < TR; ++t) acc[t] = 0.f;
#pragma unroll 4
  for (int e0 = 8 * lane; e0 < K; e0 += 256) {
    float v[8];
    load8(row + e0, v);
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
  dispatch_dtype(dtype, [&]<typename E>() {
    if constexpr (!std::is_same_v<E, float>) {
      const auto* wt = static_cast<const E*>(w);
      const auto* xt = static_cast<const E*>(x);
      if (T == 1)
        dense_gemv_kernel<E, 1><<<blocks, kWarps * 32, 0, stream>>>(wt, N, K, xt, T, y, ldy);
      else if (T == 2)
        dense_gemv_kernel<E, 2><<<blocks, kWarps * 32, 0, stream>>>(wt, N, K, xt, T, y, ldy);
      else if (T <= 4)
        dense_gemv_kernel<E, 4><<<blocks, kWarps * 32, 0, stream>>>(wt, N, K, xt, T, y, ldy);
      else
        dense_gemv_kernel<E, 8><<<blocks, kWarps * 32, 0, stream>>>(wt, N, K, xt, T, y, ldy);
      check_launch(name);
    }
  });
}

}  // namespace precis::cuda
