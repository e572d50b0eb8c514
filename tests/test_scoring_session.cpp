// Incremental scoring with a reused KV cache must give exactly what a full re-score of the same
// tokens gives, including after truncating and appending something else.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/engine.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

namespace {

void check_same(const std::vector<float>& got, const std::vector<float>& want, size_t offset) {
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[offset + i])) {
      CHECK(std::isnan(got[i]));
    } else {
      CHECK(got[i] == Approx(want[offset + i]).margin(1e-5));
    }
  }
}

// The small test model; max_batched_tokens > 0 caps the tokens of one engine step.
EngineOptions small_model_options(int max_batched_tokens = 0) {
  EngineOptions o;
  o.model_dir = precis::test::cached_model("small", 4, DType::F16);
  o.kv_cache_mb = 32;
  if (max_batched_tokens > 0) o.scheduler.max_batched_tokens = max_batched_tokens;
  return o;
}

std::vector<int> genesis_tokens(Engine& e) {
  return e.tokenizer().encode(
      "And the LORD God formed man of the dust of the ground, and breathed into his nostrils the "
      "breath of life; and man became a living soul.",
      true);
}

}  // namespace

TEST_CASE("segment scores with a reused KV cache equal a full re-score") {
  Engine e(small_model_options());
  const std::vector<int> text = genesis_tokens(e);
  auto session = e.open_scoring_session();
  std::vector<float> pieces;
  for (size_t at = 0; at < text.size(); at += 7) {
    std::vector<int> seg(text.begin() + at, text.begin() + std::min(text.size(), at + 7));
    auto lp = session->append(seg);
    pieces.insert(pieces.end(), lp.begin(), lp.end());
  }
  check_same(pieces, e.score_tokens(text), 0);

  // Keep a prefix, then continue with different tokens (what iterative compression does).
  session->truncate(10);
  std::vector<int> other{text[20], text[3], text[15], text[8]};
  auto lp = session->append(other);
  std::vector<int> full(text.begin(), text.begin() + 10);
  full.insert(full.end(), other.begin(), other.end());
  check_same(lp, e.score_tokens(full), 10);

  const int used = e.kv_stats().blocks_used;
  CHECK(used > 0);
  session.reset();
  CHECK(e.kv_stats().blocks_used == 0);
}

TEST_CASE("extend conditions like append without scoring its own tokens") {
  // Extends longer than 5 tokens run in several chunks.
  Engine e(small_model_options(5));
  const std::vector<int> text = genesis_tokens(e);
  REQUIRE(text.size() > 24);
  const std::vector<float> want = e.score_tokens(text);
  auto session = e.open_scoring_session();
  // Context by extend (12 tokens, three chunks), then scores by append: the scores are the full
  // re-score's, the first one included (it needs the extend's last distribution).
  session->extend(std::vector<int>(text.begin(), text.begin() + 12));
  CHECK(session->size() == 12);
  check_same(session->append(std::vector<int>(text.begin() + 12, text.begin() + 18)), want, 12);
  // Truncate into the extended part, extend again, append: the same.
  session->truncate(7);
  session->extend(std::vector<int>(text.begin() + 7, text.begin() + 20));
  check_same(session->append(std::vector<int>(text.begin() + 20, text.end())), want, 20);
  CHECK(session->tokens() == text);
  // A session's first tokens may come by extend too (a restart from a kept tail does that).
  auto fresh = e.open_scoring_session();
  fresh->extend({text[0]});
  check_same(fresh->append(std::vector<int>(text.begin() + 1, text.begin() + 9)), want, 1);
}

TEST_CASE("append_after scores only its tokens, as extend then append would", "[scoring]") {
  Engine e(small_model_options(5));  // the context and the tokens span several chunks
  const std::vector<int> text = genesis_tokens(e);
  REQUIRE(text.size() > 24);
  const std::vector<float> want = e.score_tokens(text);
  auto session = e.open_scoring_session();
  // From nothing: 9 tokens of context (not scored), then 6 scored, the first included.
  auto lp = session->append_after(std::vector<int>(text.begin(), text.begin() + 9),
                                  std::vector<int>(text.begin() + 9, text.begin() + 15));
  REQUIRE(lp.size() == 6);
  check_same(lp, want, 9);
  CHECK(session->size() == 15);
  // After a truncate, as a compressor continues: kept context, then the next segment.
  session->truncate(4);
  lp = session->append_after(std::vector<int>(text.begin() + 4, text.begin() + 16),
                             std::vector<int>(text.begin() + 16, text.end()));
  check_same(lp, want, 16);
  CHECK(session->tokens() == text);
  // An empty context is append; empty tokens are extend.
  session->truncate(20);
  check_same(session->append_after({}, std::vector<int>(text.begin() + 20, text.end())), want, 20);
  session->truncate(20);
  CHECK(session->append_after(std::vector<int>(text.begin() + 20, text.end()), {}).empty());
  CHECK(session->tokens() == text);
}

TEST_CASE("score_tails gives score_many's log-probs from each start on, and no rows before") {
  EngineOptions o;
  o.model_dir = precis::test::cached_model("small", 4, DType::F16);
  o.kv_cache_mb = 32;
  o.scheduler.max_batched_tokens = 6;  // sequences in several chunks, and together in steps
  Engine e(o);
  const auto a = e.tokenizer().encode(
      "In the beginning God created the heaven and the earth. And the earth was without form.",
      true);
  const auto b =
      e.tokenizer().encode("And God said, Let there be light: and there was light.", true);
  const std::vector<std::vector<int>> seqs{a, b, a};
  const auto all = e.score_many(seqs);
  // Starts: inside a later chunk, at 1 (every score), and the very last token.
  const std::vector<int> from{13, 1, static_cast<int>(a.size()) - 1};
  const auto tails = e.score_tails(seqs, from);
  REQUIRE(tails.size() == seqs.size());
  for (size_t k = 0; k < seqs.size(); ++k) {
    INFO("sequence " << k << " from " << from[k]);
    REQUIRE(tails[k].size() == seqs[k].size());
    for (size_t i = static_cast<size_t>(from[k]); i < seqs[k].size(); ++i)
      CHECK(tails[k][i] == Approx(all[k][i]).margin(1e-5));
    // Before the start: rows were skipped, so no log-probs (except where a chunk's last row, which
    // is always computed, supplied one: those equal score_many's too).
    int skipped = 0;
    for (int i = 1; i < from[k]; ++i) {
      if (std::isnan(tails[k][i]))
        ++skipped;
      else
        CHECK(tails[k][i] == Approx(all[k][i]).margin(1e-5));
    }
    // Chunks of at most 6 tokens leave at least 5 of every 6 rows before a start unwanted.
    CHECK(skipped >= (from[k] - 1) * 5 / 6 - 1);
  }
  // Fewer starts than sequences is an error, not a guess.
  CHECK_THROWS_AS(e.score_tails(seqs, {1, 1}), std::invalid_argument);
}
