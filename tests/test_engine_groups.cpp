// The engine's jobs kept apart: admission answered in one place, the samples or beams of one
// request scheduled and preempted as a group, and beam search and scoring run through the
// scheduler's steps, so neither stalls other requests' streams.
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <future>

#include "engine/admission.hpp"
#include "engine/engine_service.hpp"
#include "engine/scheduler.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

namespace {

EngineOptions tiny_options(double kv_cache_mb) {
  EngineOptions o;
  o.model_dir = precis::test::cached_model("tiny", 8, DType::F32);
  o.kv_cache_mb = kv_cache_mb;
  return o;
}

Sequence make_seq(SeqId id, uint64_t arrival, int tokens) {
  Sequence s;
  s.id = id;
  s.arrival = arrival;
  for (int i = 0; i < tokens; ++i) s.tokens.push_back(10 + i);
  s.prompt_len = tokens;
  return s;
}

void mark_computed(const SchedulerOutput& out) {
  for (const ScheduledChunk& c : out.chunks) c.seq->num_computed += c.num_tokens;
}

bool has_chunk(const SchedulerOutput& out, const Sequence& s) {
  for (const ScheduledChunk& c : out.chunks)
    if (c.seq == &s) return true;
  return false;
}

}  // namespace

TEST_CASE("worst-case blocks of a group: the prompt's full blocks once, each sequence's own") {
  // Hand computed, block size 16: prompt 40 tokens = 2 full blocks + 8; 3 sequences of up to
  // 40 + 30 = 70 tokens = 5 blocks each, of which the 2 full prompt blocks are shared.
  CHECK(worst_case_blocks({40, 30, 3}, 16) == 2 + 3 * 3);
  CHECK(worst_case_blocks({40, 30, 1}, 16) == 5);  // one sequence: ceil(70 / 16)
  CHECK(worst_case_blocks({32, 0, 1}, 16) == 2);
  CHECK(worst_case_blocks({1, 1, 4}, 16) == 4);
}

TEST_CASE("admission: a group larger than the whole cache is refused up front, plainly") {
  Engine e(tiny_options(0.0625));  // 16 blocks of 16 tokens (4 KiB each in f16) on the tiny model
  REQUIRE(e.kv_stats().blocks_total == 16);
  const auto prompt = e.tokenizer().encode("In the beginning God created", true);
  SamplingParams p;
  p.max_tokens = 100;  // ~7 blocks per sample
  p.ignore_eos = true;
  CHECK_NOTHROW(e.add_request(prompt, p));
  p.n = 3;  // ~21 blocks for three samples: never fits, even alone
  CHECK_THROWS_WITH(e.add_request(prompt, p),
                    Catch::Contains("3 sequences") && Catch::Contains("raise --kv-cache-mb"));
  p.n = 1;
  p.beam_width = 3;
  CHECK_THROWS_WITH(e.add_request(prompt, p), Catch::Contains("3 sequences"));
  SamplingParams q;
  q.max_tokens = 600;
  CHECK_THROWS_WITH(e.add_request(prompt, q),
                    Catch::Contains("context window") || Catch::Contains("raise --kv-cache-mb"));
}

TEST_CASE("the scheduler preempts a request's samples as one group and readmits it by forking") {
  KvCacheManager kv(5, 4);
  Scheduler sched(SchedulerConfig{}, kv);
  Sequence a = make_seq(1, 1, 8);   // request A: 2 blocks
  Sequence b0 = make_seq(2, 2, 4);  // request B: 1 block of prompt
  sched.add(&a);
  sched.add(&b0);
  SchedulerOutput out = sched.schedule();
  REQUIRE(out.chunks.size() == 2);
  mark_computed(out);
  // B's prompt is done: its second sample forks, sharing the prompt block.
  Sequence b1 = b0;
  b1.id = 3;
  b1.sample_index = 1;
  kv.fork(b0.id, b1.id);
  sched.add_running(&b1);
  for (Sequence* s : {&a, &b0, &b1}) s->tokens.push_back(99);  // each sampled a token

  // a needs a 3rd block, b0 and b1 one each: 6 > 5. B, the newest, goes whole, b0's chunk too.
  out = sched.schedule();
  REQUIRE(out.chunks.size() == 1);
  CHECK(out.chunks[0].seq == &a);
  REQUIRE(out.preempted.size() == 2);
  CHECK(!kv.has(b0.id));
  CHECK(!kv.has(b1.id));
  CHECK(b0.num_computed == 0);
  CHECK(b1.num_computed == 0);
  CHECK(sched.num_waiting() == 2);
  mark_computed(out);

  // A finishes; B comes back: b0 recomputes, b1 forks from it at the end of the prompt.
  sched.remove(&a);
  out = sched.schedule();
  REQUIRE(out.chunks.size() == 1);
  CHECK(out.chunks[0].seq == &b0);
  CHECK(out.chunks[0].num_tokens == 5);
  REQUIRE(kv.has(b1.id));
  CHECK(kv.block_table(b1.id).size() == 1);
  CHECK(kv.block_table(b1.id)[0] == kv.block_table(b0.id)[0]);
  CHECK(b1.num_computed == 4);
  mark_computed(out);
  out = sched.schedule();  // b1 computes its own token, in a block of its own
  REQUIRE(out.chunks.size() == 1);
  CHECK(out.chunks[0].seq == &b1);
  CHECK(out.chunks[0].num_tokens == 1);
  CHECK(has_chunk(out, b1));
}

