#include "engine/block_allocator.hpp"

#include <stdexcept>
#include <string>

namespace precis::engine {

BlockAllocator::BlockAllocator(int num_blocks, bool prefix_caching) : refs_(num_blocks, 0) {
  if (num_blocks <= 0) throw std::invalid_argument("KV cache needs at least one block");
  free_.reserve(num_blocks);
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
  if (prefix_caching) cache_ = std::make_unique<PrefixCache>(num_blocks);
}

std::optional<int> BlockAllocator::allocate() {
  int b = 0;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (auto evicted = cache_ ? cache_->evict() : std::nullopt) {
    b = *evicted;
  } else {
    return std::nullopt;
  }
  refs_[b] = 1;
  return b;
}

void BlockAllocator::incref(int block) {
  if (refs_.at(block) <= 0) {
    if (!cache_ || !cache_->is_cached(block))
      throw std::logic_error("incref of free block " + std::to_string(block));
    cache_->revive(block);
  }
  ++refs_[block];
}

void BlockAllocator::decref(int block) {
  if (refs_.at(block) <= 0) throw std::logic_error("decref of free block " + std::to_string(block));
  if (--refs_[block] == 0 && !(cache_ && cache_->release(block))) free_.push_back(block);
}

}  // namespace precis::engine
