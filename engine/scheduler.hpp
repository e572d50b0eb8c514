// Decides *what* runs in each step (continuous batching): running sequences decode one token,
// prompts are prefilled in chunks under a per-step token budget, new requests join between
// steps, and when KV blocks run out the newest request is preempted (its blocks freed) and
// recomputed later. The sequences of one request (its samples or beams: a group, marked by their
// shared arrival) are scheduled and preempted together: a decoding group runs whole in a step or
// waits, and a preempted group comes back by recomputing the prompt once, in its first sequence,
// the others forking from it at the end of the prompt. It asks the block manager for slots and
// never touches tensors.
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
  // A sequence forked from a running one of its group: its blocks exist, so it runs at once.
  void add_running(Sequence* seq);
  // Forgets a sequence (finished or aborted) and frees its blocks.
  void remove(Sequence* seq);
  SchedulerOutput schedule();

  int num_waiting() const { return static_cast<int>(waiting_.size() + followers_.size()); }
  int num_running() const { return static_cast<int>(running_.size()); }
  bool empty() const { return waiting_.empty() && running_.empty() && followers_.empty(); }
  const SchedulerConfig& config() const { return config_; }

 private:
  struct Follower {
    Sequence* leader;
    Sequence* seq;
  };
  // Preempts every sequence of the group that arrived at `arrival` (running, or admitted and
  // waiting to fork), taking back the chunks this step had given them.
  void preempt_group(uint64_t arrival, SchedulerOutput& out,
                     std::vector<std::vector<BlockCopy>>& chunk_copies, int& budget);
  void to_waiting(Sequence* seq);
  void schedule_running(SchedulerOutput& out, std::vector<std::vector<BlockCopy>>& chunk_copies,
                        int& budget);
  void admit_waiting(SchedulerOutput& out, std::vector<std::vector<BlockCopy>>& chunk_copies,
                     int& budget);
  void fork_followers();

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::deque<Sequence*> waiting_;   // by (arrival, id): a group's sequences stand together
  std::vector<Sequence*> running_;  // sorted by (arrival, id) at each schedule()
  // Readmitted with their group's first sequence; fork from it once its slots cover the prompt.
  std::vector<Follower> followers_;
};

}  // namespace precis::engine
