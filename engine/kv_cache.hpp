// The block manager: each sequence's block table (logical position -> physical KV block), fork
// by sharing blocks, and copy-on-write when a sequence appends into a block someone else holds.
// It decides *where* KV lives; the backend owns the memory and performs the copies it is told.
// With prefix caching, full blocks are named by the hash of their prefix once computed, and a
// new sequence starts on the cached blocks of its longest cached prefix instead of computing it.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/block_allocator.hpp"

namespace precis::engine {

using SeqId = int64_t;

struct BlockCopy {
  int src = 0;
  int dst = 0;
};

class KvCacheManager {
 public:
  KvCacheManager(int num_blocks, int block_size, bool prefix_caching = false);

  int block_size() const { return block_size_; }
  const BlockAllocator& allocator() const { return alloc_; }

  // Blocks needed for `seq` (absent: a new, empty sequence) to hold `n` more tokens, counting
  // the copy a shared last block would need.
  int blocks_needed(SeqId seq, int n) const;
  bool can_append(SeqId seq, int n) const { return blocks_needed(seq, n) <= alloc_.num_free(); }

  // Reserves slots for `n` more tokens of `seq`, creating its table if new. If the last block
  // is shared and the new tokens land in it, it is copied first and the copy is appended to
  // `copies` for the backend to execute before the forward pass. Returns false (and changes
  // nothing) when there are not enough free blocks.
  bool append_slots(SeqId seq, int n, std::vector<BlockCopy>& copies);

  // `child` starts with the same blocks as `parent` (ref counts incremented).
  void fork(SeqId parent, SeqId child);
  // Releases every block of `seq`.
  void free(SeqId seq);
  // Keeps only the first `n` tokens of `seq`, releasing the blocks past them.
  void truncate(SeqId seq, int n);

  // Prefix caching (no-ops returning 0 when off). A sequence with no blocks yet starts on the
  // cached blocks of the longest cached prefix of `tokens`; returns how many tokens they hold
  // (whole blocks, never all of `tokens`: the last token must run to give logits). Creates no
  // table when nothing matches.
  int match_prefix(SeqId seq, std::span<const int> tokens);
  // Names the blocks of `seq` that its first `num_computed` tokens fill, so later sequences can
  // find them. Call once their K/V has been written.
  void cache_full_blocks(SeqId seq, std::span<const int> tokens, int num_computed);
  bool prefix_caching() const { return alloc_.prefix_cache() != nullptr; }
  // Counts an admitted sequence's lookup for the hit rate.
  void count_prefix_lookup(int queried_tokens, int hit_tokens);

  bool has(SeqId seq) const { return tables_.count(seq) != 0; }
  const std::vector<int>& block_table(SeqId seq) const;
  int num_tokens(SeqId seq) const;
  int num_sequences() const { return static_cast<int>(tables_.size()); }

 private:
  struct Table {
    std::vector<int> blocks;
    int num_tokens = 0;
    std::vector<uint64_t> hashes;  // prefix hashes of the leading full blocks named so far
  };
  int block_size_;
  BlockAllocator alloc_;
  std::unordered_map<SeqId, Table> tables_;
};

}  // namespace precis::engine
