// An explicit question (the SDK's Request::question with chat messages, the API's
// precis.question): how a final user message is split around it, what the API makes of it, and
// that the pipeline keeps it whole and last under strong compression, even when the message does
// not contain it.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

#include "middleware/chat_prompt.hpp"
#include "middleware/server/api_error.hpp"
#include "middleware/server/openai_protocol.hpp"
#include "precis/precis.hpp"
#include "tests/test_support.hpp"

using namespace precis;
using nlohmann::json;
using precis::server::ApiError;
using precis::server::ApiRequest;
using precis::server::parse_chat_request;
using precis::server::parse_completion_request;

namespace {

const std::string kDocs =
    "Now it came to pass in the days when the judges ruled, that there was a famine in the land. "
    "And a certain man of Bethlehemjudah went to sojourn in the country of Moab, he, and his "
    "wife, and his two sons. And the name of the man was Elimelech, and the name of his wife "
    "Naomi, and the name of his two sons Mahlon and Chilion, Ephrathites of Bethlehemjudah. And "
    "they came into the country of Moab, and continued there. And Elimelech Naomi's husband "
    "died; and she was left, and her two sons.";
// No '?': the automatic split would not find it.
const std::string kQuestion = "Fill in the blank with a name: the wife of Elimelech was ___.";

}  // namespace

TEST_CASE("an explicit question splits a message around it, wherever it is") {
  SECTION("in the middle: the text on both sides are the documents") {
    const SplitMessage m =
        split_documents_question(kDocs + "\n\n" + kQuestion + "\nThanks.", kQuestion);
    CHECK(m.question == kQuestion);
    CHECK(m.documents == kDocs + "\n\nThanks.");
  }
  SECTION("at the end") {
    const SplitMessage m = split_documents_question(kDocs + " " + kQuestion, kQuestion);
    CHECK(m.question == kQuestion);
    CHECK(m.documents == kDocs);
  }
  SECTION("absent: the whole text is documents, the question is added") {
    const SplitMessage m = split_documents_question(kDocs, kQuestion);
    CHECK(m.question == kQuestion);
    CHECK(m.documents == kDocs);
  }
  SECTION("a short message is split too") {
    const SplitMessage m = split_documents_question("Ruth. Who?", "Who?");
    CHECK(m.documents == "Ruth.");
    CHECK(m.question == "Who?");
  }
  SECTION("without one, a short message or one that does not ask stays all question") {
    CHECK(split_documents_question(kDocs).documents.empty());
    CHECK(split_documents_question("Ruth. Who?").documents.empty());
  }
}

TEST_CASE("precis.question in the API") {
  const PipelineConfig defaults;
  SECTION("chat: carried to the request") {
    const json body = {{"messages", {{{"role", "user"}, {"content", kDocs + " " + kQuestion}}}},
                       {"precis", {{"question", kQuestion}}}};
    const ApiRequest r = parse_chat_request(body.dump(), defaults);
    REQUIRE(r.prompts.size() == 1);
    CHECK(r.prompts[0].question == kQuestion);
    CHECK(r.prompts[0].messages.at(0).content == kDocs + " " + kQuestion);  // split later
  }
  SECTION("completions: carried, and taken out of the prompt after the stages") {
    const json body = {{"prompt", kDocs + " " + kQuestion}, {"precis", {{"question", kQuestion}}}};
    const ApiRequest r = parse_completion_request(body.dump(), defaults);
    REQUIRE(r.prompts.size() == 1);
    CHECK(r.prompts[0].question == kQuestion);
    CHECK(r.prompts[0].prompt == kDocs + " " + kQuestion);  // whole, for the stages to mask
    Request after_stages = r.prompts[0];
    take_question_out_of_prompt(after_stages);
    CHECK(after_stages.prompt == kDocs);
  }
  SECTION("empty or not a string: 400 naming the field") {
    for (const json& q : {json(""), json(3)}) {
      const json body = {{"prompt", kDocs}, {"precis", {{"question", q}}}};
      try {
        parse_completion_request(body.dump(), defaults);
        FAIL("accepted " << q.dump());
      } catch (const ApiError& e) {
        CHECK(std::string(e.what()).find("/precis/question") != std::string::npos);
      }
    }
  }
}

TEST_CASE("the pipeline keeps an explicit question whole and last in a chat request") {
  PipelineConfig cfg;
  cfg.model.path = test::cached_model("tiny", 21, engine::DType::F32);
  cfg.model.kv_cache_mb = 32;
  cfg.compress.scorer = ScorerKind::stat;
  cfg.plan_enabled = false;
  cfg.generate.max_tokens = 2;
  cfg.generate.temperature = 0;
  cfg.chat_template = "chatml";
  Pipeline pipeline(cfg);

  SECTION("compressed hard: the documents shrink, the question survives verbatim and last") {
    Request r;
    r.messages = {{"user", kQuestion + "\n\n" + kDocs}};  // the question first, as some ask
    r.question = kQuestion;
    r.rate = 0.3;
    const Result res = pipeline.run(r);
    CHECK(res.compressed_tokens < res.original_tokens);
    const size_t at = res.final_prompt.rfind(kQuestion);
    REQUIRE(at != std::string::npos);
    // After the question only the template's end of turn and assistant header follow (chatml).
    CHECK(res.final_prompt.substr(at + kQuestion.size()) == "<|im_end|>\n<|im_start|>assistant\n");
  }
  SECTION("neither compressed nor planned: a question the message lacks still reaches the model") {
    Request r;
    r.messages = {{"user", kDocs}};
    r.question = kQuestion;
    r.compress = false;
    const Result res = pipeline.run(r);
    CHECK(res.final_prompt.find(kQuestion) != std::string::npos);
    CHECK(res.final_prompt.find("Bethlehemjudah") != std::string::npos);
  }
}

// A question the prompt holds whole is still taken out of it and placed last, once.
TEST_CASE("take_question_out_of_prompt: only where the prompt holds the question") {
  Request r;
  r.prompt = "Doc one.\n\nIs it true?\n\nDoc two.";
  r.question = "Is it true?";
  take_question_out_of_prompt(r);
  CHECK(r.prompt == "Doc one.\n\nDoc two.");
  CHECK(r.question == "Is it true?");
  Request elsewhere;
  elsewhere.prompt = "  Doc one.  ";
  elsewhere.question = "Not in it?";
  take_question_out_of_prompt(elsewhere);
  CHECK(elsewhere.prompt == "  Doc one.  ");  // untouched: nothing to take out
}

TEST_CASE("the pipeline gives a completion's explicit question once, last") {
  PipelineConfig cfg;
  cfg.model.path = test::cached_model("tiny", 21, engine::DType::F32);
  cfg.model.kv_cache_mb = 32;
  cfg.compress_enabled = false;
  cfg.plan_enabled = false;
  cfg.generate.max_tokens = 1;
  Pipeline pipeline(cfg);
  Request r;
  r.prompt = kQuestion + "\n\n" + kDocs;
  r.question = kQuestion;
  const Result res = pipeline.run(r);
  INFO(res.final_prompt);
  const size_t at = res.final_prompt.find(kQuestion);
  REQUIRE(at != std::string::npos);
  CHECK(res.final_prompt.find(kQuestion, at + 1) == std::string::npos);
  CHECK(at > res.final_prompt.find("Bethlehemjudah"));
}
