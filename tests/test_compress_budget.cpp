// The budget: whatever the rate and prompt length, the compressed prompt's own token count lands
// within 5% of the target; the edge cases give a sensible result or a clear error.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "compress/compress_detail.hpp"
#include "precis/compress.hpp"
#include "tests/test_compress_support.hpp"

using precis::compress;
using precis::CompressOptions;
using precis::ScorerKind;
using precis::test::corpus_prompt;
using precis::test::corpus_tokenizer;

namespace {

bool within_5_percent(int got, int target) {
  return std::abs(got - target) <= std::max(1.0, 0.05 * target);
}

int count_tokens(const std::string& s) {
  return static_cast<int>(corpus_tokenizer().encode(s, false).size());
}

}  // namespace

TEST_CASE("stat: the output lands within 5% of the target over rates and prompt lengths") {
  const auto& tok = corpus_tokenizer();
  int cases = 0;
  double worst = 0.0;
  for (int length : {50, 120, 300, 700, 1500, 3000}) {
    const std::string prompt = corpus_prompt(tok, length, 37 * length % 1000);
    const int original = count_tokens(prompt);
    for (double rate : {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}) {
      CompressOptions o;
      o.rate = rate;
      const auto r = compress(prompt, o, tok);
      const int target = static_cast<int>(std::lround(rate * original));
      INFO("length " << length << " rate " << rate << " target " << target << " got "
                     << r.compressed_tokens << " note " << r.note);
      CHECK(r.original_tokens == original);
      // The count is that of the output text itself.
      CHECK(r.compressed_tokens == count_tokens(r.text));
      if (r.note.empty()) {
        CHECK(within_5_percent(r.compressed_tokens, target));
        worst = std::max(worst, std::abs(r.compressed_tokens - target) / double(target));
      } else {
        // Only allowed when protected text (sentence ends) alone is over the budget.
        CHECK_THAT(r.note, Catch::Contains("protected text alone"));
      }
      ++cases;
    }
  }
  CHECK(cases == 54);
  WARN("stat budget: worst relative error " << worst);
}

TEST_CASE("target_tokens: the whole prompt, question and instruction included, meets it") {
  const auto& tok = corpus_tokenizer();
  const std::string prompt = corpus_prompt(tok, 800, 200);
  for (int target : {60, 150, 400}) {
    CompressOptions o;
    o.target_tokens = target;
    o.question = "Who called the light Day?";
    o.instruction = "Answer from the text.";
    const auto r = compress(prompt, o, tok);
    INFO("target " << target << " got " << r.compressed_tokens << " note " << r.note);
    CHECK(r.note.empty());
    CHECK(within_5_percent(r.compressed_tokens, target));
    CHECK(r.compressed_tokens == count_tokens(r.text));
    CHECK(r.text.find(o.question) != std::string::npos);
    CHECK(r.text.find(o.instruction) != std::string::npos);
  }
}

TEST_CASE("kept mask and pieces describe the original prompt's tokens") {
  const auto& tok = corpus_tokenizer();
  const std::string prompt = corpus_prompt(tok, 300, 10);
  CompressOptions o;
  o.rate = 0.4;
  const auto r = compress(prompt, o, tok);
  const auto ids = tok.encode(prompt, false);
  REQUIRE(r.pieces.size() == ids.size());
  REQUIRE(r.kept.size() == ids.size());
  for (size_t i = 0; i < ids.size(); ++i) CHECK(r.pieces[i] == tok.piece(static_cast<int>(ids[i])));
  int kept = 0;
  for (bool k : r.kept) kept += k;
  // Re-tokenising the joined words may shift a few tokens, not many.
  CHECK(std::abs(kept - r.compressed_tokens) <= std::max(3, r.compressed_tokens / 10));
  CHECK(r.ratio == Approx(double(r.compressed_tokens) / r.original_tokens));
  CHECK(r.seconds >= 0.0);
}

TEST_CASE("an empty prompt gives an empty result, not an error") {
  CompressOptions o;
  o.rate = 0.5;
  const auto r = compress("", o, corpus_tokenizer());
  CHECK(r.text.empty());
  CHECK(r.original_tokens == 0);
  CHECK(r.compressed_tokens == 0);
  CHECK(r.kept.empty());
  CHECK(r.note.empty());
}

