#include "compress/context_ranker.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "compress/corpus_stats.hpp"
#include "engine/tokenizer.hpp"

namespace precis::compression {

std::vector<double> rank_contexts_stat(const std::vector<std::string>& contexts,
                                       std::string_view question) {
  const CorpusStats& corpus = CorpusStats::get();
  const size_t n = contexts.size();
  std::vector<std::unordered_set<std::string>> stems(n);
  std::vector<double> density(n, 0.0);
  std::unordered_map<std::string, int> df;
  for (size_t i = 0; i < n; ++i) {
    const auto words = split_words(contexts[i]);
    double sum = 0.0;
    for (const std::string& w : words) {
      sum += corpus.self_information(w) / corpus.max_information();
      stems[i].insert(stem(w));
    }
    density[i] = words.empty() ? 0.0 : sum / static_cast<double>(words.size());
    for (const std::string& s : stems[i]) ++df[s];
  }
  std::unordered_set<std::string> qterms;
  for (const std::string& w : split_words(question))
    if (!corpus.is_stopword(w)) qterms.insert(stem(w));
  if (qterms.empty()) return density;
  std::vector<double> score(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (const std::string& q : qterms)
      if (stems[i].count(q)) score[i] += std::log((n + 1.0) / (df[q] + 0.5));
    score[i] += 0.01 * density[i];  // breaks ties between contexts that match equally
  }
  return score;
}

std::vector<double> rank_contexts_lm(TokenLogprobModel& engine,
                                     const std::vector<std::vector<int>>& contexts,
                                     const std::vector<int>& question) {
  const int bos = engine.tokenizer().bos_id();
  const int window = engine.context_window() - (bos >= 0 ? 1 : 0);
  // A question longer than half the window is cut to its tail (what the answer depends on
  // most is what is asked last).
  std::vector<int> q = question;
  if (static_cast<int>(q.size()) > window / 2) q.erase(q.begin(), q.end() - window / 2);
  // [bos] context-head question for every context, scored together (the engine batches them).
  std::vector<std::vector<int>> inputs;
  std::vector<size_t> q_at;
  for (const std::vector<int>& ctx : contexts) {
    // Written in place: GCC 12 at -O3 with AVX-512 reports a false -Warray-bounds inside
    // vector::insert after a push_back.
    const size_t head = std::min(ctx.size(), static_cast<size_t>(window - q.size()));
    q_at.push_back((bos >= 0 ? 1 : 0) + head);
    std::vector<int> ids(q_at.back() + q.size());
    if (bos >= 0) ids[0] = bos;
    std::copy_n(ctx.begin(), head, ids.begin() + (bos >= 0 ? 1 : 0));
    std::copy(q.begin(), q.end(), ids.begin() + static_cast<std::ptrdiff_t>(q_at.back()));
    inputs.push_back(std::move(ids));
  }
  std::vector<size_t> scored;  // contexts with at least two tokens to score
  std::vector<std::vector<int>> batch;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].size() >= 2) scored.push_back(i), batch.push_back(inputs[i]);
  // With a question only its tokens' log-probs are read, so the contexts' own rows are skipped.
  std::vector<int> from;
  for (size_t i : scored) from.push_back(q.empty() ? 0 : static_cast<int>(q_at[i]));
  const std::vector<std::vector<float>> lps = engine.score_tails(batch, from);
  std::vector<double> score(contexts.size(), 0.0);
  for (size_t k = 0; k < scored.size(); ++k) {
    const size_t i = scored[k];
    const std::vector<float>& lp = lps[k];
    double sum = 0.0;
    int count = 0;
    if (q.empty()) {
      for (size_t j = 0; j < inputs[i].size(); ++j)
        if (!std::isnan(lp[j])) sum -= lp[j], ++count;  // log-perplexity of the context
    } else {
      for (size_t j = q_at[i]; j < inputs[i].size(); ++j)
        if (!std::isnan(lp[j])) sum += lp[j], ++count;  // mean log p(question | context)
    }
    score[i] = count ? sum / count : 0.0;
  }
  return score;
}

std::vector<int> choose_dropped_contexts(const std::vector<double>& score,
                                         const std::vector<int>& tokens,
                                         const std::vector<char>& droppable, double limit,
                                         double floor) {
  const size_t n = score.size();
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return score[a] < score[b]; });
  double remaining = std::accumulate(tokens.begin(), tokens.end(), 0.0);
  size_t alive = n;
  std::vector<int> dropped;
  for (int i : order) {
    if (remaining <= limit || alive <= 1) break;
    if (!droppable[i] || remaining - tokens[i] < floor) continue;
    dropped.push_back(i);
    remaining -= tokens[i];
    --alive;
  }
  std::sort(dropped.begin(), dropped.end());
  return dropped;
}

}  // namespace precis::compression
