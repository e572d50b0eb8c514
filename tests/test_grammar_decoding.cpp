// GBNF-constrained generation on the tiny model: sampled at temperature 1 over many seeds and
// with n > 1, every output that ends with "stop" is a sentence of the grammar (checked by the
// recognizer afresh), an output cut by max_tokens is a prefix of one, and bad requests fail
// plainly.
#include <catch2/catch.hpp>

#include "engine/engine.hpp"
#include "engine/gbnf_grammar.hpp"
#include "engine/json_grammar.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

TEST_CASE("every sample is a sentence of its GBNF grammar") {
  EngineOptions o;
  o.model_dir = precis::test::cached_model("tiny", 11, DType::F32);
  Engine e(o);
  const std::string text = R"(
# An answer and a reason, as a small model would be asked to give them.
root   ::= answer ", because " reason "."
answer ::= "yes" | "no"
reason ::= word (" " word){0,5}
word   ::= [a-z]+
)";
  auto grammar = std::make_shared<const GbnfGrammar>(GbnfGrammar::parse(text));
  const GbnfRecognizer check(*grammar);
  SamplingParams p;
  p.grammar = grammar;
  p.temperature = 1.0f;
  p.max_tokens = 40;
  p.n = 3;
  int stopped = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    p.seed = seed;
    const auto r = e.generate("And God said", p);
    REQUIRE(r.completions.size() == 3);
    for (const auto& c : r.completions) {
      INFO("seed " << seed << ": \"" << c.text << "\" (" << c.finish_reason << ")");
      GbnfState s = check.start();
      REQUIRE(check.feed(s, c.text));  // always a prefix
      if (c.finish_reason == "stop") {
        CHECK(check.complete(s));
        ++stopped;
      } else {
        CHECK(c.finish_reason == "length");
      }
    }
  }
  CHECK(stopped > 0);
  CHECK(e.kv_stats().blocks_used == 0);
}

TEST_CASE("a grammar with beam search, or with a response format, is refused plainly") {
  SamplingParams p;
  p.grammar = std::make_shared<const GbnfGrammar>(GbnfGrammar::parse("root ::= \"a\""));
  p.beam_width = 2;
  CHECK_THROWS_WITH(p.validate(), Catch::Contains("beam search"));
  p.beam_width = 0;
  p.constraint = JsonGrammar::any_object();
  CHECK_THROWS_WITH(p.validate(), Catch::Contains("cannot both"));
}
