// Where a token's K or V lives in one layer's paged cache, laid out
// [num_blocks][n_kv_heads][block_size][head_dim] (kernels.hpp): one formula for every kernel
// that reads or writes it.
#pragma once

#include <cstdint>

namespace precis::cuda {

// The index of element 0 of kv head g at `offset` within physical block `block`.
__device__ __forceinline__ int64_t kv_cache_index(int64_t block, int g, int64_t offset,
                                                  int n_kv_heads, int block_size, int head_dim) {
  return ((block * n_kv_heads + g) * block_size + offset) * head_dim;
}

}  // namespace precis::cuda
