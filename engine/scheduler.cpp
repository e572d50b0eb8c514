#include "engine/scheduler.hpp"

#include <algorithm>
#include <stdexcept>

#include "engine/admission.hpp"

namespace precis::engine {

namespace {

bool older(const Sequence* a, const Sequence* b) {
  return a->arrival != b->arrival ? a->arrival < b->arrival : a->id < b->id;
}

}  // namespace

Scheduler::Scheduler(SchedulerConfig config, KvCacheManager& kv) : config_(config), kv_(kv) {
  if (config_.max_num_seqs <= 0 || config_.max_batched_tokens <= 0)
    throw std::invalid_argument("scheduler limits must be positive");
}

void Scheduler::add(Sequence* seq) {
  to_waiting(seq);
}

void Scheduler::add_running(Sequence* seq) {
  seq->status = SeqStatus::Running;
  running_.push_back(seq);
}

void Scheduler::remove(Sequence* seq) {
  kv_.free(seq->id);
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), seq), waiting_.end());
  running_.erase(std::remove(running_.begin(), running_.end(), seq), running_.end());
  // Followers of a removed leader go back to waiting (as their own group), never astray.
  std::vector<Sequence*> orphans;
  std::erase_if(followers_, [&](const Follower& f) {
    if (f.leader == seq) orphans.push_back(f.seq);
    return f.seq == seq || f.leader == seq;
  });
  for (Sequence* s : orphans) to_waiting(s);
}

void Scheduler::to_waiting(Sequence* seq) {
  seq->status = SeqStatus::Waiting;
  // In (arrival, id) order, so a preempted group is readmitted before newer requests and its
  // sequences stand together.
  waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), seq, older), seq);
}

void Scheduler::preempt_group(uint64_t arrival, SchedulerOutput& out,
                              std::vector<std::vector<BlockCopy>>& chunk_copies, int& budget) {
  // Recompute rather than swap: the tokens are kept, their K/V is rebuilt on readmission.
  std::vector<Sequence*> victims;
  for (Sequence* s : running_)
    if (s->arrival == arrival) victims.push_back(s);
  for (const Follower& f : followers_)
    if (f.seq->arrival == arrival) victims.push_back(f.seq);
  std::erase_if(followers_, [&](const Follower& f) { return f.seq->arrival == arrival; });
  std::erase_if(running_, [&](const Sequence* s) { return s->arrival == arrival; });
  for (size_t i = out.chunks.size(); i-- > 0;) {
    if (out.chunks[i].seq->arrival != arrival) continue;
    budget += out.chunks[i].num_tokens;
    out.chunks.erase(out.chunks.begin() + static_cast<long>(i));
    chunk_copies.erase(chunk_copies.begin() + static_cast<long>(i));
  }
  for (Sequence* s : victims) {
    kv_.free(s->id);
    s->num_computed = 0;
    ++s->preemptions;
    to_waiting(s);
    out.preempted.push_back(s);
  }
}

void Scheduler::schedule_running(SchedulerOutput& out,
                                 std::vector<std::vector<BlockCopy>>& chunk_copies, int& budget) {
  // Oldest group first: one decode token per sequence, or the next prefill chunk.
  std::sort(running_.begin(), running_.end(), older);
  size_t i = 0;
  while (i < running_.size() && budget > 0) {
    const uint64_t group = running_[i]->arrival;
    size_t end = i;
    int wanting = 0;
    bool decoding = true;
    for (; end < running_.size() && running_[end]->arrival == group; ++end) {
      const int left = running_[end]->num_uncomputed();
      if (left > 0) ++wanting;
      if (left > 1) decoding = false;
    }
    // A decoding group runs whole: its sequences (beams above all) advance in step. Only a
    // group larger than a whole step is spread over several.
    if (decoding && wanting > budget && budget < config_.max_batched_tokens) return;
    for (size_t k = i; k < end && budget > 0; ++k) {
      Sequence* seq = running_[k];
      const int n = std::min(seq->num_uncomputed(), budget);
      if (n <= 0) continue;
      std::vector<BlockCopy> copies;
      while (!kv_.append_slots(seq->id, n, copies)) {
        // Out of blocks: free the newest group (possibly this one, then nothing newer runs).
        const uint64_t victim = running_.back()->arrival;
        preempt_group(victim, out, chunk_copies, budget);
        if (victim == group) return;
      }
      out.chunks.push_back({seq, n});
      chunk_copies.push_back(std::move(copies));
      budget -= n;
    }
    i = end;
  }
}

void Scheduler::admit_waiting(SchedulerOutput& out,
                              std::vector<std::vector<BlockCopy>>& chunk_copies, int& budget) {
  // In order while budget, sequence slots and blocks allow; FCFS, so no one jumps the queue.
  while (!waiting_.empty() && budget > 0) {
    Sequence* leader = waiting_.front();
    size_t group_size = 1;
    while (group_size < waiting_.size() && waiting_[group_size]->arrival == leader->arrival)
      ++group_size;
    // Prefix caching: start on the cached blocks of the longest cached prefix (preempted
    // sequences often find their own blocks still there). Scoring needs every token's logits.
    const int cached = leader->all_logits ? 0 : kv_.match_prefix(leader->id, leader->tokens);
    leader->num_computed = cached;
    const int n = std::min(leader->num_uncomputed(), budget);
    const int held = cached / kv_.block_size();
    const int sequences = static_cast<int>(running_.size() + followers_.size()) + 1;
    const AdmissionDecision d =
        check_start(kv_.blocks_needed(leader->id, n), held, kv_, sequences, config_);
    if (d.verdict != Admission::ok) {
      kv_.free(leader->id);  // the cached blocks go back to the cache's LRU
      leader->num_computed = 0;
      if (d.verdict == Admission::never) throw std::runtime_error(d.reason);
      return;
    }
    std::vector<BlockCopy> copies;
    kv_.append_slots(leader->id, n, copies);  // cannot fail: check_start counted the blocks
    kv_.count_prefix_lookup(static_cast<int>(leader->tokens.size()), cached);
    for (size_t k = 1; k < group_size; ++k) followers_.push_back({leader, waiting_[k]});
    waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<long>(group_size));
    leader->status = SeqStatus::Running;
    running_.push_back(leader);
    out.chunks.push_back({leader, n});
    chunk_copies.push_back(std::move(copies));
    budget -= n;
  }
}

void Scheduler::fork_followers() {
  // A follower shares its leader's blocks up to the end of the prompt (which the leader's slots
  // now cover; this step's forward writes what is still missing before the follower's next
  // chunk reads it) and computes its own output tokens from there.
  std::erase_if(followers_, [&](const Follower& f) {
    if (kv_.num_tokens(f.leader->id) < f.seq->prompt_len) return false;
    kv_.fork(f.leader->id, f.seq->id);
    kv_.truncate(f.seq->id, f.seq->prompt_len);
    f.seq->num_computed = f.seq->prompt_len;
    add_running(f.seq);
    return true;
  });
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  std::vector<std::vector<BlockCopy>> chunk_copies;  // per chunk, dropped with a preempted one
  int budget = config_.max_batched_tokens;
  schedule_running(out, chunk_copies, budget);
  // Blocks ran short this step: admitting now would only preempt again (as vLLM, no new or
  // preempted request starts in a step that preempted).
  if (out.preempted.empty()) admit_waiting(out, chunk_copies, budget);
  fork_followers();
  for (auto& c : chunk_copies) out.copies.insert(out.copies.end(), c.begin(), c.end());
  return out;
}

}  // namespace precis::engine
