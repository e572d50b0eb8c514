// Copy-on-write of KV-cache blocks: a shared block about to be written is duplicated first.
#include <cstdint>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

namespace {

constexpr int kThreads = 256;

// grid = (n * num_layers, 2): blockIdx.x is (pair, layer), blockIdx.y picks K or V; the block
// strides over the block's elements in units of U (uint4 when 16-byte aligned, else __half).
// Offsets are in units of U. The copies of one call never overlap (src and dst blocks are
// distinct), so blocks need no ordering among themselves.
template <typename U>
__global__ void copy_kv_blocks_kernel(U* k_cache, U* v_cache, const int* __restrict__ src,
                                      const int* __restrict__ dst, int num_layers,
                                      int64_t block_units, int64_t layer_stride_units) {
  const int pair = blockIdx.x / num_layers;
  const int layer = blockIdx.x - pair * num_layers;
  U* cache = blockIdx.y == 0 ? k_cache : v_cache;
  U* layer_base = cache + layer * layer_stride_units;
  const U* from = layer_base + src[pair] * block_units;
  U* to = layer_base + dst[pair] * block_units;
  for (int64_t e = threadIdx.x; e < block_units; e += blockDim.x) to[e] = from[e];
}

}  // namespace

void copy_kv_blocks(__half* k_cache, __half* v_cache, const int* src, const int* dst, int n,
                    int num_layers, int64_t block_elems, int64_t layer_stride,
                    cudaStream_t stream) {
  if (n < 0) throw std::invalid_argument("copy_kv_blocks: n must be >= 0");
  if (num_layers <= 0) throw std::invalid_argument("copy_kv_blocks: num_layers must be > 0");
  if (block_elems <= 0) throw std::invalid_argument("copy_kv_blocks: block_elems must be > 0");
  if (layer_stride < block_elems)
    throw std::invalid_argument("copy_kv_blocks: layer_stride must be >= block_elems");
  if (static_cast<int64_t>(n) * num_layers > INT32_MAX)
    throw std::invalid_argument("copy_kv_blocks: n * num_layers too large");
  if (n == 0) return;
  const dim3 grid(n * num_layers, 2);
  // 16-byte copies when every block start is 16-byte aligned: both bases aligned, and block
  // and layer strides whole multiples of 8 halves.
  const bool vec = reinterpret_cast<uintptr_t>(k_cache) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(v_cache) % 16 == 0 && block_elems % 8 == 0 &&
                   layer_stride % 8 == 0;
  if (vec) {
    copy_kv_blocks_kernel<uint4><<<grid, kThreads, 0, stream>>>(
        reinterpret_cast<uint4*>(k_cache), reinterpret_cast<uint4*>(v_cache), src, dst, num_layers,
        block_elems / 8, layer_stride / 8);
  } else {
    copy_kv_blocks_kernel<__half><<<grid, kThreads, 0, stream>>>(
        k_cache, v_cache, src, dst, num_layers, block_elems, layer_stride);
  }
  check_launch("copy_kv_blocks_kernel");
}

}  // namespace precis::cuda
