// One sequence being generated: its tokens (prompt + output), how many of them have K/V in the
// cache, its random source and its output so far. Parallel samples of one request are separate
// sequences that share the prompt's KV blocks.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/kv_cache.hpp"
#include "engine/sampler.hpp"

namespace precis::engine {

using RequestId = int64_t;

enum class SeqStatus { Waiting, Running, Finished };

struct Sequence {
  SeqId id = 0;
  RequestId request = 0;
  int sample_index = 0;
  // The request's admission order, shared by every sequence of the request (its samples or
  // beams form one group): preemption takes the newest group first, whole.
  uint64_t arrival = 0;
  // Scoring: the forward returns logits for every token of each chunk, not only the last, and
  // the prefix cache is not consulted (a cached prefix would have no logits).
  bool all_logits = false;
  // With all_logits: tokens at positions below this give no logits row (nobody wants their
  // log-probs: a scoring session's extend, a ranking that reads only the question's), except the
  // last token of a chunk, whose row the next token's log-prob needs.
  int logits_from = 0;

  std::vector<int> tokens;  // prompt followed by output
  int prompt_len = 0;
  int num_computed = 0;  // tokens whose K/V are in the cache
  SeqStatus status = SeqStatus::Waiting;
  int preemptions = 0;

  std::mt19937_64 rng;
  std::string text;  // decoded output
  std::vector<float> logprobs;
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  double cumulative_logprob = 0.0;
  std::string finish_reason;  // "stop", "length", "abort"

  int num_output() const { return static_cast<int>(tokens.size()) - prompt_len; }
  int num_uncomputed() const { return static_cast<int>(tokens.size()) - num_computed; }
};

}  // namespace precis::engine
