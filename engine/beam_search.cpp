// Beam search as a request of the scheduler: the live beams are one group of sequences, decoded
// (and preempted) together. Once every live beam's next-token distribution is known, the best
// continuations become the next beams, each forking its parent's block table (sharing every
// block), so only the block a beam writes into is ever copied.
#include <algorithm>
#include <chrono>
#include <numeric>

#include "engine/engine.hpp"
#include "engine/engine_request.hpp"

namespace precis::engine {

namespace {

struct Candidate {
  double cum;
  int beam;
  int token;
  float logprob;
};

// Hugging Face's default length_penalty of 1.0: rank finished hypotheses by mean log-prob.
double ranking_score(const BeamHypothesis& b) {
  return b.out.empty() ? b.cum : b.cum / static_cast<double>(b.out.size());
}

BeamHypothesis hypothesis_of(const Sequence& s) {
  return {std::vector<int>(s.tokens.begin() + s.prompt_len, s.tokens.end()), s.logprobs,
          s.cumulative_logprob};
}

}  // namespace

void Engine::beam_row(Request& req, Sequence& seq, std::span<const float> logits) {
  req.beam.rows[seq.id] = log_softmax(logits);
}

void Engine::beam_select(Request& req) {
  BeamState& b = req.beam;
  for (const Sequence* s : b.live)
    if (!b.rows.count(s->id)) return;  // a beam still computing (e.g. after a preemption)
  const int W = std::max(1, req.params.beam_width);
  const int V = config().vocab_size;
  const bool stop_at_end = !req.params.ignore_eos;

  // Each beam proposes its 2W best continuations, enough to refill W beams even if W of the
  // proposals end in an end token.
  std::vector<Candidate> cands;
  const int per_beam = std::min(V, 2 * W);
  std::vector<int> idx(V);
  for (size_t k = 0; k < b.live.size(); ++k) {
    const std::vector<float>& row = b.rows.at(b.live[k]->id);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + per_beam, idx.end(),
                      [&](int a, int c) { return row[a] != row[c] ? row[a] > row[c] : a < c; });
    for (int j = 0; j < per_beam; ++j)
      cands.push_back(
          {b.live[k]->cumulative_logprob + row[idx[j]], static_cast<int>(k), idx[j], row[idx[j]]});
  }
  std::stable_sort(cands.begin(), cands.end(),
                   [](const Candidate& a, const Candidate& c) { return a.cum > c.cum; });

  std::vector<Sequence*> next;
  for (const Candidate& c : cands) {
    if (static_cast<int>(next.size()) == W) break;
    const Sequence& parent = *b.live[c.beam];
    if (stop_at_end && end_ids_.count(c.token)) {
      BeamHypothesis h = hypothesis_of(parent);
      h.out.push_back(c.token);
      h.logprobs.push_back(c.logprob);
      h.cum = c.cum;
      b.finished.push_back(std::move(h));
      continue;
    }
    std::vector<int> tokens = parent.tokens;
    tokens.push_back(c.token);
    Sequence& child = new_sequence(req, std::move(tokens));
    child.num_computed = parent.num_computed;
    child.logprobs = parent.logprobs;
    child.logprobs.push_back(c.logprob);
    child.cumulative_logprob = c.cum;
    child.preemptions = 0;
    kv_->fork(parent.id, child.id);
    next.push_back(&child);
  }
  // The old beams go (their blocks stay while a child shares them); preemptions are kept.
  int preemptions = 0;
  for (Sequence* s : b.live) {
    preemptions += s->preemptions;
    scheduler_->remove(s);
  }
  std::erase_if(req.seqs, [&](const std::unique_ptr<Sequence>& s) {
    return std::find(b.live.begin(), b.live.end(), s.get()) != b.live.end();
  });
  b.live = std::move(next);
  b.rows.clear();
  if (!b.live.empty()) b.live[0]->preemptions = preemptions;
  ++b.steps;
  // Early stopping as Hugging Face's early_stopping=True: W finished hypotheses end the search.
  if (static_cast<int>(b.finished.size()) >= W || b.steps >= req.params.max_tokens ||
      b.live.empty()) {
    finish_beam_request(req);
    return;
  }
  for (Sequence* s : b.live) scheduler_->add_running(s);
}

void Engine::finish_beam_request(Request& req) {
  BeamState& b = req.beam;
  std::vector<BeamHypothesis> all = std::move(b.finished);
  GenerationResult res;
  res.id = req.id;
  for (Sequence* s : b.live) {
    all.push_back(hypothesis_of(*s));
    res.preemptions += s->preemptions;
    scheduler_->remove(s);
  }
  std::stable_sort(all.begin(), all.end(), [](const BeamHypothesis& x, const BeamHypothesis& y) {
    return ranking_score(x) > ranking_score(y);
  });
  res.prompt_tokens = req.prompt;
  const size_t keep = std::min<size_t>(all.size(), std::max(1, req.params.n));
  for (size_t i = 0; i < keep; ++i) {
    Completion c;
    c.index = static_cast<int>(i);
    c.tokens = all[i].out;
    std::vector<int> text_tokens = c.tokens;
    if (!text_tokens.empty() && end_ids_.count(text_tokens.back()) && !req.params.ignore_eos) {
      text_tokens.pop_back();
      c.finish_reason = "stop";
    } else {
      c.finish_reason = "length";
    }
    for (int t : text_tokens) c.text += tokenizer_->token_bytes(t);
    c.logprobs = all[i].logprobs;
    c.cumulative_logprob = all[i].cum;
    res.completions.push_back(std::move(c));
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - req.start).count();
  finished_.push_back(std::move(res));
  requests_.erase(req.id);
}

}  // namespace precis::engine
