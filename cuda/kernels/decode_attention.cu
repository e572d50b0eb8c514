// Decode attention over the paged f16 KV cache: one thread block per (row, head), each warp
// running an online softmax over a strided share of the row's keys, merged at the end.
// Split-K ("flash-decoding"): when (row, head) items are too few to fill the GPU and contexts
// are long, each item's keys are cut into `splits` partitions of whole KV blocks, one thread
// block each writing its partial softmax state (max, sum, unnormalised output) to a scratch
// buffer; the partials of each item are merged with log-sum-exp rescaling, by the item's last
// partition block to finish when the caller gives per-item counters (one kernel: a batch-1 7B
// step ran 32 merge launches of 4.6 us each), by a second kernel otherwise.
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/attention_common.cuh"
#include "cuda/kernels/dtype_convert.cuh"
#include "cuda/kernels/kernels.hpp"
#include "cuda/kernels/kv_cache_layout.cuh"
#include "cuda/kernels/rope_common.cuh"
#include "cuda/sm_count.hpp"

namespace precis::cuda {

namespace {

constexpr int kDecodeWarps = 4;
// Keys a warp loads before reducing any of them: the loads of a group are independent, so
// 2 * G * HD / 32 loads per lane are in flight instead of one key's worth, which is what bounds a
// single long-context row otherwise. Halved above head_dim 128 to keep registers near 100.
template <int HD>
constexpr int kKeysPerGroup = HD > 128 ? 4 : 8;

// Split-K heuristic (decode_split_count): aim for this many thread blocks per SM, give every
// partition at least kDecodeMinSplitKeys keys (kernels.hpp), and never cut an item into more
// than kMaxSplits. Measured on an H200 (32/8 heads, head_dim 128): 8 blocks per SM beat 4 and 16
// at batch 8 (1.9 vs 3.0 and 2.0 ms at 32K context) and cost 5-8% against 4 at batches 1 and 4.
// A block walks its keys in groups of kKeysPerGroup per warp, one after another, each group a
// dependent chain of loads, so a partition is latency-bound: at 256 keys per partition a batch-1
// 7B step at a 512-token context spent 40 us per layer in this kernel (21% of the step, ncu on
// an H200); partitions of 32 keys give each warp one group there.
constexpr int kSplitBlocksPerSm = 8;
constexpr int kMaxSplits = 64;

// The keys [begin, end) of partition `part` of `splits` of a row with ctx keys: whole KV blocks,
// ceil(blocks / splits) of them per partition but at least kDecodeMinSplitKeys keys' worth, so a
// short row (say, in a graph captured for the longest context) uses only its first partitions and
// the rest are empty. With splits == 1 the range is the whole row.
__device__ inline void split_range(int ctx, int block_size, int splits, int part, int& begin,
                                   int& end) {
  const int64_t blocks = (static_cast<int64_t>(ctx) + block_size - 1) / block_size;
  const int64_t min_blocks = (kDecodeMinSplitKeys + block_size - 1) / block_size;
  int64_t per = (blocks + splits - 1) / splits;
  if (per < min_blocks) per = min_blocks;
  const int64_t b = part * per * block_size, e = (part + 1) * per * block_size;
  begin = static_cast<int>(b < ctx ? b : ctx);
  end = static_cast<int>(e < ctx ? e : ctx);
}

// Merges the `splits` partials at `parts` (partition p's (max, sum, acc[HD]) at p * (HD + 2))
// into out[HD], each rescaled by exp(m_p - max_p m_p); an empty partition (m == -inf) contributes
// nothing, and an item with no keys at all (pos < 0) gets zeros. Each partition's factor is
// computed once, by its own thread, into s_m, so the loop over partitions per output dimension is
// loads and FMAs with no dependence between iterations. Called by every thread of a block of
// kDecodeWarps warps. Loads go through L2 (__ldcg): in the fused path other blocks wrote them.
template <int HD, typename OutT>
__device__ void merge_partials(const float* parts, int splits, OutT* out, float* s_m, float* s_l) {
  for (int p = threadIdx.x; p < splits; p += blockDim.x) {
    s_m[p] = __ldcg(parts + p * (HD + 2));
    s_l[p] = __ldcg(parts + p * (HD + 2) + 1);
  }
  __syncthreads();
  float m_all = -INFINITY;
  for (int p = 0; p < splits; ++p) m_all = fmaxf(m_all, s_m[p]);
  float denom = 0.f;
  for (int p = 0; p < splits; ++p)
    if (s_m[p] != -INFINITY) denom += expf(s_m[p] - m_all) * s_l[p];
  __syncthreads();  // every thread has read s_m before it turns into factors
  for (int p = threadIdx.x; p < splits; p += blockDim.x)
    s_m[p] = s_m[p] == -INFINITY ? 0.f : expf(s_m[p] - m_all);
  __syncthreads();
  const float inv = denom > 0.f ? 1.f / denom : 0.f;
  for (int d = threadIdx.x; d < HD; d += kDecodeWarps * 32) {
    float num = 0.f;
    for (int p = 0; p < splits; ++p) {
      // Skipped rather than weighted by 0: an empty partition leaves its acc unwritten.
      if (s_m[p] != 0.f) num += s_m[p] * __ldcg(parts + p * (HD + 2) + 2 + d);
    }
    out[d] = from_float<OutT>(num * inv);
  }
}

// In the fused split path, after this block wrote its partial: counts the partition in, and the
// last of the item's `splits` partitions to arrive (every one of whose partials is then visible)
// merges them and resets the counter for the next launch. Called by every thread.
template <int HD, typename OutT>
__device__ void merge_if_last(const AttentionArgs& a, int item, int splits) {
  static_assert(kMaxSplits <= kDecodeWarps * 32, "one thread per partition");
  __shared__ float s_m[kMaxSplits];
  __shared__ float s_l[kMaxSplits];
  __shared__ bool s_last;
  __threadfence();  // this thread's partial writes, before the count that publishes them
  __syncthreads();
  if (threadIdx.x == 0) {
    s_last = atomicAdd(a.split_counters + item, 1u) == static_cast<unsigned>(splits) - 1;
  }
  __syncthreads();
  if (!s_last) return;
  __threadfence();  // the count before the reads of the other partitions' partials
  merge_partials<HD, OutT>(a.split_scratch + static_cast<int64_t>(item) * splits * (HD + 2), splits,
                           static_cast<OutT*>(a.out) + static_cast<int64_t>(item) * HD, s_m, s_l);
  if (threadIdx.x == 0) a.split_counters[item] = 0;
}

// The fused RoPE (AttentionArgs::rope): rotates row t's q head h at pos[t] into s_q and, in the
// block whose partition holds the new token (holds_new), that token's k (rotated) and v of kv
// head g into s_k and s_v, rounded to f16 as the cache holds them. The first head of each kv
// group's block among those also stores them at the row's slot; no block of this launch reads
// that slot from the cache, so the store needs no ordering. Called by every thread of the block;
// the caller syncs before reading the shared arrays.
template <int HD>
__device__ void rope_new_token(const AttentionArgs& a, int t, int h, int g, bool holds_new,
                               float* s_q, __half* s_k, __half* s_v) {
  constexpr int kHalf = HD / 2;
  const float* row = a.q + static_cast<int64_t>(t) * a.q_stride;
  const float* qh = row + static_cast<int64_t>(h) * HD;
  const float* kh = row + static_cast<int64_t>(a.n_heads + g) * HD;
  const float* vh = row + static_cast<int64_t>(a.n_heads + a.n_kv_heads + g) * HD;
  const int p = a.pos[t];
  const int group = a.n_heads / a.n_kv_heads;
  const int slot = holds_new && h % group == 0 ? a.rope.slot_mapping[t] : -1;
  const int64_t cache_base = slot < 0 ? 0
                                      : kv_cache_index(slot / a.block_size, g, slot % a.block_size,
                                                       a.n_kv_heads, a.block_size, HD);
  for (int i = threadIdx.x; i < kHalf; i += blockDim.x) {
    float c, s;
    rope_cos_sin(p, a.rope.inv_freq[i], c, s);
    int ia, ib;
    rope_pair_index(i, kHalf, a.rope.interleaved, ia, ib);
    float r0, r1;
    rope_rotate(qh[ia], qh[ib], c, s, r0, r1);
    s_q[ia] = r0;
    s_q[ib] = r1;
    if (holds_new) {
      rope_rotate(kh[ia], kh[ib], c, s, r0, r1);
      const __half k0 = __float2half_rn(r0), k1 = __float2half_rn(r1);
      s_k[ia] = k0;
      s_k[ib] = k1;
      if (slot >= 0) {
        a.rope.k_store[cache_base + ia] = k0;
        a.rope.k_store[cache_base + ib] = k1;
      }
    }
  }
  if (holds_new) {
    for (int d = threadIdx.x; d < HD; d += blockDim.x) {
      const __half v = __float2half_rn(vh[d]);
      s_v[d] = v;
      if (slot >= 0) a.rope.v_store[cache_base + d] = v;
    }
  }
}

// Grid: x = (row * n_heads + head) * splits + partition. Block: kDecodeWarps warps. Lane owns
// dimensions lane + 32 * i (i < HD / 32), so each load instruction of a warp reads 64 contiguous
// bytes. Warp w takes the groups of keys [begin + w * G + c * kDecodeWarps * G, ... + G) for
// c = 0, 1, ... with G = kKeysPerGroup<HD>, [begin, end) being the block's partition.
// kSplit: writes the partition's (max, sum, unnormalised output) to the scratch instead of the
// output, and with kFusedMerge the item's last partition merges them; splits == 1 otherwise.
template <int HD, typename OutT, bool kSplit, bool kFusedMerge = false>
__global__ void __launch_bounds__(kDecodeWarps * 32)
    paged_attention_decode_kernel(const AttentionArgs a, const int splits) {
  constexpr int NPL = HD / 32;  // dimensions per lane
  constexpr int G = kKeysPerGroup<HD>;
  __shared__ float s_m[kDecodeWarps];
  __shared__ float s_l[kDecodeWarps];
  __shared__ float s_acc[kDecodeWarps][HD];

  const int item = static_cast<int>(blockIdx.x) / splits;
  const int t = item / a.n_heads;
  const int h = item - t * a.n_heads;
  const int g = h / (a.n_heads / a.n_kv_heads);
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;

  // Keys 0..pos[t]; a negative pos gives no keys and a zero output.
  const int ctx = a.pos[t] < 0 ? 0 : a.pos[t] + 1;
  int begin = 0, end = ctx;
  if constexpr (kSplit) {
    split_range(ctx, a.block_size, splits, static_cast<int>(blockIdx.x) - item * splits, begin,
                end);
    if (begin >= end) {  // uniform over the block, so no thread misses a barrier
      float* partial = a.split_scratch + static_cast<int64_t>(blockIdx.x) * (HD + 2);
      if (threadIdx.x == 0) {
        partial[0] = -INFINITY;  // contributes nothing to the merge
        partial[1] = 0.f;
      }
      if constexpr (kFusedMerge) merge_if_last<HD, OutT>(a, item, splits);
      return;
    }
  }
  const int* table = a.block_tables + static_cast<int64_t>(a.row_seq[t]) * a.max_blocks_per_seq;
  const float* q = a.q + static_cast<int64_t>(t) * a.q_stride + static_cast<int64_t>(h) * HD;

  // The fused RoPE: q rotated here, and the new token's k and v (key ctx - 1, in the partition
  // that ends the row) taken from shared memory instead of the cache.
  __shared__ float s_q[HD];
  __shared__ __half s_knew[HD];
  __shared__ __half s_vnew[HD];
  const bool fused_rope = a.rope.inv_freq != nullptr;
  const int new_key = fused_rope && end == ctx ? ctx - 1 : -1;  // ctx > 0: begin < end
  if (fused_rope) {
    rope_new_token<HD>(a, t, h, g, new_key >= 0, s_q, s_knew, s_vnew);
    __syncthreads();
  }

  float qv[NPL];
#pragma unroll
  for (int i = 0; i < NPL; ++i) qv[i] = fused_rope ? s_q[i * 32 + lane] : q[i * 32 + lane];

  float m = -INFINITY;  // running max of this warp's scores
  float l = 0.f;        // running sum of exp(score - m)
  float acc[NPL];       // running sum of exp(score - m) * v
#pragma unroll
  for (int i = 0; i < NPL; ++i) acc[i] = 0.f;

  // Loop bounds depend only on begin, end and warp, so every lane of a warp iterates together and
  // the full-mask shuffles below are legal.
  for (int base = begin + warp * G; base < end; base += kDecodeWarps * G) {
    __half kh[G][NPL];
    __half vh[G][NPL];
#pragma unroll
    for (int u = 0; u < G; ++u) {
      const int j = base + u;
      if (j == new_key) {
#pragma unroll
        for (int i = 0; i < NPL; ++i) {
          kh[u][i] = s_knew[i * 32 + lane];
          vh[u][i] = s_vnew[i * 32 + lane];
        }
      } else if (j < end) {
        const int64_t block = table[j / a.block_size];
        const int64_t offset =
            kv_cache_index(block, g, j % a.block_size, a.n_kv_heads, a.block_size, HD) + lane;
#pragma unroll
        for (int i = 0; i < NPL; ++i) {
          kh[u][i] = a.k_cache[offset + i * 32];
          vh[u][i] = a.v_cache[offset + i * 32];
        }
      } else {
#pragma unroll
        for (int i = 0; i < NPL; ++i) kh[u][i] = vh[u][i] = __float2half(0.f);
      }
    }

    float s[G];
#pragma unroll
    for (int u = 0; u < G; ++u) {
      float d = 0.f;
#pragma unroll
      for (int i = 0; i < NPL; ++i) d += qv[i] * __half2float(kh[u][i]);
      s[u] = d;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
      for (int u = 0; u < G; ++u) s[u] += __shfl_xor_sync(0xffffffffu, s[u], o);
    }

    // base < end, so key `base` is valid and the group max is finite.
    float group_max = -INFINITY;
#pragma unroll
    for (int u = 0; u < G; ++u) {
      s[u] = base + u < end ? s[u] * a.scale : -INFINITY;
      group_max = fmaxf(group_max, s[u]);
    }
    const float m_new = fmaxf(m, group_max);
    // m == -inf only before the warp's first group, when l and acc are still zero.
    const float corr = m == -INFINITY ? 0.f : expf(m - m_new);
    l *= corr;
#pragma unroll
    for (int i = 0; i < NPL; ++i) acc[i] *= corr;
#pragma unroll
    for (int u = 0; u < G; ++u) {
      const float p = s[u] == -INFINITY ? 0.f : expf(s[u] - m_new);
      l += p;
#pragma unroll
      for (int i = 0; i < NPL; ++i) acc[i] += p * __half2float(vh[u][i]);
    }
    m = m_new;
  }

  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < NPL; ++i) s_acc[warp][i * 32 + lane] = acc[i];
  __syncthreads();

