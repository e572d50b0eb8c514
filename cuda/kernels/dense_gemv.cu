// The decode GEMV over f16 and bf16 weights: y = x W^T for up to kDenseGemvMaxRows rows of x.
// cuBLAS's GEMM reaches about half the memory bandwidth at one to eight rows (H100/H200, 7B
// shapes); warps streaming W with 16-byte loads read each weight byte once per step, as the
// quantized GEMV does.
//
// Two knobs (DenseGemvConfig, swept by bench/cuda_linear_bench): how many 16-byte loads a lane
// issues before it uses any (bytes in flight: a load-then-FMA loop leaves the compiler free to
// keep only a couple outstanding, and a memory-bound kernel is as fast as the bytes it has in
// flight), and how many warps share one output row (a 4096-row GEMV with a warp per row fills only
// about half of an H200's warp slots).
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

constexpr int kBlockWarps = 4;

// Eight consecutive elements held in 16 bytes, as floats.
template <typename E>
__device__ __forceinline__ void unpack8(const uint4& raw, float v[8]) {
  E e[8];
  memcpy(static_cast<void*>(e), &raw,
         sizeof raw);  // not a pointer cast: that would break strict aliasing
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = to_float(e[i]);
}

template <typename E>
__device__ __forceinline__ uint4 load16(const E* p) {
  return __ldg(reinterpret_cast<const uint4*>(p));
}

// acc[t] += the dot product of eight weights (raw) with x[t, e0 .. e0 + 8), for t < T.
template <typename E, int TR>
__device__ __forceinline__ void fma8(const uint4& raw, const E* x, int K, int T, int e0,
                                     float (&acc)[TR]) {
  float v[8];
  unpack8<E>(raw, v);
#pragma unroll
  for (int t = 0; t < TR; ++t) {
    if (t < T) {
      float xf[8];
      unpack8<E>(load16(x + static_cast<int64_t>(t) * K + e0), xf);
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[t] += v[i] * xf[i];
    }
  }
}

// W warps per output row, kBlockWarps / W rows per block. Warp `part` of row n's W warps reads
// elements [8 (lane + 32 part) + S c, + 8) of the row, S = 256 W, for c = 0, 1, ...: U loads at a
// time, all issued before the first FMA, then the rest one load per iteration (a predicated last
// batch measured 3-14% slower on an H200). TR >= T accumulators.
// acc[t] += this lane's share of row . x[t] for part `part` of the row's W warps.
template <typename E, int TR, int U, int W>
__device__ __forceinline__ void row_partial(const E* __restrict__ row, int K,
                                            const E* __restrict__ x, int T, int part, int lane,
                                            float (&acc)[TR]) {
  constexpr int kStride = 8 * 32 * W;
  int e0 = 8 * (lane + 32 * part);
  // K and e0 are multiples of 8, so load u's 8 elements fit when its first one does.
  for (; e0 + (U - 1) * kStride < K; e0 += U * kStride) {
    uint4 raw[U];
#pragma unroll
    for (int u = 0; u < U; ++u) raw[u] = load16(row + e0 + u * kStride);
#pragma unroll
    for (int u = 0; u < U; ++u) fma8<E, TR>(raw[u], x, K, T, e0 + u * kStride, acc);
  }
  for (; e0 < K; e0 += kStride) fma8<E, TR>(load16(row + e0), x, K, T, e0, acc);
}

