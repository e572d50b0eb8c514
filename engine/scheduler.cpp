#include "engine/scheduler.hpp"

#include <algorithm>
#include <stdexcept>

namespace precis::engine {

Scheduler::Scheduler(SchedulerConfig config, KvCacheManager& kv) : config_(config), kv_(kv) {
  if (config_.max_num_seqs <= 0 || config_.max_batched_tokens <= 0)
    throw std::invalid_argument("scheduler limits must be positive");
}

void Scheduler::add(Sequence* seq) {
  seq->status = SeqStatus::Waiting;
  waiting_.push_back(seq);
}

void Scheduler::add_running(Sequence* seq) {
  seq->status = SeqStatus::Running;
  running_.push_back(seq);
}

void Scheduler::remove(Sequence* seq) {
  kv_.free(seq->id);
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), seq), waiting_.end());
  running_.erase(std::remove(running_.begin(), running_.end(), seq), running_.end());
}

void Scheduler::preempt(Sequence* seq, SchedulerOutput& out) {
  // Recompute rather than swap: the tokens are kept, their K/V is rebuilt on readmission.
  kv_.free(seq->id);
  seq->num_computed = 0;
  seq->status = SeqStatus::Waiting;
  ++seq->preemptions;
  running_.erase(std::remove(running_.begin(), running_.end(), seq), running_.end());
  // Back to the front, in arrival order, so it is readmitted before newer requests.
  auto pos = std::find_if(waiting_.begin(), waiting_.end(),
                          [&](const Sequence* w) { return w->arrival > seq->arrival; });
  waiting_.insert(pos, seq);
  out.preempted.push_back(seq);
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int budget = config_.max_batched_tokens;

  // 1. Running sequences, oldest first: one decode token each, or the next prefill chunk.
  std::sort(running_.begin(), running_.end(),
            [](const Sequence* a, const Sequence* b) { return a->arrival < b->arrival; });
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* seq = running_[i];
    const int n = std::min(seq->num_uncomputed(), budget);
    if (n <= 0) {
      ++i;
      continue;
    }
    bool placed = false;
    while (!placed) {
      if (kv_.append_slots(seq->id, n, out.copies)) {
        placed = true;
        break;
      }
      // Out of blocks: free the newest running sequence (possibly this one).
      Sequence* victim = running_.back();
      preempt(victim, out);
      if (victim == seq) break;
    }
    if (!placed) break;  // `seq` was the newest; everything after it is gone too
    out.chunks.push_back({seq, n});
    budget -= n;
    ++i;
  }

  // 2. Admit waiting sequences in order while budget, sequence slots and blocks allow.
  while (!waiting_.empty() && budget > 0 &&
         static_cast<int>(running_.size()) < config_.max_num_seqs) {
    Sequence* seq = waiting_.front();
    // Prefix caching: start on the cached blocks of the longest cached prefix (preempted
    // sequences often find their own blocks still there).
    const int cached = kv_.match_prefix(seq->id, seq->tokens);
    seq->num_computed = cached;
    const int n = std::min(seq->num_uncomputed(), budget);
    if (!kv_.append_slots(seq->id, n, out.copies)) {
      kv_.free(seq->id);  // the cached blocks go back to the cache's LRU
      seq->num_computed = 0;
      if (running_.empty() && kv_.allocator().num_used() == 0)
        throw std::runtime_error(
            "a single request needs more KV blocks than the cache has; "
            "raise --kv-cache-mb");
      break;  // wait for blocks to free up; FCFS, so no one jumps the queue
    }
    kv_.count_prefix_lookup(static_cast<int>(seq->tokens.size()), cached);
    waiting_.pop_front();
    seq->status = SeqStatus::Running;
    running_.push_back(seq);
    out.chunks.push_back({seq, n});
    budget -= n;
  }
  return out;
}

}  // namespace precis::engine
