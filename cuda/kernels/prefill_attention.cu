// Tiled causal attention for prompt chunks over the paged f16 KV cache: a thread block takes a
// tile of up to kPrefillTileRows query rows of one sequence and one head, and walks the keys in
// tiles of kKeyTile, keeping a running max, sum and output accumulator per query row (the online
// softmax), so nothing larger than a tile of scores ever exists.
#include <cuda_fp16.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/attention_common.cuh"
#include "cuda/kernels/dtype_convert.cuh"
#include "cuda/kernels/kernels.hpp"
#include "cuda/kernels/kv_cache_layout.cuh"

namespace precis::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = kPrefillTileRows / kWarps;
static_assert(kRowsPerWarp * kWarps == kPrefillTileRows);
constexpr int kKeyTile = 32;  // one key per lane in the score phase
// K rows in shared memory are padded by 8 halves (16 bytes): a lane reads 16 bytes of its own key
// row, and with a row stride of (HD / 8 + 1) 16-byte units (HD / 8 a multiple of 4) the 8 lanes
// of each quarter-warp phase hit distinct bank groups.
constexpr int kKPad = 8;

// The two f16 values packed in a 32-bit word (little-endian: element 2i in the low half), read
// without type-punning a local through a pointer, which is undefined behaviour in C++.
__device__ __forceinline__ float half_lo(uint32_t w) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(w & 0xffffu)));
}
__device__ __forceinline__ float half_hi(uint32_t w) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(w >> 16)));
}

template <int HD>
constexpr size_t prefill_smem_bytes() {
  return sizeof(float) * kPrefillTileRows * HD       // Q tile
         + sizeof(__half) * kKeyTile * (HD + kKPad)  // K tile
         + sizeof(__half) * kKeyTile * HD;           // V tile
}

// Grid: x = tile, y = head. Block: kWarps warps; warp w owns query rows kRowsPerWarp * w + rr of
// the tile. In the score phase lane j is key j of the key tile; in the output phase lane owns
// dimensions lane + 32 * i (i < HD / 32).
//
// The tile's rows: rows first + r for r = 0, 1, ... while r < kPrefillTileRows, first + r < T,
// row_seq[first + r] == row_seq[first] and pos[first + r] == pos[first] + r. Tiles built as one
// per kPrefillTileRows rows of each sequence's run of consecutive rows satisfy this exactly.
template <int HD, typename OutT>
__global__ void __launch_bounds__(kWarps * 32)
    prefill_attention_kernel(const AttentionArgs a, const int* tile_first_row) {
  constexpr int NPL = HD / 32;
  extern __shared__ __align__(16) unsigned char smem[];
  float* qs = reinterpret_cast<float*>(smem);                          // [16][HD]
  __half* ks = reinterpret_cast<__half*>(qs + kPrefillTileRows * HD);  // [32][HD + kKPad]
  __half* vs = ks + kKeyTile * (HD + kKPad);                           // [32][HD]

  const int first = tile_first_row[blockIdx.x];
  const int h = blockIdx.y;
  const int seq = a.row_seq[first];
  const int p0 = a.pos[first];
  // Every thread derives the same count from the same global values: no barrier needed.
  int n = 1;
  while (n < kPrefillTileRows && first + n < a.T && a.row_seq[first + n] == seq &&
         a.pos[first + n] == p0 + n)
    ++n;
  const int last_pos = p0 + n - 1;  // the largest position in the tile
  const int g = h / (a.n_heads / a.n_kv_heads);
  const int* table = a.block_tables + static_cast<int64_t>(seq) * a.max_blocks_per_seq;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;

  // Rows past n are zero queries whose results are never written.
  for (int idx = threadIdx.x; idx < kPrefillTileRows * HD; idx += kWarps * 32) {
    const int r = idx / HD, d = idx - r * HD;
    qs[idx] =
        r < n ? a.q[static_cast<int64_t>(first + r) * a.q_stride + static_cast<int64_t>(h) * HD + d]
              : 0.f;
  }

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][NPL];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    m[rr] = -INFINITY;
    l[rr] = 0.f;
#pragma unroll
    for (int i = 0; i < NPL; ++i) acc[rr][i] = 0.f;
  }

  // Uniform across the block, so the barriers inside are reached by every thread.
  const int num_key_tiles = last_pos >= 0 ? last_pos / kKeyTile + 1 : 0;
  for (int kt = 0; kt < num_key_tiles; ++kt) {
    const int k0 = kt * kKeyTile;
    __syncthreads();  // the previous key tile is no longer read

    // Keys past last_pos are zero-filled: their probability is 0, and 0 * (stale shared memory)
    // could be NaN.
    constexpr int kChunks = HD / 8;  // 16-byte chunks per key row
    for (int idx = threadIdx.x; idx < kKeyTile * kChunks; idx += kWarps * 32) {
      const int j = idx / kChunks, c = idx - j * kChunks;
      const int key = k0 + j;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
      if (key <= last_pos) {
        const int64_t block = table[key / a.block_size];
        const int64_t offset =
            kv_cache_index(block, g, key % a.block_size, a.n_kv_heads, a.block_size, HD) + c * 8;
        kv = *reinterpret_cast<const uint4*>(a.k_cache + offset);
        vv = *reinterpret_cast<const uint4*>(a.v_cache + offset);
      }
      *reinterpret_cast<uint4*>(ks + j * (HD + kKPad) + c * 8) = kv;
      *reinterpret_cast<uint4*>(vs + j * HD + c * 8) = vv;
    }
    __syncthreads();

    // Scores of this warp's rows against key k0 + lane.
    float s[kRowsPerWarp];
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) s[rr] = 0.f;
    const __half* krow = ks + lane * (HD + kKPad);
