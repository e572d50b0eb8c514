// Decode attention over the paged f16 KV cache: one thread block per (row, head), each warp
// running an online softmax over a strided share of the row's keys, merged at the end.
#include <cuda_fp16.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/attention_common.cuh"
#include "cuda/kernels/dtype_convert.cuh"
#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

namespace {

constexpr int kDecodeWarps = 4;
// Keys a warp loads before reducing any of them: the loads of a group are independent, so
// 2 * G * HD / 32 loads per lane are in flight instead of one key's worth, which is what bounds a
// single long-context row otherwise. Halved above head_dim 128 to keep registers near 100.
template <int HD>
constexpr int kKeysPerGroup = HD > 128 ? 4 : 8;

// Grid: x = row * n_heads + head. Block: kDecodeWarps warps. Lane owns dimensions
// lane + 32 * i (i < HD / 32), so each load instruction of a warp reads 64 contiguous bytes.
// Warp w takes the groups of keys [w * G + c * kDecodeWarps * G, ... + G) for c = 0, 1, ...
// with G = kKeysPerGroup<HD>.
template <int HD, typename OutT>
__global__ void __launch_bounds__(kDecodeWarps * 32)
    paged_attention_decode_kernel(const AttentionArgs a) {
  constexpr int NPL = HD / 32;  // dimensions per lane
  constexpr int G = kKeysPerGroup<HD>;
  __shared__ float s_m[kDecodeWarps];
  __shared__ float s_l[kDecodeWarps];
  __shared__ float s_acc[kDecodeWarps][HD];

  const int item = blockIdx.x;
  const int t = item / a.n_heads;
  const int h = item - t * a.n_heads;
  const int g = h / (a.n_heads / a.n_kv_heads);
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;

  const int ctx = a.pos[t] + 1;  // keys 0..pos[t]; a negative pos gives no keys and a zero output
  const int* table = a.block_tables + static_cast<int64_t>(a.row_seq[t]) * a.max_blocks_per_seq;
  const float* q = a.q + static_cast<int64_t>(t) * a.q_stride + static_cast<int64_t>(h) * HD;

  float qv[NPL];
#pragma unroll
  for (int i = 0; i < NPL; ++i) qv[i] = q[i * 32 + lane];

  float m = -INFINITY;  // running max of this warp's scores
  float l = 0.f;        // running sum of exp(score - m)
  float acc[NPL];       // running sum of exp(score - m) * v
#pragma unroll
  for (int i = 0; i < NPL; ++i) acc[i] = 0.f;

  // Loop bounds depend only on ctx and warp, so every lane of a warp iterates together and the
  // full-mask shuffles below are legal.
  for (int base = warp * G; base < ctx; base += kDecodeWarps * G) {
    __half kh[G][NPL];
    __half vh[G][NPL];
#pragma unroll
    for (int u = 0; u < G; ++u) {
      const int j = base + u;
      if (j < ctx) {
        const int64_t block = table[j / a.block_size];
        const int64_t offset =
            ((block * a.n_kv_heads + g) * a.block_size + j % a.block_size) * HD + lane;
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

    // base < ctx, so key `base` is valid and the group max is finite.
    float group_max = -INFINITY;
#pragma unroll
    for (int u = 0; u < G; ++u) {
      s[u] = base + u < ctx ? s[u] * a.scale : -INFINITY;
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

}  // namespace

void paged_attention_decode(const AttentionArgs& a, cudaStream_t stream) {
  const char* name = "paged_attention_decode";
  if (a.T < 0) throw std::invalid_argument(std::string(name) + ": negative T");
  check_attention_shape(a, name);
  const int64_t items = static_cast<int64_t>(a.T) * a.n_heads;
  if (items > INT32_MAX)
    throw std::invalid_argument(std::string(name) + ": T * n_heads exceeds the grid limit");
  if (a.T == 0) return;
  check_attention_pointers(a, name);

  dispatch_head_dim(a.head_dim, [&]<int HD>() {
    dispatch_dtype(a.out_dtype, [&]<typename OutT>() {
      paged_attention_decode_kernel<HD, OutT>
          <<<static_cast<unsigned>(items), kDecodeWarps * 32, 0, stream>>>(a);
      check_launch(name);
    });
  });
}

}  // namespace precis::cuda
