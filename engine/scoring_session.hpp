// Incremental scoring with a KV cache that persists between calls: append tokens and get their
// log-probabilities conditioned on everything before them, truncate back, append something
// else. Prompt compression uses it to score each segment against the already-compressed text
// without recomputing that text.
#pragma once

#include <vector>

#include "engine/backend.hpp"
#include "engine/kv_cache.hpp"

namespace precis::engine {

class Engine;

class ScoringSession {
 public:
  ~ScoringSession();
  ScoringSession(const ScoringSession&) = delete;
  ScoringSession& operator=(const ScoringSession&) = delete;

  // log p(tokens[i] | everything before it). The very first token of a session has no context:
  // NaN. Throws std::runtime_error when the KV cache has no room.
  std::vector<float> append(const std::vector<int>& tokens);
  // Forgets everything after the first `n` tokens.
  void truncate(int n);
  int size() const { return static_cast<int>(tokens_.size()); }
  const std::vector<int>& tokens() const { return tokens_; }

 private:
  friend class Engine;
  ScoringSession(Backend& backend, KvCacheManager& kv, SeqId id);

  Backend& backend_;
  KvCacheManager& kv_;
  SeqId id_;
  std::vector<int> tokens_;
  // Logits after the last token, when still valid (cleared by truncate).
  std::vector<float> last_logits_;
};

}  // namespace precis::engine