#pragma unroll 4
    for (int d0 = 0; d0 < HD; d0 += 8) {
      const uint4 raw = *reinterpret_cast<const uint4*>(krow + d0);
      const float kf[8] = {half_lo(raw.x), half_hi(raw.x), half_lo(raw.y), half_hi(raw.y),
                           half_lo(raw.z), half_hi(raw.z), half_lo(raw.w), half_hi(raw.w)};
#pragma unroll
      for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        // Every lane reads the same Q address: a broadcast.
        const float4* qrow =
            reinterpret_cast<const float4*>(qs + (warp * kRowsPerWarp + rr) * HD + d0);
        const float4 qa = qrow[0], qb = qrow[1];
        s[rr] += qa.x * kf[0] + qa.y * kf[1] + qa.z * kf[2] + qa.w * kf[3] + qb.x * kf[4] +
                 qb.y * kf[5] + qb.z * kf[6] + qb.w * kf[7];
      }
    }

    // Online softmax per row; every lane ends with the same m, l and corr (butterfly reductions).
    const int key = k0 + lane;
    float p[kRowsPerWarp];
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const int row_pos = p0 + warp * kRowsPerWarp + rr;  // causal: key visible iff key <= pos
      const float sc = key <= row_pos ? s[rr] * a.scale : -INFINITY;
      float tile_max = sc;
#pragma unroll
      for (int o = 16; o > 0; o >>= 1)
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));
      // m_new is -inf only while the row has seen no visible key (then l and acc are zero).
      const float m_new = fmaxf(m[rr], tile_max);
      const float corr = m[rr] == -INFINITY ? 0.f : expf(m[rr] - m_new);
      p[rr] = sc == -INFINITY ? 0.f : expf(sc - m_new);
      float tile_sum = p[rr];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) tile_sum += __shfl_xor_sync(0xffffffffu, tile_sum, o);
      l[rr] = l[rr] * corr + tile_sum;
      m[rr] = m_new;
#pragma unroll
      for (int i = 0; i < NPL; ++i) acc[rr][i] *= corr;
    }

    // acc[rr] += sum_j p_j(row rr) * V[j]; p_j lives in lane j.
#pragma unroll 4
    for (int j = 0; j < kKeyTile; ++j) {
      float vj[NPL];
#pragma unroll
      for (int i = 0; i < NPL; ++i) vj[i] = __half2float(vs[j * HD + i * 32 + lane]);
#pragma unroll
      for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        const float pj = __shfl_sync(0xffffffffu, p[rr], j);
#pragma unroll
        for (int i = 0; i < NPL; ++i) acc[rr][i] += pj * vj[i];
      }
    }
  }

#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int r = warp * kRowsPerWarp + rr;
    if (r >= n) continue;
    // l == 0 only for a row with no keys (negative position); the CPU backend writes zeros then.
    const float inv = l[rr] > 0.f ? 1.f / l[rr] : 0.f;
    OutT* out = static_cast<OutT*>(a.out) + (static_cast<int64_t>(first + r) * a.n_heads + h) * HD;
#pragma unroll
    for (int i = 0; i < NPL; ++i) out[i * 32 + lane] = from_float<OutT>(acc[rr][i] * inv);
  }
}

}  // namespace

void prefill_attention(const AttentionArgs& a, const int* tile_first_row, int num_tiles,
                       cudaStream_t stream) {
  const char* name = "prefill_attention";
  if (a.T < 0 || num_tiles < 0)
    throw std::invalid_argument(std::string(name) + ": negative T or num_tiles");
  check_attention_shape(a, name);
  if (a.n_heads > 65535)
    throw std::invalid_argument(std::string(name) + ": n_heads exceeds the grid's y limit");
  if (a.T == 0 || num_tiles == 0) return;
  check_attention_pointers(a, name);
  if (!tile_first_row) throw std::invalid_argument(std::string(name) + ": null pointer argument");
  // K/V rows are read in 16-byte chunks; a layer's cache inside one cudaMalloc'd buffer is
  // always aligned (its offset is a multiple of head_dim * 2 bytes, and head_dim % 32 == 0).
  if (reinterpret_cast<uintptr_t>(a.k_cache) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(a.v_cache) % 16 != 0)
    throw std::invalid_argument(std::string(name) + ": k_cache/v_cache not 16-byte aligned");

  dispatch_head_dim(a.head_dim, [&]<int HD>() {
    dispatch_dtype(a.out_dtype, [&]<typename OutT>() {
      constexpr size_t smem = prefill_smem_bytes<HD>();
      auto* kernel = prefill_attention_kernel<HD, OutT>;
      // Above 48 KiB (head_dim 256: 49664 bytes) dynamic shared memory needs an opt-in; sm_80
      // and sm_90 allow far more.
      if constexpr (smem > 48 * 1024)
        check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(smem)),
                   "cudaFuncSetAttribute(prefill_attention)");
      const dim3 grid(static_cast<unsigned>(num_tiles), static_cast<unsigned>(a.n_heads));
      kernel<<<grid, kWarps * 32, smem, stream>>>(a, tile_first_row);
      check_launch(name);
    });
  });
}

}  // namespace precis::cuda
