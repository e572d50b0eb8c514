// Kernels that compute from quantized weight blocks directly (quant_kernels.hpp): the decode
// GEMV, dequantization to f16 for prefill GEMMs through cuBLAS, and the embedding lookup.
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/gemv_common.cuh"
#include "cuda/kernels/quant_blocks.cuh"
#include "cuda/kernels/quant_kernels.hpp"

namespace precis::cuda {

namespace {

constexpr int kGemvWarps = 4;  // output rows per thread block
constexpr int kThreads = 256;

// x[t * K + e0, + 8) as floats: one 16-byte load (K and e0 are multiples of 8 and x is 16-byte
// aligned, which the launcher checks).
__device__ __forceinline__ void load_x8(const __half* x, float v[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(x);
  __half2 h[4];
  memcpy(static_cast<void*>(h), &raw,
         sizeof raw);  // not a pointer cast: that would break strict aliasing
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(h[i]);
    v[2 * i] = f.x;
    v[2 * i + 1] = f.y;
  }
}

// One warp per output row n. Lane l decodes elements [8 l + 256 c, + 8) for c = 0, 1, ..., so a
// warp's loads of weights and activations cover contiguous bytes, and multiplies them with the
// same eight activations of every row t < T: each weight byte is read once per step whatever T
// is. TR >= T is the accumulator count.
template <QuantType Q, int TR>
__global__ void __launch_bounds__(kGemvWarps * 32)
    quant_gemv_kernel(const uint8_t* __restrict__ w, int N, int K, const __half* __restrict__ x,
                      int T, float* __restrict__ y, int ldy) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * kGemvWarps + warp;
  if (n >= N) return;  // the whole warp leaves together, before any shuffle
  const uint8_t* row =
      w + static_cast<int64_t>(n) * (K / QuantTraits<Q>::elems) * QuantTraits<Q>::bytes;
  float acc[TR];
#pragma unroll
  for (int t = 0; t < TR; ++t) acc[t] = 0.f;
    // Unrolled so that a lane has two runs' loads in flight.
#pragma unroll 2
  for (int e0 = 8 * lane; e0 < K; e0 += 256) {
    float v[8];
    dequant8<Q>(row, e0, v);
#pragma unroll
    for (int t = 0; t < TR; ++t) {
      if (t < T) {
        float xf[8];
        load_x8(x + static_cast<int64_t>(t) * K + e0, xf);
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < 8; ++i) s += v[i] * xf[i];
        acc[t] += s;
      }
    }
  }
  gemv_warp_store(acc, T, lane, y, ldy, n);
}

// One thread per run of eight elements, item = (n * K + e0) / 8, writing them as one 16-byte
// store: consecutive threads write consecutive bytes.
template <QuantType Q>
__global__ void quant_dequantize_kernel(const uint8_t* __restrict__ w, int64_t items, int K,
                                        __half* __restrict__ out) {
  const int64_t item = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (item >= items) return;
  const int runs = K / 8;
  const int64_t n = item / runs;
  const int e0 = static_cast<int>(item - n * runs) * 8;
  const uint8_t* row = w + n * (K / QuantTraits<Q>::elems) * QuantTraits<Q>::bytes;
  float v[8];
  dequant8<Q>(row, e0, v);
  __half2 h[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
  uint4 packed;
  memcpy(&packed, h, sizeof packed);
  reinterpret_cast<uint4*>(out)[item] = packed;
}

// grid = (T, chunks of kThreads runs of eight elements).
template <QuantType Q>
__global__ void quant_embedding_kernel(const uint8_t* __restrict__ table,
                                       const int* __restrict__ ids, int H,
                                       float* __restrict__ out) {
  const int t = blockIdx.x;
  const int e0 = (blockIdx.y * kThreads + threadIdx.x) * 8;
  if (e0 >= H) return;
  const int64_t id = ids[t];  // validated against the vocabulary by the host
  const uint8_t* row = table + id * (H / QuantTraits<Q>::elems) * QuantTraits<Q>::bytes;
  float v[8];
  dequant8<Q>(row, e0, v);
  float* o = out + static_cast<int64_t>(t) * H + e0;
#pragma unroll
  for (int i = 0; i < 8; ++i) o[i] = v[i];
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
  if (!aligned16(x)) throw std::invalid_argument("quant_gemv: x is not 16-byte aligned");
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
  if (!aligned16(out)) throw std::invalid_argument("quant_dequantize: out is not 16-byte aligned");
  const int64_t items = static_cast<int64_t>(N) * (K / 8);
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
  const int chunks = (H / 8 + kThreads - 1) / kThreads;
  dispatch_quant(type, [&]<QuantType Q>() {
    quant_embedding_kernel<Q>
        <<<dim3(T, chunks), kThreads, 0, stream>>>(static_cast<const uint8_t*>(table), ids, H, out);
    check_launch("quant_embedding_gather");
  });
}

}  // namespace precis::cuda
