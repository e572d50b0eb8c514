// The block manager: each sequence's block table (logical position -> physical KV block), fork
// by sharing blocks, and copy-on-write when a sequence appends into a block someone else holds.
// It decides *where* KV lives; the backend owns the memory and performs the copies it is told.
#pragma once

#include <cstdint>
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
  KvCacheManager(int num_blocks, int block_size);

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

  bool has(SeqId seq) const { return tables_.count(seq) != 0; }
  const std::vector<int>& block_table(SeqId seq) const;
  int num_tokens(SeqId seq) const;
  int num_sequences() const { return static_cast<int>(tables_.size()); }

 private:
  struct Table {
    std::vector<int> blocks;
    int num_tokens = 0;
  };
  int block_size_;
  BlockAllocator alloc_;
  std::unordered_map<SeqId, Table> tables_;
};

}  // namespace precis::engine