TEST_CASE("a follower whose leader goes before the fork waits again, never lost") {
  KvCacheManager kv(16, 4);
  SchedulerConfig cfg;
  cfg.max_batched_tokens = 2;  // the leader's first chunk stops short of the prompt's end
  Scheduler sched(cfg, kv);
  Sequence b0 = make_seq(1, 1, 8), b1 = make_seq(2, 1, 8);  // one group, prompt_len 8
  sched.add(&b0);
  sched.add(&b1);
  SchedulerOutput out = sched.schedule();
  REQUIRE(out.chunks.size() == 1);
  CHECK(out.chunks[0].seq == &b0);
  CHECK(!kv.has(b1.id));  // not forked yet
  sched.remove(&b0);
  CHECK(sched.num_waiting() == 1);
  out = sched.schedule();
  REQUIRE(out.chunks.size() == 1);
  CHECK(out.chunks[0].seq == &b1);  // readmitted as its group's first
}

TEST_CASE("a decoding group runs whole in a step or waits for the next") {
  KvCacheManager kv(64, 4);
  SchedulerConfig cfg;
  cfg.max_batched_tokens = 4;
  Scheduler sched(cfg, kv);
  Sequence a = make_seq(1, 1, 2), b0 = make_seq(2, 2, 2);
  sched.add(&a);
  sched.add(&b0);
  mark_computed(sched.schedule());  // 2 + 2 prompt tokens
  Sequence b1 = b0, b2 = b0;
  b1.id = 3;
  b2.id = 4;
  kv.fork(b0.id, b1.id);
  kv.fork(b0.id, b2.id);
  sched.add_running(&b1);
  sched.add_running(&b2);
  for (Sequence* s : {&a, &b0, &b1, &b2}) s->tokens.push_back(7);
  // 4 decode tokens wanted, budget 4: a takes 1, B's 3 fit in the 3 left.
  SchedulerOutput out = sched.schedule();
  CHECK(out.chunks.size() == 4);
  mark_computed(out);
  // Now a needs a 2-token chunk: B's three no longer fit beside it, so none of B runs.
  a.tokens.push_back(7);
  a.tokens.push_back(7);
  for (Sequence* s : {&b0, &b1, &b2}) s->tokens.push_back(7);
  out = sched.schedule();
  REQUIRE(out.chunks.size() == 1);
  CHECK(out.chunks[0].seq == &a);
}

TEST_CASE("a preempted beam search gives the same beams as alone") {
  EngineOptions o = tiny_options(0.046875);  // 12 blocks: not enough for everything at once
  Engine solo(tiny_options(8));
  const auto prompt = solo.tokenizer().encode("The heart of the wise", true);
  SamplingParams beam;
  beam.beam_width = 3;
  beam.n = 3;
  beam.max_tokens = 40;
  beam.ignore_eos = true;
  const GenerationResult want = solo.beam_search(prompt, beam);

  Engine e(o);
  SamplingParams other;
  other.temperature = 0;
  other.max_tokens = 150;
  other.ignore_eos = true;
  e.add_request(e.tokenizer().encode("In the beginning", true), other);
  e.add_request(e.tokenizer().encode("And the earth was", true), other);
  for (int i = 0; i < 60; ++i) e.step();
  // The newest, so preempted first once the two others' growth fills the cache.
  const RequestId id = e.add_request(prompt, beam);
  std::vector<GenerationResult> done;
  while (e.step()) {
    for (auto& r : e.take_finished()) done.push_back(std::move(r));
  }
  for (auto& r : e.take_finished()) done.push_back(std::move(r));
  const GenerationResult* got = nullptr;
  for (const auto& r : done)
    if (r.id == id) got = &r;
  REQUIRE(got != nullptr);
  CHECK(got->preemptions > 0);
  REQUIRE(got->completions.size() == want.completions.size());
  for (size_t i = 0; i < want.completions.size(); ++i) {
    CHECK(got->completions[i].tokens == want.completions[i].tokens);
    CHECK(got->completions[i].cumulative_logprob ==
          Approx(want.completions[i].cumulative_logprob).margin(1e-4));
  }
  CHECK(e.kv_stats().blocks_used == 0);
}

