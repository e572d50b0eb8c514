#include "engine/scoring_session.hpp"

#include <limits>
#include <span>
#include <stdexcept>

#include "engine/sampler.hpp"

namespace precis::engine {

ScoringSession::ScoringSession(Backend& backend, KvCacheManager& kv, SeqId id)
    : backend_(backend), kv_(kv), id_(id) {}

ScoringSession::~ScoringSession() {
  kv_.free(id_);
}

std::vector<float> ScoringSession::append(const std::vector<int>& tokens) {
  std::vector<float> out;
  if (tokens.empty()) return out;
  const int V = backend_.config().vocab_size;
  for (int t : tokens)
    if (t < 0 || t >= V)
      throw std::invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary");
  if (size() + static_cast<int>(tokens.size()) > backend_.config().max_position_embeddings)
    throw std::invalid_argument("scoring past the model's context window of " +
                                std::to_string(backend_.config().max_position_embeddings) +
                                " tokens");
  // After a truncate the distribution after the last kept token is gone; re-running that token
  // rewrites its K/V with identical values and brings the distribution back.
  const bool rerun_last = last_logits_.empty() && !tokens_.empty();
  std::vector<int> run;
  if (rerun_last) run.push_back(tokens_.back());
  run.insert(run.end(), tokens.begin(), tokens.end());
  std::vector<BlockCopy> copies;
  if (!kv_.append_slots(id_, static_cast<int>(tokens.size()), copies))
    throw std::runtime_error("scoring needs more KV cache than is free; raise --kv-cache-mb");
  BatchSequence b;
  b.tokens = run;
  b.start_pos = size() - (rerun_last ? 1 : 0);
  b.block_table = kv_.block_table(id_);
  b.all_logits = true;
  std::vector<float> logits;
  backend_.forward(std::span<const BatchSequence>(&b, 1), logits);
  // Row r of `logits` predicts run[r + 1].
  const float* prev =
      rerun_last ? logits.data() : (last_logits_.empty() ? nullptr : last_logits_.data());
  const size_t first_row = rerun_last ? 1 : 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const float* row = (i == 0) ? prev : logits.data() + (first_row + i - 1) * V;
    out.push_back(
        row ? token_logprob(std::span<const float>(row, static_cast<size_t>(V)), tokens[i])
            : std::numeric_limits<float>::quiet_NaN());
  }
  last_logits_.assign(logits.end() - V, logits.end());
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  return out;
}

void ScoringSession::truncate(int n) {
  if (n < 0 || n > size()) throw std::out_of_range("truncate past the end of a scoring session");
  if (n == size()) return;
  kv_.truncate(id_, n);
  tokens_.resize(n);
  last_logits_.clear();
}

}  // namespace precis::engine
