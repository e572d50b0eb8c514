// Generation on the embedded engine, checked against properties that must hold: greedy decoding
// equals the argmax of a full re-run, each parallel sample's log-probs equal a fresh score of its
// own tokens (so no sample saw another's KV), seeds repeat whatever else is in the batch, and
// chunked prefill or preemption change nothing.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>

#include "engine/engine.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;
using precis::test::cached_model;

namespace {

EngineOptions options(double kv_mb = 32, int max_batched = 512) {
  EngineOptions o;
  o.model_dir = cached_model("tiny", 11, DType::F32);
  o.kv_cache_mb = kv_mb;
  o.scheduler.max_batched_tokens = max_batched;
  return o;
}

std::vector<int> prompt_of(Engine& e, const std::string& text) {
  return e.tokenizer().encode(text, true);
}

int argmax_last_row(const std::vector<float>& logits, int V) {
  const float* row = logits.data() + logits.size() - V;
  return static_cast<int>(std::max_element(row, row + V) - row);
}

void check_logprobs_match_rescore(Engine& e, const std::vector<int>& prompt, const Completion& c) {
  std::vector<int> all = prompt;
  all.insert(all.end(), c.tokens.begin(), c.tokens.end());
  const auto rescored = e.score_tokens(all);
  for (size_t i = 0; i < c.tokens.size(); ++i)
    CHECK(c.logprobs[i] == Approx(rescored[prompt.size() + i]).margin(1e-4));
}

}  // namespace

TEST_CASE("greedy generation equals the argmax of a full forward at every step") {
  Engine e(options());
  auto prompt = prompt_of(e, "And God said, Let there be light");
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 12;
  p.ignore_eos = true;
  auto r = e.generate_tokens(prompt, p);
  REQUIRE(r.completions.size() == 1);
  std::vector<int> seq = prompt;
  for (int tok : r.completions[0].tokens) {
    CHECK(tok == argmax_last_row(e.logits_all(seq), e.config().vocab_size));
    seq.push_back(tok);
  }
  CHECK(r.completions[0].finish_reason == "length");
  CHECK(e.kv_stats().blocks_used == 0);
}

TEST_CASE("parallel samples share the prompt yet each sees only its own tokens") {
  Engine e(options());
  auto prompt =
      prompt_of(e, "In the beginning God created the heaven and the earth. And the earth");
  SamplingParams p;
  p.temperature = 1.0f;
  p.n = 6;
  p.max_tokens = 20;
  p.seed = 42;
  p.ignore_eos = true;
  auto r = e.generate_tokens(prompt, p);
  REQUIRE(r.completions.size() == 6);
  std::set<std::vector<int>> distinct;
  for (const auto& c : r.completions) {
    CHECK(c.tokens.size() == 20);
    distinct.insert(c.tokens);
    check_logprobs_match_rescore(e, prompt, c);
  }
  CHECK(distinct.size() > 1);
  CHECK(e.kv_stats().blocks_used == 0);
}

TEST_CASE("parallel sampling copies only diverging blocks") {
  Engine e(options());
  // 64 prompt tokens = 4 full blocks of 16.
  std::vector<int> prompt(64);
  for (int i = 0; i < 64; ++i) prompt[i] = 3 + (i * 7) % 400;
  SamplingParams p;
  p.n = 8;
  p.max_tokens = 2;
  p.seed = 1;
  p.ignore_eos = true;
  e.add_request(prompt, p);
  int peak = 0;
  while (e.step()) peak = std::max(peak, e.kv_stats().blocks_used);
  // Shared: 4 prompt blocks once; each sample writes into one private block of its own.
  CHECK(e.kv_stats().peak_blocks_used <= 4 + 8);
  CHECK(e.kv_stats().blocks_used == 0);
}

TEST_CASE("best_of returns the n samples with the highest cumulative log-prob") {
  Engine e(options());
  auto prompt = prompt_of(e, "The words of the preacher");
  SamplingParams all;
  all.n = 5;
  all.max_tokens = 8;
  all.seed = 9;
  all.ignore_eos = true;
  auto every = e.generate_tokens(prompt, all);
  SamplingParams best = all;
  best.n = 2;
  best.best_of = 5;
  auto top = e.generate_tokens(prompt, best);
  std::vector<double> cums;
  for (auto& c : every.completions) cums.push_back(c.cumulative_logprob);
  std::sort(cums.rbegin(), cums.rend());
  REQUIRE(top.completions.size() == 2);
  CHECK(top.completions[0].cumulative_logprob == Approx(cums[0]));
  CHECK(top.completions[1].cumulative_logprob == Approx(cums[1]));
}