TEST_CASE("rate 1.0 and a target above the prompt return the prompt unchanged") {
  const auto& tok = corpus_tokenizer();
  const std::string prompt = corpus_prompt(tok, 200, 50) + "\n\n  odd   spacing\tkept\n";
  CompressOptions o;
  o.rate = 1.0;
  auto r = compress(prompt, o, tok);
  CHECK(r.text == prompt);
  CHECK(r.ratio == 1.0);
  CHECK(r.compressed_tokens == r.original_tokens);
  for (bool k : r.kept) CHECK(k);
  CompressOptions t;
  t.target_tokens = 100000;
  r = compress(prompt, t, tok);
  CHECK(r.text == prompt);
}

TEST_CASE("a rate below what protected text allows keeps all of it and says why") {
  const auto& tok = corpus_tokenizer();
  const std::string prompt =
      "The numbers are 12345, 67890, 13579 and 24680. " + corpus_prompt(tok, 200, 300);
  CompressOptions o;
  o.target_tokens = 20;
  o.question = "Which of the numbers given at the start of the text is the largest one?";
  o.force_tokens = {"LORD"};
  const auto r = compress(prompt, o, tok);
  CHECK_THAT(r.note, Catch::Contains("protected text alone is") &&
                         Catch::Contains("above the target of 20"));
  CHECK(r.text.find(o.question) != std::string::npos);
  for (const char* n : {"12345", "67890", "13579", "24680"})
    CHECK(r.text.find(n) != std::string::npos);
  // Everything droppable went: the output is no longer than the protected text needs.
  CHECK(r.compressed_tokens < r.original_tokens / 2);
}

TEST_CASE("a single huge context: the coarse level cannot drop it, the fine level does the work") {
  const auto& tok = corpus_tokenizer();
  const std::string prompt = corpus_prompt(tok, 2500, 400, /*para=*/100000);
  REQUIRE(prompt.find("\n\n") == std::string::npos);
  CompressOptions o;
  o.rate = 0.25;
  o.question = "What did Joseph dream?";
  precis::compression::CompressDetail d;
  const auto r = precis::compression::compress_detailed(prompt, o, tok, nullptr, &d);
  CHECK(d.contexts == 1);
  CHECK(d.dropped_contexts.empty());
  CHECK(r.note.empty());
  CHECK(within_5_percent(r.compressed_tokens, d.target_tokens));
  CHECK(r.compressed_tokens < r.original_tokens / 2);
}

TEST_CASE("the coarse level drops whole contexts when there are many; never the last") {
  const auto& tok = corpus_tokenizer();
  const std::string prompt = corpus_prompt(tok, 1500, 600, 3);
  CompressOptions o;
  o.rate = 0.2;
  precis::compression::CompressDetail d;
  const auto r = precis::compression::compress_detailed(prompt, o, tok, nullptr, &d);
  CHECK(d.contexts > 5);
  CHECK(!d.dropped_contexts.empty());
  CHECK(d.dropped_contexts.size() < static_cast<size_t>(d.contexts));
  CHECK(within_5_percent(r.compressed_tokens, d.target_tokens));
  // With slack 0 no context is dropped whole.
  o.context_level_slack = 0.0;
  const auto r0 = precis::compression::compress_detailed(prompt, o, tok, nullptr, &d);
  CHECK(d.dropped_contexts.empty());
  CHECK(within_5_percent(r0.compressed_tokens, d.target_tokens));
}

