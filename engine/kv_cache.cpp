#include "engine/kv_cache.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace precis::engine {

KvCacheManager::KvCacheManager(int num_blocks, int block_size, bool prefix_caching)
    : block_size_(block_size), alloc_(num_blocks, prefix_caching) {
  if (block_size <= 0) throw std::invalid_argument("block size must be positive");
}

int KvCacheManager::blocks_needed(SeqId seq, int n) const {
  auto it = tables_.find(seq);
  int have_tokens = 0, have_blocks = 0;
  bool last_shared = false;
  if (it != tables_.end()) {
    have_tokens = it->second.num_tokens;
    have_blocks = static_cast<int>(it->second.blocks.size());
    if (have_blocks > 0) last_shared = alloc_.ref_count(it->second.blocks.back()) > 1;
  }
  const int need_blocks = (have_tokens + n + block_size_ - 1) / block_size_;
  int extra = need_blocks - have_blocks;
  // Writing into a partially filled shared block requires a private copy of it.
  if (n > 0 && last_shared && have_tokens % block_size_ != 0) ++extra;
  return extra < 0 ? 0 : extra;
}

bool KvCacheManager::append_slots(SeqId seq, int n, std::vector<BlockCopy>& copies) {
  if (!can_append(seq, n)) return false;
  Table& t = tables_[seq];
  if (n > 0 && !t.blocks.empty() && t.num_tokens % block_size_ != 0 &&
      alloc_.ref_count(t.blocks.back()) > 1) {
    int fresh = *alloc_.allocate();
    copies.push_back({t.blocks.back(), fresh});
    alloc_.decref(t.blocks.back());
    t.blocks.back() = fresh;
  }
  t.num_tokens += n;
  const size_t need = static_cast<size_t>((t.num_tokens + block_size_ - 1) / block_size_);
  while (t.blocks.size() < need) t.blocks.push_back(*alloc_.allocate());
  return true;
}

void KvCacheManager::fork(SeqId parent, SeqId child) {
  const Table& p = tables_.at(parent);
  if (tables_.count(child)) throw std::logic_error("fork into existing sequence");
  for (int b : p.blocks) alloc_.incref(b);
  tables_[child] = p;
}

void KvCacheManager::free(SeqId seq) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) return;
  for (int b : it->second.blocks) alloc_.decref(b);
  tables_.erase(it);
}

void KvCacheManager::truncate(SeqId seq, int n) {
  Table& t = tables_.at(seq);
  if (n < 0 || n > t.num_tokens) throw std::out_of_range("truncate past the end of a sequence");
  const size_t keep = static_cast<size_t>((n + block_size_ - 1) / block_size_);
  while (t.blocks.size() > keep) {
    alloc_.decref(t.blocks.back());
    t.blocks.pop_back();
  }
  t.num_tokens = n;
  const size_t full = static_cast<size_t>(n / block_size_);
  if (t.hashes.size() > full) {
    t.hashes.resize(full);
    // The next append writes into this block. Shared, it is copied first (copy-on-write); held
    // by this sequence alone, it is written in place, so its name no longer fits its contents.
    PrefixCache* cache = alloc_.prefix_cache();
    if (cache && full < t.blocks.size() && alloc_.ref_count(t.blocks[full]) == 1)
      cache->forget(t.blocks[full]);
  }
}

int KvCacheManager::match_prefix(SeqId seq, std::span<const int> tokens) {
  PrefixCache* cache = alloc_.prefix_cache();
  if (!cache || tokens.empty()) return 0;
  if (tables_.count(seq)) throw std::logic_error("match_prefix on a sequence that has blocks");
  Table t;
  const auto hashes = prefix_block_hashes(tokens.first(tokens.size() - 1), block_size_);
  for (uint64_t h : hashes) {
    const auto block = cache->lookup(h);
    if (!block) break;
    alloc_.incref(*block);
    t.blocks.push_back(*block);
    t.hashes.push_back(h);
  }
  if (t.blocks.empty()) return 0;
  t.num_tokens = static_cast<int>(t.blocks.size()) * block_size_;
  const int matched = t.num_tokens;
  tables_[seq] = std::move(t);
  return matched;
}

void KvCacheManager::cache_full_blocks(SeqId seq, std::span<const int> tokens, int num_computed) {
  PrefixCache* cache = alloc_.prefix_cache();
  if (!cache) return;
  Table& t = tables_.at(seq);
  const size_t full = static_cast<size_t>(std::min(num_computed, t.num_tokens) / block_size_);
  while (t.hashes.size() < full) {
    const size_t i = t.hashes.size();
    const uint64_t parent = i == 0 ? 0 : t.hashes.back();
    const uint64_t h = prefix_block_hash(parent, tokens.subspan(i * block_size_, block_size_));
    // A block with the same contents already named keeps the name; this copy stays anonymous.
    cache->insert(h, t.blocks[i]);
    t.hashes.push_back(h);
  }
}

void KvCacheManager::count_prefix_lookup(int queried_tokens, int hit_tokens) {
  if (PrefixCache* cache = alloc_.prefix_cache()) cache->count_lookup(queried_tokens, hit_tokens);
}

const std::vector<int>& KvCacheManager::block_table(SeqId seq) const {
  auto it = tables_.find(seq);
  if (it == tables_.end())
    throw std::logic_error("no block table for sequence " + std::to_string(seq));
  return it->second.blocks;
}

int KvCacheManager::num_tokens(SeqId seq) const {
  auto it = tables_.find(seq);
  return it == tables_.end() ? 0 : it->second.num_tokens;
}

}  // namespace precis::engine
