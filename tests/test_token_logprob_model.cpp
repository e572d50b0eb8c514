// compress() scores through the public TokenLogprobModel interface, not the engine: a model an
// application writes (here one that forwards to an engine and counts its calls) gives the same
// compression as the engine itself, and the "lm" scorer fails plainly without one.
#include <catch2/catch.hpp>

#include "engine/engine.hpp"
#include "precis/compress.hpp"
#include "tests/test_compress_support.hpp"

using precis::CompressOptions;
using precis::ScorerKind;

namespace {

class CountingModel : public precis::TokenLogprobModel {
 public:
  explicit CountingModel(precis::engine::Engine& e) : e_(e) {}
  const precis::engine::Tokenizer& tokenizer() const override { return e_.tokenizer(); }
  int context_window() const override { return e_.context_window(); }
  std::vector<float> score_tokens(const std::vector<int>& tokens) override {
    ++scores;
    return e_.score_tokens(tokens);
  }
  std::unique_ptr<precis::TokenLogprobSession> open_logprob_session() override {
    ++sessions;
    return e_.open_logprob_session();
  }
  int scores = 0, sessions = 0;

 private:
  precis::engine::Engine& e_;
};

}  // namespace

TEST_CASE("compress with an application's TokenLogprobModel equals compress with the engine") {
  precis::engine::EngineOptions o;
  o.model_dir = precis::test::cached_model("small", 4, precis::engine::DType::F32);
  o.kv_cache_mb = 64;
  precis::engine::Engine e(o);
  const auto& tok = e.tokenizer();
  const std::string prompt = precis::test::corpus_prompt(tok, 600, 40);
  CompressOptions co;
  co.rate = 0.4;
  co.scorer = ScorerKind::lm;
  co.question = "Who stayed with Naomi?";
  CountingModel counting(e);
  const auto via_interface = precis::compress(prompt, co, tok, &counting);
  const auto via_engine = precis::compress(prompt, co, tok, &e);
  CHECK(via_interface.text == via_engine.text);
  CHECK(via_interface.kept == via_engine.kept);
  CHECK(counting.sessions >= 1);  // the fine level's session
  CHECK(counting.scores >= 1);    // the coarse level's question-conditioned ranking
  CHECK_THROWS_WITH(precis::compress(prompt, co, tok, nullptr), Catch::Contains("needs a model"));
}
