// Fixed pool of KV-cache blocks: a free list and a reference count per block. Knows nothing of
// sequences or tensors; the block manager (kv_cache.hpp) decides which sequence owns what.
// With prefix caching, a block named by its contents' hash (prefix_cache.hpp) is not freed at
// ref count zero: it waits, still findable, on the cache's LRU, and is evicted for new contents
// only once the plain free list is empty. Such waiting blocks count as free.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/prefix_cache.hpp"

namespace precis::engine {

class BlockAllocator {
 public:
  explicit BlockAllocator(int num_blocks, bool prefix_caching = false);

  // A free block with ref count 1, or nullopt when the pool is exhausted. Takes a plain free
  // block first, else evicts the least recently released cached one.
  std::optional<int> allocate();
  // A held block, or a cached block waiting on the LRU (taken back from it).
  void incref(int block);
  // At count zero a cached block joins the LRU; any other returns to the free list.
  void decref(int block);
  int ref_count(int block) const { return refs_.at(block); }

  int num_blocks() const { return static_cast<int>(refs_.size()); }
  int num_free() const {
    return static_cast<int>(free_.size()) + (cache_ ? cache_->num_evictable() : 0);
  }
  int num_used() const { return num_blocks() - num_free(); }

  // The prefix cache's index, or null with prefix caching off.
  PrefixCache* prefix_cache() { return cache_.get(); }
  const PrefixCache* prefix_cache() const { return cache_.get(); }

 private:
  std::vector<int> refs_;
  std::vector<int> free_;  // used as a stack: recently freed blocks are reused first (warm cache)
  std::unique_ptr<PrefixCache> cache_;
};

}  // namespace precis::engine