TEST_CASE("a seed gives the same output whatever else is in the batch") {
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_p = 0.95f;
  p.max_tokens = 16;
  p.seed = 1234;
  p.ignore_eos = true;
  Engine alone(options());
  auto prompt = prompt_of(alone, "Vanity of vanities, saith the Preacher");
  auto want = alone.generate_tokens(prompt, p).completions[0].tokens;

  Engine busy(options(32, 7));  // small step budget: chunked prefill, mixed batches
  SamplingParams other = p;
  other.seed = 5;
  busy.add_request(prompt_of(busy, "Two are better than one"), other);
  const RequestId id = busy.add_request(prompt, p);
  busy.add_request(prompt_of(busy, "A good name is better than precious ointment; and the day"),
                   other);
  std::vector<int> got;
  while (busy.step()) {
    for (auto& r : busy.take_finished())
      if (r.id == id) got = r.completions[0].tokens;
  }
  for (auto& r : busy.take_finished())
    if (r.id == id) got = r.completions[0].tokens;
  CHECK(got == want);
}

TEST_CASE("requests join a running batch between steps (continuous batching)") {
  Engine e(options());
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 30;
  p.ignore_eos = true;
  const RequestId first = e.add_request(prompt_of(e, "Now it came to pass"), p);
  for (int i = 0; i < 5; ++i) e.step();
  const RequestId second = e.add_request(prompt_of(e, "And Naomi said"), p);
  e.step();  // the second request's prefill runs together with the first's decode
  CHECK(e.has_unfinished());
  std::map<RequestId, std::vector<int>> out;
  while (e.step()) {
    for (auto& r : e.take_finished()) out[r.id] = r.completions[0].tokens;
  }
  for (auto& r : e.take_finished()) out[r.id] = r.completions[0].tokens;
  Engine solo(options());
  CHECK(out[first] ==
        solo.generate_tokens(prompt_of(solo, "Now it came to pass"), p).completions[0].tokens);
  CHECK(out[second] ==
        solo.generate_tokens(prompt_of(solo, "And Naomi said"), p).completions[0].tokens);
}

TEST_CASE("when blocks run out, the newest sequences are preempted and recomputed, never failed") {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 40;
  p.ignore_eos = true;
  const std::vector<std::string> prompts = {"In the beginning", "And the earth was without form",
                                            "And God saw the light", "Let the waters bring forth"};
  Engine roomy(options(32));
  std::vector<std::vector<int>> want;
  for (auto& s : prompts)
    want.push_back(roomy.generate_tokens(prompt_of(roomy, s), p).completions[0].tokens);

  // Each block of the tiny model holds 16 tokens x 2 layers x 2 (K,V) x 32 halves (the default
  // f16 KV cache) = 4 KiB; 0.05 MiB = 12 blocks, enough for one sequence (<= 3 blocks) but not
  // all four at once.
  Engine tight(options(0.05));
  REQUIRE(tight.kv_stats().blocks_total == 12);
  std::vector<RequestId> ids;
  for (auto& s : prompts) ids.push_back(tight.add_request(prompt_of(tight, s), p));
  std::map<RequestId, GenerationResult> done;
  while (tight.step())
    for (auto& r : tight.take_finished()) done[r.id] = r;
  for (auto& r : tight.take_finished()) done[r.id] = r;
  int preemptions = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    REQUIRE(done.count(ids[i]));
    CHECK(done[ids[i]].completions[0].tokens == want[i]);
    preemptions += done[ids[i]].preemptions;
  }
  CHECK(preemptions > 0);
  CHECK(tight.kv_stats().blocks_used == 0);
}

TEST_CASE("stop strings end generation and are not included") {
  Engine e(options());
  auto prompt = prompt_of(e, "And God said");
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 30;
  p.ignore_eos = true;
  auto free_run = e.generate_tokens(prompt, p).completions[0];
  REQUIRE(free_run.text.size() > 6);
  // Stop at a substring that first occurs partway through the free-running text.
  const std::string stop = free_run.text.substr(4, 2);
  const size_t first = free_run.text.find(stop);
  p.stop = {stop};
  auto stopped = e.generate_tokens(prompt, p).completions[0];
  CHECK(stopped.finish_reason == "stop");
  CHECK(stopped.text == free_run.text.substr(0, first));
}

TEST_CASE("requests that can never fit are rejected up front with a clear message") {
  Engine e(options(0.1));
  SamplingParams p;
  p.max_tokens = 1000;
  CHECK_THROWS_WITH(e.add_request({1, 5, 6}, p), Catch::Contains("raise --kv-cache-mb"));
  p.max_tokens = 4;
  CHECK_THROWS_WITH(e.add_request({1, 99999}, p), Catch::Contains("outside the vocabulary"));
  p.temperature = -1;
  CHECK_THROWS_WITH(e.add_request({1, 5}, p), Catch::Contains("temperature"));
}

TEST_CASE("streaming delivers exactly the final text") {
  Engine e(options());
  SamplingParams p;
  p.temperature = 0.8f;
  p.seed = 3;
  p.max_tokens = 25;
  p.ignore_eos = true;
  p.stop = {"zzz"};
  std::string streamed;
  auto r =
      e.generate("Two are better than one", p, [&](int, const std::string& d) { streamed += d; });
  CHECK(streamed == r.completions[0].text);
}