  float m_all = -INFINITY;
#pragma unroll
  for (int w = 0; w < kDecodeWarps; ++w) m_all = fmaxf(m_all, s_m[w]);
  float factor[kDecodeWarps];  // a warp that saw no keys (m == -inf) contributes nothing
  float denom = 0.f;
#pragma unroll
  for (int w = 0; w < kDecodeWarps; ++w) {
    factor[w] = s_m[w] == -INFINITY ? 0.f : expf(s_m[w] - m_all);
    denom += factor[w] * s_l[w];
  }
  if constexpr (kSplit) {
    // This partition's (max, sum, acc[HD]).
    float* partial = a.split_scratch + static_cast<int64_t>(blockIdx.x) * (HD + 2);
    if (threadIdx.x == 0) {
      partial[0] = m_all;
      partial[1] = denom;
    }
    for (int d = threadIdx.x; d < HD; d += kDecodeWarps * 32) {
      float num = 0.f;
#pragma unroll
      for (int w = 0; w < kDecodeWarps; ++w) num += factor[w] * s_acc[w][d];
      partial[2 + d] = num;
    }
    if constexpr (kFusedMerge) merge_if_last<HD, OutT>(a, item, splits);
  } else {
    // denom == 0 only when the row has no keys; the CPU backend writes zeros then too.
    const float inv = denom > 0.f ? 1.f / denom : 0.f;
    OutT* out = static_cast<OutT*>(a.out) + (static_cast<int64_t>(t) * a.n_heads + h) * HD;
    for (int d = threadIdx.x; d < HD; d += kDecodeWarps * 32) {
      float num = 0.f;
#pragma unroll
      for (int w = 0; w < kDecodeWarps; ++w) num += factor[w] * s_acc[w][d];
      out[d] = from_float<OutT>(num * inv);
    }
  }
}

// Grid: x = row * n_heads + head; merges the `splits` partials of that item (the unfused path).
template <int HD, typename OutT>
__global__ void __launch_bounds__(kDecodeWarps * 32)
    decode_split_merge_kernel(const AttentionArgs a, const int splits) {
  __shared__ float s_m[kMaxSplits];  // each partition's max, then its factor exp(m - m_all)
  __shared__ float s_l[kMaxSplits];
  const int item = blockIdx.x;
  merge_partials<HD, OutT>(a.split_scratch + static_cast<int64_t>(item) * splits * (HD + 2), splits,
                           static_cast<OutT*>(a.out) + static_cast<int64_t>(item) * HD, s_m, s_l);
}

}  // namespace