template <typename E, int TR, int U, int W>
__global__ void __launch_bounds__(kBlockWarps * 32)
    dense_gemv_kernel(const E* __restrict__ w, int N, int K, const E* __restrict__ x, int T,
                      float* __restrict__ y, int ldy) {
  static_assert(kBlockWarps % W == 0, "a block holds whole rows");
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * (kBlockWarps / W) + warp / W;
  const int part = warp % W;
  float acc[TR];
#pragma unroll
  for (int t = 0; t < TR; ++t) acc[t] = 0.f;
  // No early return: with W > 1 every warp reaches the barrier below.
  if (n < N) row_partial<E, TR, U, W>(w + static_cast<int64_t>(n) * K, K, x, T, part, lane, acc);
  if constexpr (W == 1) {
    if (n < N) gemv_warp_store(acc, T, lane, y, ldy, n);
  } else {
#pragma unroll
    for (int t = 0; t < TR; ++t) {
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], o);
    }
    __shared__ float partial[kBlockWarps][TR];
    if (lane == 0) {
#pragma unroll
      for (int t = 0; t < TR; ++t) partial[warp][t] = acc[t];
    }
    __syncthreads();
    if (n < N && part == 0 && lane < T) {
      float sum = 0.f;
#pragma unroll
      for (int p = 0; p < W; ++p) sum += partial[warp + p][lane];
      y[static_cast<int64_t>(lane) * ldy + n] = sum;
    }
  }
}

// The gate/up GEMV of one activation row with the SiLU gate fused: block i computes gate row i
// (warps 0 and 1) and up row I + i (warps 2 and 3) of the stacked [2I, K] weight, two warps per
// row summed as dense_gemv_kernel<E, 1, U, 2> sums them, and writes act[i] = silu(gate) * up in
// E, rounded as silu_mul_kernel rounds it: the same bits as that GEMV into f32 and then silu_mul,
// without the f32 gate/up row in memory or silu_mul's launch.
template <typename E, int U>
__global__ void __launch_bounds__(kBlockWarps * 32)
    dense_gemv_silu_kernel(const E* __restrict__ w, int I, int K, const E* __restrict__ x,
                           E* __restrict__ act) {
  static_assert(kBlockWarps == 4, "two rows of two warps per block");
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t n = blockIdx.x + static_cast<int64_t>(warp / 2) * I;  // gate row, then up row
  float acc[1] = {0.f};
  row_partial<E, 1, U, 2>(w + n * K, K, x, 1, warp % 2, lane, acc);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) acc[0] += __shfl_xor_sync(0xffffffffu, acc[0], o);
  __shared__ float partial[kBlockWarps];
  if (lane == 0) partial[warp] = acc[0];
  __syncthreads();
  if (threadIdx.x == 0) {
    float g = 0.f, u = 0.f;  // from 0.f as dense_gemv_kernel's sum, so a -0 part adds alike
    g += partial[0];
    g += partial[1];
    u += partial[2];
    u += partial[3];
    const float s = __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));
    act[blockIdx.x] = from_float<E>(__fmul_rn(s, u));
  }
}

template <typename E, int TR, int U, int W>
void launch(const E* w, int N, int K, const E* x, int T, float* y, int ldy, cudaStream_t stream) {
  constexpr int kRows = kBlockWarps / W;
  const unsigned blocks = static_cast<unsigned>((N + kRows - 1) / kRows);
  dense_gemv_kernel<E, TR, U, W><<<blocks, kBlockWarps * 32, 0, stream>>>(w, N, K, x, T, y, ldy);
}

template <typename E, int TR, int U>
void launch_w(int warps_per_row, const E* w, int N, int K, const E* x, int T, float* y, int ldy,
              cudaStream_t stream) {
  switch (warps_per_row) {
    case 1:
      return launch<E, TR, U, 1>(w, N, K, x, T, y, ldy, stream);
    case 2:
      return launch<E, TR, U, 2>(w, N, K, x, T, y, ldy, stream);
    default:
      return launch<E, TR, U, 4>(w, N, K, x, T, y, ldy, stream);
  }
}

// Calls f.template operator()<U>() with U == loads_in_flight (1, 2, 4; anything else 8, which
// valid_config has ruled out).
template <typename F>
void dispatch_loads_in_flight(int loads_in_flight, F&& f) {
  switch (loads_in_flight) {
    case 1:
      return f.template operator()<1>();
    case 2:
      return f.template operator()<2>();
    case 4:
      return f.template operator()<4>();
    default:
      return f.template operator()<8>();
  }
}

template <typename E, int TR>
void launch_uw(const DenseGemvConfig& c, const E* w, int N, int K, const E* x, int T, float* y,
               int ldy, cudaStream_t stream) {
  dispatch_loads_in_flight(c.loads_in_flight, [&]<int U>() {
    launch_w<E, TR, U>(c.warps_per_row, w, N, K, x, T, y, ldy, stream);
  });
}

