// Many threads submitting to one engine: every request completes with the output it would get
// alone, and cancellation frees its blocks.
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "engine/engine_service.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

TEST_CASE("eight threads submitting concurrently all get correct, complete results") {
  EngineOptions o;
  o.model_dir = precis::test::cached_model("tiny", 8, DType::F32);
  o.kv_cache_mb = 16;
  EngineService svc(o);
  const std::vector<std::string> prompts = {"In the beginning", "And the earth",  "Let there be",
                                            "And God saw",      "Two are better", "A good name",
                                            "Vanity of",        "The words of"};
  SamplingParams p;
  p.temperature = 0.7f;
  p.max_tokens = 20;
  p.ignore_eos = true;
  std::vector<std::vector<int>> got(prompts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] {
      SamplingParams q = p;
      q.seed = i;
      auto sub = svc.submit(svc.tokenizer().encode(prompts[i], true), q);
      got[i] = sub.result.get().completions.at(0).tokens;
    });
  }
  for (auto& t : threads) t.join();
  // Alone, on a fresh engine, each seeded request gives the same tokens.
  Engine solo(o);
  for (size_t i = 0; i < prompts.size(); ++i) {
    SamplingParams q = p;
    q.seed = i;
    CHECK(got[i] ==
          solo.generate_tokens(solo.tokenizer().encode(prompts[i], true), q).completions[0].tokens);
  }
  CHECK(svc.call([](Engine& e) { return e.kv_stats().blocks_used; }).get() == 0);
}

TEST_CASE("cancel aborts a running request and frees its blocks") {
  EngineOptions o;
  o.model_dir = precis::test::cached_model("tiny", 8, DType::F32);
  EngineService svc(o);
  SamplingParams p;
  p.max_tokens = 400;
  p.ignore_eos = true;
  // The third piece holds the engine thread until the cancel is posted, so the request is still
  // running when the cancel lands however late this thread is scheduled.
  std::atomic<int> pieces{0};
  std::promise<void> third_piece, cancel_posted;
  auto sub =
      svc.submit(svc.tokenizer().encode("And God said", true), p, [&](int, const std::string&) {
        if (++pieces == 3) {
          third_piece.set_value();
          cancel_posted.get_future().wait();
        }
      });
  third_piece.get_future().wait();
  sub.cancel();
  cancel_posted.set_value();
  auto r = sub.result.get();
  CHECK(r.completions.at(0).finish_reason == "abort");
  CHECK(r.completions[0].tokens.size() < 400);
  CHECK(svc.call([](Engine& e) { return e.kv_stats().blocks_used; }).get() == 0);
}

TEST_CASE("a bad request fails its own future and the service keeps serving") {
  EngineOptions o;
  o.model_dir = precis::test::cached_model("tiny", 8, DType::F32);
  EngineService svc(o);
  SamplingParams bad;
  bad.top_p = 0;
  CHECK_THROWS_WITH(svc.submit({1, 5}, bad).result.get(), Catch::Contains("top_p"));
  SamplingParams ok;
  ok.max_tokens = 3;
  ok.ignore_eos = true;
  CHECK(svc.submit({1, 5}, ok).result.get().completions[0].tokens.size() == 3);
}
