// Kernels that compute from quantized weight blocks directly (quant_kernels.hpp): the decode
// GEMV, dequantization to f16 for prefill GEMMs through cuBLAS, and the embedding lookup.
#include <cuda_fp16.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/quant_blocks.cuh"
#include "cuda/kernels/quant_kernels.hpp"

namespace precis::cuda {

namespace {

constexpr int kGemvWarps = 4;  // output rows per thread block
constexpr int kThreads = 256;

// One warp per output row n. Lane l decodes groups l, l + 32, ... of the row (32 elements each)
// and multiplies each decoded group with the same 32 activations of every row t < T, so each
// weight byte is read once per step whatever T is. TR >= T is the accumulator count.
template <QuantType Q, int TR>
__global__ void __launch_bounds__(kGemvWarps * 32)
    quant_gemv_kernel(const uint8_t* __restrict__ w, int N, int K, const __half* __restrict__ x,
                      int T, float* __restrict__ y, int ldy) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * kGemvWarps + warp;
  if (n >= N) return;  // the whole warp leaves together, before any shuffle
  const int groups = K / 32;
  const uint8_t* row =
      w + static_cast<int64_t>(n) * (K / QuantTraits<Q>::elems) * QuantTraits<Q>::bytes;
  float acc[TR];
#pragma unroll
  for (int t = 0; t < TR; ++t) acc[t] = 0.f;
  for (int g = lane; g < groups; g += 32) {
    float v[32];
    dequant_group<Q>(row, g, v);
#pragma unroll
    for (int t = 0; t < TR; ++t) {
      if (t < T) {
        const __half2* xp =
            reinterpret_cast<const __half2*>(x + static_cast<int64_t>(t) * K + 32 * g);
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < 16; ++i) {
          const float2 xf = __half22float2(xp[i]);
          s += v[2 * i] * xf.x + v[2 * i + 1] * xf.y;
        }
        acc[t] += s;
      }
    }
  }
#pragma unroll
  for (int t = 0; t < TR; ++t) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], o);
  }
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < TR; ++t)
      if (t < T) y[static_cast<int64_t>(t) * ldy + n] = acc[t];
  }
}

// One thread per group of 32 elements: row n = item / groups.
template <QuantType Q>
__global__ void quant_dequantize_kernel(const uint8_t* __restrict__ w, int64_t items, int K,
                                        __half* __restrict__ out) {
  const int64_t item = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (item >= items) return;
  const int groups = K / 32;
  const int64_t n = item / groups;
  const int g = static_cast<int>(item - n * groups);
  const uint8_t* row = w + n * (K / QuantTraits<Q>::elems) * QuantTraits<Q>::bytes;
  float v[32];
  dequant_group<Q>(row, g, v);
  __half* o = out + n * K + 32 * g;
#pragma unroll
  for (int l = 0; l < 32; ++l) o[l] = __float2half_rn(v[l]);
}

// grid = (T, chunks of kThreads groups).
template <QuantType Q>
__global__ void quant_embedding_kernel(const uint8_t* __restrict__ table,
                                       const int* __restrict__ ids, int H,
                                       float* __restrict__ out) {
  const int t = blockIdx.x;
  const int g = blockIdx.y * kThreads + threadIdx.x;
  if (g >= H / 32) return;
  const int64_t id = ids[t];  // validated against the vocabulary by the host
  const uint8_t* row = table + id * (H / QuantTraits<Q>::elems) * QuantTraits<Q>::bytes;
  float v[32];
  dequant_group<Q>(row, g, v);
  float* o = out + static_cast<int64_t>(t) * H + 32 * g;
#pragma unroll
  for (int l = 0; l < 32; ++l) o[l] = v[l];
}

void check_row_length(QuantType type, int K, const char* kernel) {
  if (K <= 0 || K % quant_block_elems(type) != 0)
    throw std::invalid_argument(std::string(kernel) + ": row length " + std::to_string(K) +
                                " is not a positive multiple of the block size " +
                                std::to_string(quant_block_elems(type)));
}

}  // namespace

int quant_block_elems(QuantType t) {
  int e = 0;
  dispatch_quant(t, [&]<QuantType Q>() { e = QuantTraits<Q>::elems; });
  return e;
}

int quant_block_bytes(QuantType t) {
  int b = 0;
  dispatch_quant(t, [&]<QuantType Q>() { b = QuantTraits<Q>::bytes; });
  return b;
}

void quant_gemv(const void* w, QuantType type, int N, int K, const __half* x, int T, float* y,
                int ldy, cudaStream_t stream) {
  const char* name = "quant_gemv";
  check_row_length(type, K, name);
  if (N <= 0) throw std::invalid_argument("quant_gemv: N must be positive");
  if (T < 1 || T > kQuantGemvMaxRows)
    throw std::invalid_argument("quant_gemv: T " + std::to_string(T) + " is outside [1, " +
                                std::to_string(kQuantGemvMaxRows) + "]");
  if (ldy < N) throw std::invalid_argument("quant_gemv: ldy is smaller than N");
  if (!w || !x || !y) throw std::invalid_argument("quant_gemv: null pointer argument");
  const unsigned blocks = static_cast<unsigned>((N + kGemvWarps - 1) / kGemvWarps);
  const auto* wb = static_cast<const uint8_t*>(w);
  dispatch_quant(type, [&]<QuantType Q>() {
    if (T == 1)
      quant_gemv_kernel<Q, 1><<<blocks, kGemvWarps * 32, 0, stream>>>(wb, N, K, x, T, y, ldy);
    else if (T == 2)
      quant_gemv_kernel<Q, 2><<<blocks, kGemvWarps * 32, 0, stream>>>(wb, N, K, x, T, y, ldy);
    else if (T <= 4)
      quant_gemv_kernel<Q, 4><<<blocks, kGemvWarps * 32, 0, stream>>>(wb, N, K, x, T, y, ldy);
    else
      quant_gemv_kernel<Q, 8><<<blocks, kGemvWarps * 32, 0, stream>>>(wb, N, K, x, T, y, ldy);
    check_launch(name);
  });
}

void quant_dequantize(const void* w, QuantType type, int N, int K, __half* out,
                      cudaStream_t stream) {
  check_row_length(type, K, "quant_dequantize");
  if (N <= 0) throw std::invalid_argument("quant_dequantize: N must be positive");
  if (!w || !out) throw std::invalid_argument("quant_dequantize: null pointer argument");
  const int64_t items = static_cast<int64_t>(N) * (K / 32);
  const int64_t grid = (items + kThreads - 1) / kThreads;
  if (grid > INT32_MAX) throw std::invalid_argument("quant_dequantize: matrix too large");
  dispatch_quant(type, [&]<QuantType Q>() {
    quant_dequantize_kernel<Q><<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(
        static_cast<const uint8_t*>(w), items, K, out);
    check_launch("quant_dequantize");
  });
}

void quant_embedding_gather(const void* table, QuantType type, const int* ids, int T, int H,
                            float* out, cudaStream_t stream) {
  check_row_length(type, H, "quant_embedding_gather");
  if (T < 0) throw std::invalid_argument("quant_embedding_gather: T must be >= 0");
  if (T == 0) return;
  const int chunks = (H / 32 + kThreads - 1) / kThreads;
  dispatch_quant(type, [&]<QuantType Q>() {
    quant_embedding_kernel<Q>
        <<<dim3(T, chunks), kThreads, 0, stream>>>(static_cast<const uint8_t*>(table), ids, H, out);
    check_launch("quant_embedding_gather");
  });
}

}  // namespace precis::cuda
