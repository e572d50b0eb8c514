// Beam search against exhaustive search: with as many beams as the vocabulary, two steps of beam
// search must find the best two-token continuation over all V^2 of them.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>

#include "engine/engine.hpp"
#include "engine/sampler.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

TEST_CASE("beam search finds the same best sequence as exhaustive search over two steps") {
  EngineOptions o;
  o.model_dir = precis::test::cached_model("tiny", 5, DType::F32);
  o.kv_cache_mb = 64;
  Engine e(o);
  const int V = e.config().vocab_size;
  const std::vector<int> prompt = e.tokenizer().encode("And God called the light Day", true);

  // Exhaustive: log p(a) + log p(b | a) for every pair (a, b).
  auto first = e.logits_all(prompt);
  auto lp1 = log_softmax(std::span<const float>(first.data() + first.size() - V, V));
  double best = -INFINITY;
  std::pair<int, int> best_pair{-1, -1};
  for (int a = 0; a < V; ++a) {
    std::vector<int> seq = prompt;
    seq.push_back(a);
    auto l = e.logits_all(seq);
    auto lp2 = log_softmax(std::span<const float>(l.data() + l.size() - V, V));
    for (int b = 0; b < V; ++b) {
      if (lp1[a] + lp2[b] > best) {
        best = lp1[a] + lp2[b];
        best_pair = {a, b};
      }
    }
  }

  SamplingParams p;
  p.beam_width = V;
  p.max_tokens = 2;
  p.ignore_eos = true;
  auto r = e.beam_search(prompt, p);
  REQUIRE(!r.completions.empty());
  CHECK(r.completions[0].tokens == std::vector<int>{best_pair.first, best_pair.second});
  CHECK(r.completions[0].cumulative_logprob == Approx(best).margin(1e-4));
  CHECK(e.kv_stats().blocks_used == 0);
}

TEST_CASE("beam search beams are distinct and sorted, and width 1 is greedy") {
  EngineOptions o;
  o.model_dir = precis::test::cached_model("tiny", 5, DType::F32);
  Engine e(o);
  const auto prompt = e.tokenizer().encode("The heart of the wise", true);
  SamplingParams p;
  p.beam_width = 4;
  p.n = 4;
  p.max_tokens = 6;
  p.ignore_eos = true;
  auto r = e.beam_search(prompt, p);
  REQUIRE(r.completions.size() == 4);
  std::set<std::vector<int>> distinct;
  for (size_t i = 0; i < r.completions.size(); ++i) {
    distinct.insert(r.completions[i].tokens);
    if (i) CHECK(r.completions[i - 1].cumulative_logprob >= r.completions[i].cumulative_logprob);
  }
  CHECK(distinct.size() == 4);

  SamplingParams g;
  g.temperature = 0;
  g.max_tokens = 6;
  g.ignore_eos = true;
  SamplingParams b1 = g;
  b1.beam_width = 1;
  CHECK(e.beam_search(prompt, b1).completions[0].tokens ==
        e.generate_tokens(prompt, g).completions[0].tokens);
}
