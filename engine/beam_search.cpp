// Beam search on the engine's paged KV cache: each surviving beam forks its parent's block
// table (sharing every block), so only the block a beam writes into is ever copied.
#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "engine/engine.hpp"

namespace precis::engine {

namespace {

struct Beam {
  SeqId seq = 0;
  std::vector<int> out;
  std::vector<float> logprobs;
  double cum = 0.0;
};

struct Candidate {
  double cum;
  int beam;
  int token;
  float logprob;
};

// Hugging Face's default length_penalty of 1.0: rank finished hypotheses by mean log-prob.
double ranking_score(const Beam& b) {
  return b.out.empty() ? b.cum : b.cum / static_cast<double>(b.out.size());
}

}  // namespace

GenerationResult Engine::beam_search(std::vector<int> prompt, const SamplingParams& params) {
  params.validate();
  const auto start = std::chrono::steady_clock::now();
  const int W = std::max(1, params.beam_width);
  const int V = config().vocab_size;
  if (static_cast<int>(prompt.size()) + params.max_tokens > config().max_position_embeddings)
    throw std::invalid_argument("prompt + max_tokens exceeds the model's context window");

  std::vector<float> logits;
  std::vector<Beam> live(1);
  live[0].seq = run_private_prefill(prompt, false, logits);
  std::vector<std::vector<float>> rows{log_softmax(std::span<const float>(logits.data(), V))};
  std::vector<Beam> finished;
  const int prompt_len = static_cast<int>(prompt.size());

  for (int step = 0; step < params.max_tokens && !live.empty(); ++step) {
    // Each beam proposes its 2W best continuations, enough to refill W beams even if W of the
    // proposals end in EOS.
    std::vector<Candidate> cands;
    const int per_beam = std::min(V, 2 * W);
    for (size_t b = 0; b < live.size(); ++b) {
      std::vector<int> idx(V);
      for (int v = 0; v < V; ++v) idx[v] = v;
      std::partial_sort(idx.begin(), idx.begin() + per_beam, idx.end(), [&](int a, int c) {
        return rows[b][a] != rows[b][c] ? rows[b][a] > rows[b][c] : a < c;
      });
      for (int k = 0; k < per_beam; ++k)
        cands.push_back(
            {live[b].cum + rows[b][idx[k]], static_cast<int>(b), idx[k], rows[b][idx[k]]});
    }
    std::stable_sort(cands.begin(), cands.end(),
                     [](const Candidate& a, const Candidate& c) { return a.cum > c.cum; });

    std::vector<Beam> next;
    std::vector<BlockCopy> copies;
    for (const Candidate& c : cands) {
      if (static_cast<int>(next.size()) == W) break;
      Beam nb;
      nb.out = live[c.beam].out;
      nb.logprobs = live[c.beam].logprobs;
      nb.out.push_back(c.token);
      nb.logprobs.push_back(c.logprob);
      nb.cum = c.cum;
      if (end_ids_.count(c.token) && !params.ignore_eos) {
        finished.push_back(std::move(nb));
        continue;
      }
      nb.seq = next_seq_++;
      kv_->fork(live[c.beam].seq, nb.seq);
      if (!kv_->append_slots(nb.seq, 1, copies)) {
        kv_->free(nb.seq);
        for (auto& b : next) kv_->free(b.seq);
        for (auto& b : live) kv_->free(b.seq);
        throw std::runtime_error("beam search ran out of KV blocks; raise --kv-cache-mb");
      }
      next.push_back(std::move(nb));
    }
    for (auto& b : live) kv_->free(b.seq);
    live = std::move(next);
    peak_blocks_ = std::max(peak_blocks_, kv_->allocator().num_used());
    // Early stopping as Hugging Face's early_stopping=True: W finished hypotheses end the search.
    if (static_cast<int>(finished.size()) >= W) break;
    if (step + 1 == params.max_tokens || live.empty()) break;

    backend_->copy_blocks(copies);
    std::vector<BatchSequence> batch(live.size());
    for (size_t b = 0; b < live.size(); ++b) {
      batch[b].tokens = std::span<const int>(live[b].out).subspan(live[b].out.size() - 1, 1);
      batch[b].start_pos = prompt_len + static_cast<int>(live[b].out.size()) - 1;
      batch[b].block_table = kv_->block_table(live[b].seq);
    }
    backend_->forward(batch, logits);
    rows.clear();
    for (size_t b = 0; b < live.size(); ++b)
      rows.push_back(log_softmax(std::span<const float>(logits.data() + b * V, V)));
  }

  std::vector<Beam> all = std::move(finished);
  for (auto& b : live) {
    kv_->free(b.seq);
    all.push_back(std::move(b));
  }
  std::stable_sort(all.begin(), all.end(), [](const Beam& a, const Beam& b) {
    return ranking_score(a) > ranking_score(b);
  });
  GenerationResult res;
  res.prompt_tokens = std::move(prompt);
  const size_t keep = std::min<size_t>(all.size(), std::max(1, params.n));
  for (size_t i = 0; i < keep; ++i) {
    Completion c;
    c.index = static_cast<int>(i);
    c.tokens = all[i].out;
    std::vector<int> text_tokens = c.tokens;
    if (!text_tokens.empty() && end_ids_.count(text_tokens.back()) && !params.ignore_eos) {
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
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

}  // namespace precis::engine
