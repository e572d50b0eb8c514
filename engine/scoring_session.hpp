// Incremental scoring with a KV cache that persists between calls: append tokens and get their
// log-probabilities conditioned on everything before them, truncate back, append something
// else. Prompt compression uses it to score each segment against the already-compressed text
// without recomputing that text. The session is a sequence of the engine's scheduler like any
// request's: its tokens are computed in the engine's steps (other requests' streams keep
// flowing meanwhile), and it may be preempted and recomputed.
#pragma once

#include <vector>

#include "engine/sequence.hpp"
#include "precis/token_logprobs.hpp"

namespace precis::engine {

class Engine;

class ScoringSession : public TokenLogprobSession {
 public:
  ~ScoringSession() override;
  ScoringSession(const ScoringSession&) = delete;
  ScoringSession& operator=(const ScoringSession&) = delete;

  // log p(tokens[i] | everything before it). The very first token of a session has no context:
  // NaN. Throws std::invalid_argument when the session would outgrow the context window or the
  // whole KV cache. Steps the engine until the tokens are computed.
  std::vector<float> append(const std::vector<int>& tokens) override;
  // As append, but the engine computes logits only for the last token (whose distribution scores
  // the next append's first token), not the vocabulary-wide row of every token.
  void extend(const std::vector<int>& tokens) override;
  // Both in the same engine steps; the context's rows get no logits but the last one's.
  std::vector<float> append_after(const std::vector<int>& context,
                                  const std::vector<int>& tokens) override;
  // Forgets everything after the first `n` tokens.
  void truncate(int n) override;
  int size() const override { return static_cast<int>(tokens_.size()); }
  const std::vector<int>& tokens() const override { return tokens_; }

 private:
  friend class Engine;
  ScoringSession(Engine& engine, RequestId request);

  Engine& engine_;
  RequestId request_;
  std::vector<int> tokens_;  // a copy of the session sequence's tokens, for callers
};

}  // namespace precis::engine
