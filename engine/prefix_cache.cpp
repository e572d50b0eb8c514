#include "engine/prefix_cache.hpp"

#include <stdexcept>

namespace precis::engine {

namespace {

// splitmix64's finalizer: cheap, and every input bit reaches every output bit, so chained
// hashes of different prefixes collide only by 64-bit chance.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::uint64_t prefix_block_hash(std::uint64_t parent, std::span<const int> tokens) {
  std::uint64_t h = mix(parent ^ 0x70726566697863ULL);  // "prefixc": 0 parent is not 0 hash
  for (int t : tokens) h = mix(h ^ static_cast<std::uint32_t>(t));
  return mix(h ^ tokens.size());
}

std::vector<std::uint64_t> prefix_block_hashes(std::span<const int> tokens, int block_size) {
  if (block_size <= 0) throw std::invalid_argument("prefix_block_hashes: block_size <= 0");
  std::vector<std::uint64_t> hashes;
  std::uint64_t parent = 0;
  for (std::size_t start = 0; start + block_size <= tokens.size(); start += block_size) {
    parent = prefix_block_hash(parent, tokens.subspan(start, block_size));
    hashes.push_back(parent);
  }
  return hashes;
}

PrefixCache::PrefixCache(int num_blocks)
    : hash_of_(num_blocks), lru_pos_(num_blocks), in_lru_(num_blocks, false) {}

std::optional<int> PrefixCache::lookup(std::uint64_t hash) const {
  auto it = block_of_.find(hash);
  if (it == block_of_.end()) return std::nullopt;
  return it->second;
}

bool PrefixCache::insert(std::uint64_t hash, int block) {
  if (hash_of_.at(block).has_value() || block_of_.contains(hash)) return false;
  block_of_.emplace(hash, block);
  hash_of_[block] = hash;
  return true;
}

bool PrefixCache::release(int block) {
  if (!hash_of_.at(block).has_value()) return false;
  if (in_lru_[block]) throw std::logic_error("PrefixCache::release: block already free");
  lru_pos_[block] = lru_.insert(lru_.end(), block);
  in_lru_[block] = true;
  return true;
}

void PrefixCache::revive(int block) {
  if (!in_lru_.at(block)) return;
  lru_.erase(lru_pos_[block]);
  in_lru_[block] = false;
}

void PrefixCache::forget(int block) {
  if (!hash_of_.at(block).has_value()) return;
  if (in_lru_[block]) throw std::logic_error("PrefixCache::forget: block is free");
  block_of_.erase(*hash_of_[block]);
  hash_of_[block].reset();
}

std::optional<int> PrefixCache::evict() {
  if (lru_.empty()) return std::nullopt;
  const int block = lru_.front();
  lru_.pop_front();
  in_lru_[block] = false;
  block_of_.erase(*hash_of_[block]);
  hash_of_[block].reset();
  ++evictions_;
  return block;
}

}  // namespace precis::engine
