// The LM scorer (LLMLingua's self-information): each segment is scored against the compressed
// prefix held in the KV cache, and those scores equal a full re-score of the same tokens; the
// budget is met; question-conditioned coarse ranking uses the model.
#include <catch2/catch.hpp>
#include <cmath>

#include "compress/compress_detail.hpp"
#include "compress/context_ranker.hpp"
#include "engine/engine.hpp"
#include "tests/test_compress_support.hpp"

using precis::CompressOptions;
using precis::ScorerKind;
using precis::compression::compress_detailed;
using precis::compression::CompressDetail;
using precis::test::corpus_prompt;

namespace {

precis::engine::Engine& small_engine() {
  static precis::engine::Engine e([] {
    precis::engine::EngineOptions o;
    o.model_dir = precis::test::cached_model("small", 4, precis::engine::DType::F32);
    o.kv_cache_mb = 64;
    return o;
  }());
  return e;
}

}  // namespace

TEST_CASE("lm: segment scores with the reused KV cache equal a full re-score of the kept prefix") {
  auto& e = small_engine();
  const auto& tok = e.tokenizer();
  const std::string prompt = corpus_prompt(tok, 700, 40);
  CompressOptions o;
  o.rate = 0.4;
  o.scorer = ScorerKind::lm;
  o.iterative_size = 64;
  o.context_level_slack = 0.0;  // keep every context so all segments are fine-level work
  CompressDetail d;
  const auto r = compress_detailed(prompt, o, tok, &e, &d);
  REQUIRE(d.segments.size() >= 5);
  const auto ids = tok.encode(r.text.empty() ? "" : prompt, false);
  // Every token of the prompt was scored exactly once, in order.
  std::vector<int> scored;
  for (const auto& s : d.segments) scored.insert(scored.end(), s.segment.begin(), s.segment.end());
  CHECK(scored == ids);

  // The context of segment k is BOS + exactly the tokens kept from the segments before it (the
  // prompt fits the small model's window, so no restart happened).
  std::vector<int> kept_prefix;
  size_t at = 0;
  for (size_t k = 0; k < d.segments.size(); ++k) {
    const auto& s = d.segments[k];
    std::vector<int> want{tok.bos_id()};
    want.insert(want.end(), kept_prefix.begin(), kept_prefix.end());
    CHECK(s.context == want);
    for (size_t i = 0; i < s.segment.size(); ++i)
      if (r.kept[at + i]) kept_prefix.push_back(s.segment[i]);
    at += s.segment.size();
  }

  // Scores equal a full forward pass over context + segment, for every segment checked.
  for (size_t k = 0; k < d.segments.size(); k += 2) {
    const auto& s = d.segments[k];
    std::vector<int> full = s.context;
    full.insert(full.end(), s.segment.begin(), s.segment.end());
    const auto want = e.score_tokens(full);
    REQUIRE(s.logprobs.size() == s.segment.size());
    for (size_t i = 0; i < s.segment.size(); ++i)
      CHECK(s.logprobs[i] == Approx(want[s.context.size() + i]).margin(1e-4));
  }
  CHECK(e.kv_stats().blocks_used == 0);  // the session was freed
}

TEST_CASE("lm: the output lands within 5% of the target") {
  auto& e = small_engine();
  const auto& tok = e.tokenizer();
  for (int length : {80, 400, 1500}) {  // 1500 overflows the 1024-token window: restarts
    const std::string prompt = corpus_prompt(tok, length, 3 * length);
    for (double rate : {0.2, 0.5, 0.8}) {
      CompressOptions o;
      o.rate = rate;
      o.scorer = ScorerKind::lm;
      CompressDetail d;
      const auto r = compress_detailed(prompt, o, tok, &e, &d);
      INFO("length " << length << " rate " << rate << " target " << d.target_tokens << " got "
                     << r.compressed_tokens << " note " << r.note);
      CHECK(r.note.empty());
      CHECK(std::abs(r.compressed_tokens - d.target_tokens) <=
            std::max(1.0, 0.05 * d.target_tokens));
      CHECK(r.compressed_tokens == static_cast<int>(tok.encode(r.text, false).size()));
    }
  }
}

TEST_CASE("lm: question-conditioned ranking scores log p(question | context)") {
  auto& e = small_engine();
  const auto& tok = e.tokenizer();
  const std::vector<std::string> texts = {"And God called the light Day.",
                                          "And the evening and the morning were the first day."};
  std::vector<std::vector<int>> ctx;
  for (const auto& t : texts) ctx.push_back(tok.encode(t, false));
  const auto q = tok.encode("What did God call the light?", false);
  const auto s = precis::compression::rank_contexts_lm(e, ctx, q);
  REQUIRE(s.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    std::vector<int> full{tok.bos_id()};
    full.insert(full.end(), ctx[i].begin(), ctx[i].end());
    full.insert(full.end(), q.begin(), q.end());
    const auto lp = e.score_tokens(full);
    double sum = 0.0;
    for (size_t k = full.size() - q.size(); k < full.size(); ++k) sum += lp[k];
    CHECK(s[i] == Approx(sum / q.size()).margin(1e-4));
  }
  // Without a question: log-perplexity of the context, which is positive.
  const auto p = precis::compression::rank_contexts_lm(e, ctx, {});
  CHECK(p[0] > 0.0);
  CHECK(p[1] > 0.0);
}

TEST_CASE("lm: a tokenizer that is not the model's is refused") {
  auto& e = small_engine();
  CompressOptions o;
  o.rate = 0.5;
  o.scorer = ScorerKind::lm;
  CHECK_THROWS_WITH(precis::compress("some text here", o, precis::test::corpus_tokenizer(), &e),
                    Catch::Contains("tokenizer"));
}