TEST_CASE("validate() names the bad field") {
  auto err = [](CompressOptions o) {
    try {
      o.validate();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CompressOptions o;
  CHECK_THAT(err(o), Catch::Contains("rate"));  // neither rate nor target
  o.rate = 0.5;
  CHECK(err(o) == "no error");
  o.target_tokens = 10;
  CHECK_THAT(err(o), Catch::Contains("target_tokens"));  // both
  for (double bad : {0.0, -0.1, 1.5, std::nan("")}) {
    CompressOptions b;
    b.rate = bad;
    CHECK_THAT(err(b), Catch::StartsWith("rate"));
  }
  CompressOptions t;
  t.target_tokens = 0;
  CHECK_THAT(err(t), Catch::StartsWith("target_tokens"));
  CompressOptions i;
  i.rate = 0.5;
  i.iterative_size = 0;
  CHECK_THAT(err(i), Catch::StartsWith("iterative_size"));
  CompressOptions s;
  s.rate = 0.5;
  s.scorer = static_cast<ScorerKind>(7);  // not a kind
  CHECK_THAT(err(s), Catch::StartsWith("scorer") && Catch::Contains("7"));
  CompressOptions c;
  c.rate = 0.5;
  c.context_level_slack = -1;
  CHECK_THAT(err(c), Catch::StartsWith("context_level_slack"));
  // compress() validates too, and the lm scorer without an engine is a clear error.
  CHECK_THROWS_AS(compress("text", CompressOptions{}, corpus_tokenizer()), std::invalid_argument);
  CompressOptions lm;
  lm.rate = 0.5;
  lm.scorer = ScorerKind::lm;
  CHECK_THROWS_WITH(compress("some text", lm, corpus_tokenizer()), Catch::Contains("lm"));
}

TEST_CASE("context_rate_spread: better-ranked contexts keep more, the total still on budget") {
  const auto& tok = corpus_tokenizer();
  const std::string prompt = corpus_prompt(tok, 1500, 600, 3);
  CompressOptions o;
  o.rate = 0.4;
  o.context_level_slack = 0.0;  // every context stays in play
  o.question = "Who went up to the mountain, and what did the LORD say unto Moses?";
  o.context_rate_spread = 0.0;
  precis::compression::CompressDetail flat, spread;
  const auto r0 = precis::compression::compress_detailed(prompt, o, tok, nullptr, &flat);
  o.context_rate_spread = 0.3;
  const auto r1 = precis::compression::compress_detailed(prompt, o, tok, nullptr, &spread);
  REQUIRE(spread.contexts > 5);
  REQUIRE(spread.context_scores.size() == static_cast<size_t>(spread.contexts));
  CHECK(flat.context_scores.empty());  // no ranking is run when nothing uses it
  CHECK(within_5_percent(r0.compressed_tokens, flat.target_tokens));
  CHECK(within_5_percent(r1.compressed_tokens, spread.target_tokens));

  // Kept share of each context's droppable tokens: flat, every context near the common rate;
  // spread, ordered by rank, the best about 0.6 more than the worst (+0.3 and -0.3 around it).
  auto share = [](const precis::compression::CompressDetail& d, int c) {
    return static_cast<double>(d.context_kept_tokens[c]) / d.context_droppable_tokens[c];
  };
  int best = 0, worst = 0;
  for (int c = 0; c < spread.contexts; ++c) {
    if (spread.context_scores[c] > spread.context_scores[best]) best = c;
    if (spread.context_scores[c] < spread.context_scores[worst]) worst = c;
  }
  INFO("best " << best << " share " << share(spread, best) << ", worst " << worst << " share "
               << share(spread, worst) << "; flat " << share(flat, best) << ", "
               << share(flat, worst));
  CHECK(share(spread, best) - share(spread, worst) > 0.45);
  CHECK(std::abs(share(flat, best) - share(flat, worst)) < 0.15);
  // Every context's kept share rises with its rank (up to a unit's rounding).
  std::vector<int> ranked(spread.contexts);
  for (int c = 0; c < spread.contexts; ++c) ranked[c] = c;
  std::stable_sort(ranked.begin(), ranked.end(), [&](int a, int b) {
    return spread.context_scores[a] > spread.context_scores[b];
  });
  for (size_t i = 1; i < ranked.size(); ++i) {
    INFO("rank " << i << ": context " << ranked[i] << " share " << share(spread, ranked[i])
                 << " after " << share(spread, ranked[i - 1]));
    CHECK(share(spread, ranked[i]) <= share(spread, ranked[i - 1]) + 0.1);
  }
}

TEST_CASE("context_rate_spread outside [0, 1] is an error naming it") {
  for (double bad : {-0.1, 1.5, std::nan("")}) {
    CompressOptions o;
    o.rate = 0.5;
    o.context_rate_spread = bad;
    CHECK_THROWS_WITH(o.validate(), Catch::StartsWith("context_rate_spread"));
  }
}