int decode_split_count(int rows, int n_heads, int max_context) {
  if (rows <= 0 || n_heads <= 0 || max_context <= 0) return 1;
  const int64_t items = static_cast<int64_t>(rows) * n_heads;
  const int64_t target = static_cast<int64_t>(kSplitBlocksPerSm) * current_device_sm_count();
  int64_t splits = (target + items - 1) / items;
  splits = std::min<int64_t>(splits, (max_context + kDecodeMinSplitKeys - 1) / kDecodeMinSplitKeys);
  splits = std::min<int64_t>(splits, kMaxSplits);
  return static_cast<int>(std::max<int64_t>(splits, 1));
}

int64_t decode_split_scratch_floats(int max_rows, int n_heads, int head_dim, int max_context) {
  // The split count falls as rows grow, so the largest need may be at any batch size up to
  // max_rows; batches that do not split need none.
  int64_t floats = 0;
  for (int rows = 1; rows <= max_rows; ++rows) {
    const int splits = decode_split_count(rows, n_heads, max_context);
    if (splits > 1)
      floats = std::max(floats, static_cast<int64_t>(rows) * n_heads * splits * (head_dim + 2));
  }
  return floats;
}

void paged_attention_decode(const AttentionArgs& a, cudaStream_t stream) {
  const char* name = "paged_attention_decode";
  if (a.T < 0) throw std::invalid_argument(std::string(name) + ": negative T");
  check_attention_shape(a, name);
  const int64_t items = static_cast<int64_t>(a.T) * a.n_heads;
  if (items > INT32_MAX)
    throw std::invalid_argument(std::string(name) + ": T * n_heads exceeds the grid limit");
  if (a.T == 0) return;
  check_attention_pointers(a, name);
  if (a.rope.inv_freq != nullptr) {
    if (!a.rope.slot_mapping || a.rope.k_store != a.k_cache || a.rope.v_store != a.v_cache)
      throw std::invalid_argument(std::string(name) +
                                  ": the fused RoPE needs slot_mapping, and k_store/v_store the "
                                  "same caches as k_cache/v_cache");
    if (a.q_stride < (a.n_heads + 2 * a.n_kv_heads) * a.head_dim)
      throw std::invalid_argument(
          std::string(name) + ": the fused RoPE reads k and v from the qkv rows, but q_stride " +
          std::to_string(a.q_stride) + " is narrower than one");
  }

  // The split count depends only on host values (never on pos), so a captured graph's launch
  // stays valid for any contexts; the kernel adapts each row's partitions to its own length.
  const int splits = decode_split_count(a.T, a.n_heads, a.max_context);
  const int64_t scratch_needed = items * splits * (a.head_dim + 2);
  const bool split = splits > 1 && a.split_scratch != nullptr &&
                     a.split_scratch_floats >= scratch_needed && items * splits <= INT32_MAX;
  const bool fused = a.split_counters != nullptr && a.split_counters_len >= items;

  dispatch_head_dim(a.head_dim, [&]<int HD>() {
    dispatch_dtype(a.out_dtype, [&]<typename OutT>() {
      if (split && fused) {
        paged_attention_decode_kernel<HD, OutT, true, true>
            <<<static_cast<unsigned>(items * splits), kDecodeWarps * 32, 0, stream>>>(a, splits);
        check_launch(name);
      } else if (split) {
        paged_attention_decode_kernel<HD, OutT, true>
            <<<static_cast<unsigned>(items * splits), kDecodeWarps * 32, 0, stream>>>(a, splits);
        check_launch(name);
        decode_split_merge_kernel<HD, OutT>
            <<<static_cast<unsigned>(items), kDecodeWarps * 32, 0, stream>>>(a, splits);
        check_launch("paged_attention_decode (split-K merge)");
      } else {
        paged_attention_decode_kernel<HD, OutT, false>
            <<<static_cast<unsigned>(items), kDecodeWarps * 32, 0, stream>>>(a, 1);
        check_launch(name);
      }
    });
  });
}

}  // namespace precis::cuda
