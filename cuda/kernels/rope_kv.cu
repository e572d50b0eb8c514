// Rotary position embedding of q and k, fused with the store of k and v into the paged f16 cache.
#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/kernels.hpp"
#include "cuda/kernels/kv_cache_layout.cuh"
#include "cuda/kernels/rope_common.cuh"

namespace precis::cuda {

namespace {

constexpr int kThreads = 256;
// The cos/sin table lives in dynamic shared memory, head_dim floats; keep it well inside the
// 48 KiB available without opting in.
constexpr int kMaxHeadDim = 8192;

// Grid (token row, chunk): the chunks of a row split its work items, so a decode step's single
// row runs on many SMs (one block per row took 12.7 us per layer at 7B shapes on an H200, a
// chain of one load round trip per item). Each block computes its row's cos/sin into shared
// memory (in double, then rounded to float, exactly as engine/cpu_backend.cpp's apply_rope) for
// its q and k heads. Each rotation work item is one (head, i) pair (half-split or interleaved);
// k heads also go to the cache; each v item is one element converted and stored.
__global__ void rope_and_store_kv_kernel(float* __restrict__ qkv, const int* __restrict__ pos,
                                         const int* __restrict__ slot_mapping, int n_heads,
                                         int n_kv_heads, int head_dim,
                                         const double* __restrict__ inv_freq,
                                         __half* __restrict__ k_cache, __half* __restrict__ v_cache,
                                         int block_size, bool interleaved) {
  extern __shared__ float cos_sin[];  // [half] cos, then [half] sin
  const int t = blockIdx.x;
  const int half = head_dim / 2;
  const int p = pos[t];
  for (int i = threadIdx.x; i < half; i += blockDim.x)
    rope_cos_sin(p, inv_freq[i], cos_sin[i], cos_sin[half + i]);
  __syncthreads();

  const int row_width = (n_heads + 2 * n_kv_heads) * head_dim;
  float* row = qkv + static_cast<int64_t>(t) * row_width;
  // A negative slot marks a row whose K/V must not be stored (vLLM's padding convention); the
  // engine never produces one, but it must not turn into an out-of-bounds write.
  const int slot = slot_mapping[t];
  const bool store = slot >= 0;
  const int64_t block = store ? slot / block_size : 0;
  const int64_t offset = store ? slot % block_size : 0;
  // Element (block, g, offset, 0) of a layer's cache, for kv head g.
  auto cache_index = [&](int g) {
    return kv_cache_index(block, g, offset, n_kv_heads, block_size, head_dim);
  };

  const int rot_items = (n_heads + n_kv_heads) * half;
  const int first = blockIdx.y * blockDim.x + threadIdx.x;
  const int stride = gridDim.y * blockDim.x;
  for (int j = first; j < rot_items; j += stride) {
    const int h = j / half, i = j - h * half;
    int ia, ib;
    rope_pair_index(i, half, interleaved, ia, ib);
    float* v = row + h * head_dim;
    float r0, r1;
    rope_rotate(v[ia], v[ib], cos_sin[i], cos_sin[half + i], r0, r1);
    v[ia] = r0;
    v[ib] = r1;
    if (h >= n_heads && store) {
      __half* k = k_cache + cache_index(h - n_heads);
      k[ia] = __float2half_rn(r0);
      k[ib] = __float2half_rn(r1);
    }
  }

  if (!store) return;
  const float* vrow = row + (n_heads + n_kv_heads) * head_dim;
  const int v_items = n_kv_heads * head_dim;
  for (int j = first; j < v_items; j += stride) {
    const int g = j / head_dim, d = j - g * head_dim;
    v_cache[cache_index(g) + d] = __float2half_rn(vrow[j]);
  }
}

}  // namespace

void rope_and_store_kv(float* qkv, const int* pos, const int* slot_mapping, int T, int n_heads,
                       int n_kv_heads, int head_dim, const double* inv_freq, __half* k_cache,
                       __half* v_cache, int block_size, cudaStream_t stream, bool interleaved) {
  if (T < 0) throw std::invalid_argument("rope_and_store_kv: T must be >= 0");
  if (n_heads <= 0 || n_kv_heads <= 0)
    throw std::invalid_argument("rope_and_store_kv: n_heads and n_kv_heads must be > 0");
  if (head_dim <= 0 || head_dim % 2 != 0 || head_dim > kMaxHeadDim)
    throw std::invalid_argument("rope_and_store_kv: head_dim must be even, in [2, 8192]");
  if (block_size <= 0) throw std::invalid_argument("rope_and_store_kv: block_size must be > 0");
  if ((static_cast<int64_t>(n_heads) + 2 * static_cast<int64_t>(n_kv_heads)) * head_dim > INT32_MAX)
    throw std::invalid_argument("rope_and_store_kv: qkv row too wide");
  if (T == 0) return;
  const size_t smem = sizeof(float) * static_cast<size_t>(head_dim);
  const int64_t items = std::max<int64_t>(static_cast<int64_t>(n_heads + n_kv_heads) * head_dim / 2,
                                          static_cast<int64_t>(n_kv_heads) * head_dim);
  const int chunks = static_cast<int>(std::min<int64_t>((items + kThreads - 1) / kThreads, 65535));
  rope_and_store_kv_kernel<<<dim3(T, chunks), kThreads, smem, stream>>>(
      qkv, pos, slot_mapping, n_heads, n_kv_heads, head_dim, inv_freq, k_cache, v_cache, block_size,
      interleaved);
  check_launch("rope_and_store_kv_kernel");
}

}  // namespace precis::cuda
