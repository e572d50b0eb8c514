// Automatic prefix caching's index (as vLLM's): full KV blocks are named by a hash of (parent
// block's hash, the block's token ids), so equal prefixes get equal chains of hashes whatever
// request computed them. The index maps hash -> block and keeps blocks that no request holds
// any more in an LRU, so they stay reusable until the allocator needs a fresh block and evicts
// the least recently freed one. Reference counts stay with BlockAllocator; this class only
// hears when a block's count reaches zero or leaves zero.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace precis::engine {

// Hash of a full block: depends on every token before it through `parent` (0 for the first
// block), so a block's hash names the whole prefix up to its end, not just its own tokens.
std::uint64_t prefix_block_hash(std::uint64_t parent, std::span<const int> tokens);

// The chain of hashes of a prompt's full blocks (a trailing partial block has none).
std::vector<std::uint64_t> prefix_block_hashes(std::span<const int> tokens, int block_size);

class PrefixCache {
 public:
  explicit PrefixCache(int num_blocks);

  // The block cached under `hash`, whether in use or in the free LRU.
  std::optional<int> lookup(std::uint64_t hash) const;
  // Names an in-use full block by its hash. A hash already cached keeps its first block (the
  // second copy stays an ordinary, unnamed block); returns whether `block` was registered.
  bool insert(std::uint64_t hash, int block);

  // The block's reference count reached zero: a named block joins the LRU tail and returns
  // true (keep it off the plain free list); an unnamed one returns false.
  bool release(int block);
  // A block found by lookup() while on the LRU is referenced again: it leaves the LRU.
  void revive(int block);
  // The block's contents are about to change (its sequence was cut back into it): unname it.
  void forget(int block);
  // The least recently released named block, forgotten and handed over for new contents;
  // nullopt when no cached block is free.
  std::optional<int> evict();

  bool is_cached(int block) const { return hash_of_[block].has_value(); }
  int num_evictable() const { return static_cast<int>(lru_.size()); }

  // The hit rate /metrics shows: tokens looked up at admission, and those found cached.
  void count_lookup(int queried_tokens, int hit_tokens) {
    queried_ += static_cast<std::uint64_t>(queried_tokens);
    hits_ += static_cast<std::uint64_t>(hit_tokens);
  }
  std::uint64_t queried_tokens() const { return queried_; }
  std::uint64_t hit_tokens() const { return hits_; }
  std::uint64_t evictions() const { return evictions_; }

 private:
  std::unordered_map<std::uint64_t, int> block_of_;
  std::vector<std::optional<std::uint64_t>> hash_of_;
  std::list<int> lru_;                             // front: least recently released
  std::vector<std::list<int>::iterator> lru_pos_;  // valid where in_lru_
  std::vector<bool> in_lru_;
  std::uint64_t queried_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t evictions_ = 0;
};

}  // namespace precis::engine
