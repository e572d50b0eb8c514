#include "engine/scoring_session.hpp"

#include <algorithm>
#include <limits>
#include <span>
#include <stdexcept>

#include "engine/admission.hpp"
#include "engine/engine.hpp"
#include "engine/engine_request.hpp"

namespace precis::engine {

ScoringSession::ScoringSession(Engine& engine, RequestId request)
    : engine_(engine), request_(request) {}

ScoringSession::~ScoringSession() {
  engine_.session_close(request_);
}

std::vector<float> ScoringSession::append(const std::vector<int>& tokens) {
  std::vector<float> out = engine_.session_append(request_, tokens);
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  return out;
}

void ScoringSession::extend(const std::vector<int>& tokens) {
  engine_.session_append(request_, tokens, static_cast<int>(tokens.size()));
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
}

std::vector<float> ScoringSession::append_after(const std::vector<int>& context,
                                                const std::vector<int>& tokens) {
  if (tokens.empty()) {
    extend(context);
    return {};
  }
  std::vector<int> all(context.size() + tokens.size());
  std::copy(context.begin(), context.end(), all.begin());
  std::copy(tokens.begin(), tokens.end(),
            all.begin() + static_cast<std::ptrdiff_t>(context.size()));
  std::vector<float> out = engine_.session_append(request_, all, static_cast<int>(context.size()));
  tokens_.insert(tokens_.end(), all.begin(), all.end());
  return out;
}

void ScoringSession::truncate(int n) {
  if (n < 0 || n > size()) throw std::out_of_range("truncate past the end of a scoring session");
  if (n == size()) return;
  engine_.session_truncate(request_, n);
  tokens_.resize(n);
}

std::vector<float> Engine::session_append(RequestId id, const std::vector<int>& tokens,
                                          int scores_from) {
  std::vector<float> out;
  if (tokens.empty()) return out;
  Request& req = *requests_.at(id);
  check_token_ids(tokens, "token id");
  const int old_size = req.seqs.empty() ? 0 : static_cast<int>(req.seqs[0]->tokens.size());
  const int new_size = old_size + static_cast<int>(tokens.size());
  // The session as a whole must fit the context window and the KV cache, as a scoring request.
  const AdmissionDecision fits = check_fits({new_size, 0, 1}, config(), *kv_);
  if (fits.verdict == Admission::never) throw std::invalid_argument(fits.reason);

  if (req.seqs.empty()) {
    // The first tokens: the session's sequence joins the scheduler's queue.
    Sequence& seq = new_sequence(req, tokens);
    seq.prompt_len = new_size;
    scheduler_->add(&seq);
  } else {
    Sequence& seq = *req.seqs[0];
    const bool all_computed = seq.num_computed == old_size;
    seq.tokens.insert(seq.tokens.end(), tokens.begin(), tokens.end());
    seq.prompt_len = new_size;
    req.scores.resize(new_size, std::numeric_limits<float>::quiet_NaN());
    if (all_computed && !req.last_row.empty()) {
      // The distribution after the last token is known: the first new token's score.
      req.scores[old_size] = token_logprob(req.last_row, tokens[0]);
    } else if (all_computed && old_size > 0) {
      // Gone after a truncate: re-running the last kept token rewrites its K/V with identical
      // values and brings the distribution back.
      kv_->truncate(seq.id, old_size - 1);
      seq.num_computed = old_size - 1;
    }
    // Not all computed (preempted, waiting): every row comes when it is recomputed.
  }
  req.last_row.clear();
  Sequence& seq = *req.seqs[0];
  // Rows from the one before the first scored token (which scores it, when it has to be
  // recomputed); without scores, each chunk's last row only, which leaves the last token's
  // distribution for the next append (the unscored tokens' scores stay NaN).
  const int first_scored = old_size + std::clamp(scores_from, 0, static_cast<int>(tokens.size()));
  seq.logits_from = first_scored < new_size ? std::max(0, first_scored - 1) : new_size - 1;
  while (seq.num_computed < new_size) step();
  out.assign(req.scores.begin() + first_scored, req.scores.begin() + new_size);
  return out;
}

void Engine::session_truncate(RequestId id, int n) {
  Request& req = *requests_.at(id);
  Sequence& seq = *req.seqs.at(0);
  if (kv_->has(seq.id)) kv_->truncate(seq.id, std::min(seq.num_computed, n));
  seq.num_computed = std::min(seq.num_computed, n);
  seq.tokens.resize(n);
  seq.prompt_len = n;
  req.scores.resize(n);
  req.last_row.clear();
}

void Engine::session_close(RequestId id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  for (auto& s : it->second->seqs) scheduler_->remove(s.get());
  requests_.erase(it);
  --open_sessions_;
}

}  // namespace precis::engine
