// Decides *what* runs in each step (continuous batching): running sequences decode one token,
// prompts are prefilled in chunks under a per-step token budget, new requests join between
// steps, and when KV blocks run out the newest sequences are preempted (their blocks freed) and
// recomputed later. It asks the block manager for slots and never touches tensors.
#pragma once

#include <deque>
#include <vector>

#include "engine/kv_cache.hpp"
#include "engine/sequence.hpp"

namespace precis::engine {

struct SchedulerConfig {
  int max_num_seqs = 256;        // sequences in one step
  int max_batched_tokens = 512;  // tokens in one step; a longer prompt is prefilled in chunks
};

struct ScheduledChunk {
  Sequence* seq = nullptr;
  int num_tokens = 0;  // run tokens[num_computed, num_computed + num_tokens)
};

struct SchedulerOutput {
  std::vector<ScheduledChunk> chunks;
  std::vector<BlockCopy> copies;  // copy-on-write work for the backend, before the forward
  std::vector<Sequence*> preempted;
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, KvCacheManager& kv);

  void add(Sequence* seq);  // joins the waiting queue
  // A sequence forked from a running one: its blocks already exist, so it runs at once.
  void add_running(Sequence* seq);
  // Forgets a sequence (finished or aborted) and frees its blocks.
  void remove(Sequence* seq);
  SchedulerOutput schedule();

  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int num_running() const { return static_cast<int>(running_.size()); }
  bool empty() const { return waiting_.empty() && running_.empty(); }
  const SchedulerConfig& config() const { return config_; }

 private:
  void preempt(Sequence* seq, SchedulerOutput& out);

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> running_;  // in arrival order
};

}  // namespace precis::engine
