// Fixed pool of KV-cache blocks: a free list and a reference count per block. Knows nothing of
// sequences or tensors; the block manager (kv_cache.hpp) decides which sequence owns what.
#pragma once

#include <optional>
#include <vector>

namespace precis::engine {

class BlockAllocator {
 public:
  explicit BlockAllocator(int num_blocks);

  // A free block with ref count 1, or nullopt when the pool is exhausted.
  std::optional<int> allocate();
  void incref(int block);
  // Returns the block to the free list when its count reaches zero.
  void decref(int block);
  int ref_count(int block) const { return refs_.at(block); }

  int num_blocks() const { return static_cast<int>(refs_.size()); }
  int num_free() const { return static_cast<int>(free_.size()); }
  int num_used() const { return num_blocks() - num_free(); }

 private:
  std::vector<int> refs_;
  std::vector<int> free_;  // used as a stack: recently freed blocks are reused first (warm cache)
};

}  // namespace precis::engine