bool valid_config(const DenseGemvConfig& c) {
  const int u = c.loads_in_flight, w = c.warps_per_row;
  return (u == 1 || u == 2 || u == 4 || u == 8) && (w == 1 || w == 2 || w == 4);
}

}  // namespace

DenseGemvConfig dense_gemv_default_config(int N, int K) {
  // Measured at 7B decode shapes on an H200 (bench/results/2026-11-27-gpu-h200-check-5): eight
  // loads in flight and four warps per row were best for rows of 4096 (4-6% over one warp per
  // row), two warps for the 11008-long down projection (6% over four); fewer where a row is too
  // short to give each warp a load. Not a function of N there: 4096 to 32000 rows agreed.
  (void)N;
  DenseGemvConfig c;
  c.loads_in_flight = 8;
  c.warps_per_row = K > 8192 ? 2 : K > 512 ? 4 : K > 256 ? 2 : 1;
  return c;
}

bool dense_gemv_supported(DType dtype, int K, const void* w, const void* x) {
  return dtype != DType::f32 && K > 0 && K % 8 == 0 && aligned16(w) && aligned16(x);
}

void dense_gemv(const void* w, DType dtype, int N, int K, const void* x, int T, float* y, int ldy,
                cudaStream_t stream) {
  dense_gemv(w, dtype, N, K, x, T, y, ldy, stream, dense_gemv_default_config(N, K));
}

void dense_gemv(const void* w, DType dtype, int N, int K, const void* x, int T, float* y, int ldy,
                cudaStream_t stream, const DenseGemvConfig& config) {
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
  if (!valid_config(config))
    throw std::invalid_argument("dense_gemv: loads_in_flight must be 1, 2, 4 or 8 and " +
                                std::string("warps_per_row 1, 2 or 4"));
  dispatch_dtype(dtype, [&]<typename E>() {
    if constexpr (!std::is_same_v<E, float>) {
      const auto* wt = static_cast<const E*>(w);
      const auto* xt = static_cast<const E*>(x);
      if (T == 1)
        launch_uw<E, 1>(config, wt, N, K, xt, T, y, ldy, stream);
      else if (T == 2)
        launch_uw<E, 2>(config, wt, N, K, xt, T, y, ldy, stream);
      else if (T <= 4)
        launch_uw<E, 4>(config, wt, N, K, xt, T, y, ldy, stream);
      else
        launch_uw<E, 8>(config, wt, N, K, xt, T, y, ldy, stream);
      check_launch(name);
    }
  });
}

void dense_gemv_silu(const void* w, DType dtype, int I, int K, const void* x, void* act,
                     cudaStream_t stream, int loads_in_flight) {
  if (I <= 0) throw std::invalid_argument("dense_gemv_silu: I must be positive");
  if (!w || !x || !act) throw std::invalid_argument("dense_gemv_silu: null pointer argument");
  if (!dense_gemv_supported(dtype, K, w, x))
    throw std::invalid_argument(
        "dense_gemv_silu: needs f16 or bf16, K a multiple of 8 and 16-byte aligned w and x");
  if (!valid_config({loads_in_flight, 2}))
    throw std::invalid_argument("dense_gemv_silu: loads_in_flight must be 1, 2, 4 or 8");
  dispatch_dtype(dtype, [&]<typename E>() {
    if constexpr (!std::is_same_v<E, float>) {
      const auto* wt = static_cast<const E*>(w);
      const auto* xt = static_cast<const E*>(x);
      auto* out = static_cast<E*>(act);
      const unsigned blocks = static_cast<unsigned>(I);
      dispatch_loads_in_flight(loads_in_flight, [&]<int U>() {
        dense_gemv_silu_kernel<E, U><<<blocks, kBlockWarps * 32, 0, stream>>>(wt, I, K, xt, out);
      });
      check_launch("dense_gemv_silu");
    }
  });
}

}  // namespace precis::cuda