TEST_CASE("a beam search request and a streaming request run together; the stream flows") {
  EngineService svc(tiny_options(16));
  SamplingParams stream;
  stream.max_tokens = 300;
  stream.ignore_eos = true;
  stream.temperature = 0;
  SamplingParams beam;
  beam.beam_width = 4;
  beam.max_tokens = 40;
  beam.ignore_eos = true;
  const auto prompt = svc.tokenizer().encode("The words of the wise", true);
  // The stream's first delta submits the beam search, on the engine thread, so the stream has
  // about 298 tokens left when the beam starts however late this thread is scheduled. (Submitting
  // from here once raced: on a loaded CI machine the stream had nearly finished by then.)
  std::promise<std::future<GenerationResult>> beam_submitted;
  std::atomic<bool> beam_done{false};
  std::atomic<int> deltas{0}, deltas_before_beam_done{0};
  auto streaming = svc.submit(svc.tokenizer().encode("And God said", true), stream,
                              [&](int, const std::string&) {
                                if (deltas.fetch_add(1) == 0)
                                  beam_submitted.set_value(svc.submit(prompt, beam).result);
                                if (!beam_done.load()) ++deltas_before_beam_done;
                              });
  const GenerationResult beams = beam_submitted.get_future().get().get();
  beam_done = true;
  // The beam search took about 40 steps of the engine; the stream got a token in each of them
  // (a beam search run outside the steps would have frozen it at its first delta). About one token
  // in twelve of this model's greedy text completes no UTF-8 character and sends no delta.
  CHECK(deltas_before_beam_done.load() - 1 >= 30);
  CHECK(streaming.result.get().completions.at(0).tokens.size() == 300);
  Engine solo(tiny_options(16));
  CHECK(beams.completions.at(0).tokens == solo.beam_search(prompt, beam).completions[0].tokens);
}

TEST_CASE("LM scoring runs in the engine's steps: a stream flows while a session scores") {
  EngineOptions o = tiny_options(16);
  o.scheduler.max_batched_tokens = 32;  // scoring 400 tokens takes over a dozen steps
  EngineService svc(o);
  SamplingParams stream;
  stream.max_tokens = 300;
  stream.ignore_eos = true;
  std::vector<int> text;
  for (int i = 0; i < 400; ++i) text.push_back(5 + (i * 37) % 400);
  const std::vector<int> head(text.begin(), text.begin() + 250);
  const std::vector<int> tail(text.begin() + 250, text.end());
  std::atomic<bool> scoring{false};
  std::atomic<int> deltas{0}, deltas_while_scoring{0};
  auto score_in_session = [&](Engine& e) {
    scoring = true;
    auto session = e.open_scoring_session();
    std::vector<float> lp = session->append(head);
    session->truncate(200);  // then a different continuation
    auto more = session->append(tail);
    lp.resize(200);
    lp.insert(lp.end(), more.begin(), more.end());
    scoring = false;
    return lp;
  };
  // The stream's first delta posts the scoring, on the engine thread, so the stream is still
  // running while the session scores however late this thread is scheduled.
  std::promise<std::future<std::vector<float>>> scoring_posted;
  auto streaming = svc.submit(svc.tokenizer().encode("And God said", true), stream,
                              [&](int, const std::string&) {
                                if (deltas.fetch_add(1) == 0)
                                  scoring_posted.set_value(svc.call(score_in_session));
                                if (scoring.load()) ++deltas_while_scoring;
                              });
  const std::vector<float> scores = scoring_posted.get_future().get().get();
  CHECK(deltas_while_scoring.load() >= 8);
  streaming.result.get();

  // The same scores as one pass over the text the session ended with.
  std::vector<int> final_text(head.begin(), head.begin() + 200);
  final_text.insert(final_text.end(), tail.begin(), tail.end());
  Engine solo(tiny_options(16));
  const auto want = solo.score_tokens(final_text);
  REQUIRE(scores.size() == want.size());
  CHECK(std::isnan(scores[0]));
  for (size_t i = 1; i < want.size(); ++i) CHECK(scores[i] == Approx(want[i]).margin(1e-4));
  CHECK(svc.call([](Engine& e) { return e.kv_stats().blocks_used; }).get() == 0);
}
