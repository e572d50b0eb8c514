// Prefix caching changes no output: the same requests, run on an engine with it on and one with
// it off, give identical tokens and log-probs (bit for bit: a cached block holds exactly the K/V
// the prompt's own prefill would write), for greedy and seeded sampling, n > 1, and under KV
// pressure that preempts sequences and evicts cached blocks. It also checks that the cache was
// really used: prompt tokens were found cached and fewer were computed.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;
using precis::test::cached_model;

namespace {

EngineOptions options(bool prefix_caching, double kv_mb, int max_batched = 512) {
  EngineOptions o;
  o.model_dir = cached_model("tiny", 11, DType::F32);
  o.kv_cache_mb = kv_mb;
  o.scheduler.max_batched_tokens = max_batched;
  o.prefix_caching = prefix_caching;
  return o;
}

// A long shared prefix (several blocks), as a system prompt or few-shot examples would be.
const std::string kPrefix =
    "In the beginning God created the heaven and the earth. And the earth was without form, and "
    "void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face "
    "of the waters. And God said, Let there be light: and there was light. And God saw the light, "
    "that it was good: and God divided the light from the darkness. ";

const std::vector<std::string> kSuffixes = {
    "And God called the light Day", "And the evening and the morning were the first day",
    "Let the waters under the heaven be gathered", "And God called the dry land Earth",
    "And the earth brought forth grass"};

struct Run {
  std::vector<GenerationResult> results;  // in the order of kSuffixes, then the n>1 request
  long prefill_tokens = 0;
  int preemptions = 0;
  KvStats kv;
};

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 24;
  p.ignore_eos = true;
  return p;
}

SamplingParams seeded(uint64_t seed, int n) {
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_p = 0.95f;
  p.max_tokens = 24;
  p.seed = seed;
  p.n = n;
  p.ignore_eos = true;
  return p;
}

// The first request alone (it fills the cache), then the others all at once, mixing greedy,
// seeded and n = 3 sampling; everything is driven step by step so prefill counts add up.
Run run_all(const EngineOptions& o) {
  Engine e(o);
  Run run;
  auto prompt = [&](const std::string& suffix) {
    return e.tokenizer().encode(kPrefix + suffix, true);
  };
  std::map<RequestId, GenerationResult> done;
  auto drain = [&] {
    while (e.step()) {
      run.prefill_tokens += e.last_step().prefill_tokens;
      for (auto& r : e.take_finished()) done[r.id] = r;
    }
    for (auto& r : e.take_finished()) done[r.id] = r;
  };
  std::vector<RequestId> ids;
  ids.push_back(e.add_request(prompt(kSuffixes[0]), greedy()));
  drain();
  for (size_t i = 1; i < kSuffixes.size(); ++i)
    ids.push_back(e.add_request(prompt(kSuffixes[i]), i % 2 ? seeded(100 + i, 1) : greedy()));
  ids.push_back(e.add_request(prompt(kSuffixes[0]), seeded(7, 3)));  // whole prompt seen before
  drain();
  for (RequestId id : ids) {
    REQUIRE(done.count(id));
    run.preemptions += done[id].preemptions;
    run.results.push_back(done[id]);
  }
  run.kv = e.kv_stats();
  return run;
}

void check_identical(const Run& on, const Run& off) {
  REQUIRE(on.results.size() == off.results.size());
  for (size_t i = 0; i < on.results.size(); ++i) {
    INFO("request " << i);
    const auto& a = on.results[i].completions;
    const auto& b = off.results[i].completions;
    REQUIRE(a.size() == b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      INFO("sample " << k);
      CHECK(a[k].tokens == b[k].tokens);
      CHECK(a[k].logprobs == b[k].logprobs);  // exact, not approximate
      CHECK(a[k].cumulative_logprob == b[k].cumulative_logprob);
      CHECK(a[k].finish_reason == b[k].finish_reason);
    }
  }
}

}  // namespace

TEST_CASE("prefix caching on and off give identical tokens and log-probs") {
  const Run off = run_all(options(false, 32));
  const Run on = run_all(options(true, 32));
  check_identical(on, off);
  CHECK(off.kv.prefix_hit_tokens == 0);
  CHECK(on.kv.prefix_caching);
  // Every request after the first found the shared prefix's full blocks cached.
  CHECK(on.kv.prefix_hit_tokens >= 5 * 16 * 4);
  CHECK(on.kv.prefix_hit_tokens < on.kv.prefix_queried_tokens);
  CHECK(on.prefill_tokens + static_cast<long>(on.kv.prefix_hit_tokens) == off.prefill_tokens);
  CHECK(on.kv.blocks_used == 0);
  CHECK(on.kv.blocks_cached_free > 0);  // kept for later requests after all have finished
}

TEST_CASE("prefix caching changes nothing under preemption and eviction in a small cache") {
  // Each block of the tiny model holds 4 KiB (f16 K and V); 0.07421875 MiB = 19 blocks. A sequence
  // here is about 11 blocks (a 128-token prefix, its suffix and 24 output tokens), and seven run at
  // once (five requests, one with n = 3): even sharing the prefix's 8 blocks they do not fit, so
  // sequences are preempted and cached blocks evicted. A small step budget also chunks the
  // prefills.
  const Run off = run_all(options(false, 0.07421875, 40));
  const Run on = run_all(options(true, 0.07421875, 40));
  REQUIRE(on.kv.blocks_total == 19);
  check_identical(on, off);
  CHECK(off.preemptions > 0);
  CHECK(on.preemptions > 0);
  CHECK(on.kv.prefix_hit_tokens > 0);
  CHECK(on.kv.prefix_evicted_blocks > 0);
  CHECK(on.kv.blocks_used == 0);
}
