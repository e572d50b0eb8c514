#include "engine/kv_cache.hpp"

#include <stdexcept>
#include <string>

namespace precis::engine {

KvCacheManager::KvCacheManager(int num_blocks, int block_size)
    : block_size_(block_size), alloc_(num_blocks) {
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
