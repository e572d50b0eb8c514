#include "engine/block_allocator.hpp"

#include <stdexcept>
#include <string>

namespace precis::engine {

BlockAllocator::BlockAllocator(int num_blocks) : refs_(num_blocks, 0) {
  if (num_blocks <= 0) throw std::invalid_argument("KV cache needs at least one block");
  free_.reserve(num_blocks);
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

std::optional<int> BlockAllocator::allocate() {
  if (free_.empty()) return std::nullopt;
  int b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  return b;
}

void BlockAllocator::incref(int block) {
  if (refs_.at(block) <= 0) throw std::logic_error("incref of free block " + std::to_string(block));
  ++refs_[block];
}

void BlockAllocator::decref(int block) {
  if (refs_.at(block) <= 0) throw std::logic_error("decref of free block " + std::to_string(block));
  if (--refs_[block] == 0) free_.push_back(block);
}

}  // namespace precis::engine
