// Protected spans survive compression at any rate: the question and instruction, force tokens,
// text between keep markers (markers removed), numbers, and with keep_structure code fences and
// JSON (a compressed JSON document still parses).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "precis/compress.hpp"
#include "tests/test_compress_support.hpp"

using precis::compress;
using precis::CompressOptions;
using precis::test::corpus_prompt;
using precis::test::corpus_tokenizer;

namespace {

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("question and instruction are appended verbatim") {
  const auto& tok = corpus_tokenizer();
  const std::string prompt = corpus_prompt(tok, 600, 120);
  CompressOptions o;
  o.rate = 0.2;
  o.question = "Where  did   Abraham   go?\n(answer briefly)";
  o.instruction = "Read the passage.\tThen answer.";
  const auto r = compress(prompt, o, tok);
  CHECK(r.text.substr(0, o.instruction.size()) == o.instruction);
  CHECK(r.text.size() >= o.question.size());
  CHECK(r.text.substr(r.text.size() - o.question.size()) == o.question);
}

TEST_CASE("force tokens are kept wherever they occur, as whole words") {
  const auto& tok = corpus_tokenizer();
  const std::string prompt = corpus_prompt(tok, 800, 40);
  const auto count = [](const std::string& s, const std::string& w) {
    int n = 0;
    for (size_t i = s.find(w); i != std::string::npos; i = s.find(w, i + 1)) ++n;
    return n;
  };
  CompressOptions o;
  o.rate = 0.15;
  // As in LLMLingua, force tokens guard against token-level dropping; a whole context may still
  // be dropped at the coarse level (else "," or "." would pin every context).
  o.context_level_slack = 0.0;
  o.force_tokens = {"God", ",", "said"};
  const auto r = compress(prompt, o, tok);
  INFO(r.text);
  REQUIRE(count(prompt, "God") > 0);
  CHECK(count(r.text, "God") == count(prompt, "God"));
  CHECK(count(r.text, ",") == count(prompt, ","));
  // Whole-word matches only: every word "said" is kept.
  const auto words = [](const std::string& s, const std::string& w) {
    int n = 0;
    for (size_t i = s.find(w); i != std::string::npos; i = s.find(w, i + 1))
      n += (i == 0 || !std::isalpha(static_cast<unsigned char>(s[i - 1]))) &&
           (i + w.size() == s.size() || !std::isalpha(static_cast<unsigned char>(s[i + w.size()])));
    return n;
  };
  CHECK(words(r.text, "said") == words(prompt, "said"));
  // Sentence punctuation is always kept.
  CHECK(count(r.text, ".") == count(prompt, "."));
}

TEST_CASE("text between keep markers is kept verbatim and the markers removed") {
  const auto& tok = corpus_tokenizer();
  const std::string keep1 = "the secret code word is pomegranate and it must survive";
  const std::string keep2 = "a second kept sentence with many small words in it";
  const std::string prompt = corpus_prompt(tok, 400, 900) + " <keep>" + keep1 + "</keep> " +
                             corpus_prompt(tok, 400, 1200) + "\n\n[[" + keep2 + "]]";
  CompressOptions o;
  o.rate = 0.1;
  auto r = compress(prompt, o, tok);
  CHECK(contains(r.text, keep1));
  CHECK(!contains(r.text, "<keep>"));
  CHECK(!contains(r.text, "</keep>"));
  // Custom markers; the context holding them is never dropped at the coarse level.
  o.keep_open = "[[";
  o.keep_close = "]]";
  r = compress(prompt, o, tok);
  CHECK(contains(r.text, keep2));
  CHECK(!contains(r.text, "[["));
}

TEST_CASE("numbers survive; keep_numbers=false lets them go") {
  const auto& tok = corpus_tokenizer();
  std::string prompt;
  for (int i = 0; i < 30; ++i)
    prompt += "In the year " + std::to_string(1000 + 37 * i) + " the people of the land went up " +
              "to the city and dwelt there for " + std::to_string(i + 2) + ".5 days.\n";
  CompressOptions o;
  o.rate = 0.35;
  o.context_level_slack = 0.0;
  const auto r = compress(prompt, o, tok);
  for (int i = 0; i < 30; ++i) {
    CHECK(contains(r.text, std::to_string(1000 + 37 * i)));
    CHECK(contains(r.text, std::to_string(i + 2) + ".5"));
  }
  o.keep_numbers = false;
  o.rate = 0.2;
  const auto r2 = compress(prompt, o, tok);
  int numbers = 0;
  for (int i = 0; i < 30; ++i) numbers += contains(r2.text, std::to_string(1000 + 37 * i));
  CHECK(numbers < 30);
}

TEST_CASE("keep_structure: fenced code survives whole and JSON still parses") {
  const auto& tok = corpus_tokenizer();
  const std::string code =
      "```cpp\nint main() {\n  for (int i = 0; i < 10; ++i) print(\"the value of i\", i);\n}\n```";
  nlohmann::json doc = {
      {"title", "And God said let there be light and there was light"},
      {"verses",
       {"In the beginning God created the heaven and the earth",
        "And the earth was without form and void \"quoted\" here", 42, true, nullptr}},
      {"meta", {{"book", "Genesis of the old testament"}, {"chapter", 1}, {"ratio", -0.25e-3}}},
      {"empty", nlohmann::json::object()}};
  const std::string json_text = doc.dump(2);
  const std::string prompt =
      corpus_prompt(tok, 300, 1500) + "\n\n" + code + "\n\n" + corpus_prompt(tok, 300, 1600);
  CompressOptions o;
  o.keep_structure = true;
  for (double rate : {0.5, 0.2, 0.05}) {
    o.rate = rate;
    auto r = compress(prompt, o, tok);
    INFO("rate " << rate << "\n" << r.text);
    CHECK(contains(r.text, code));
    // A JSON document alone, compressed hard: still parses, keys and structure intact.
    const auto rj = compress(json_text, o, tok);
    INFO(rj.text);
    nlohmann::json parsed;
    REQUIRE_NOTHROW(parsed = nlohmann::json::parse(rj.text));
    CHECK(parsed.contains("title"));
    CHECK(parsed["verses"].size() == 5);
    CHECK(parsed["verses"][2] == 42);
    CHECK(parsed["verses"][3] == true);
    CHECK(parsed["verses"][4].is_null());
    CHECK(parsed["meta"]["chapter"] == 1);
    CHECK(parsed["meta"]["ratio"].get<double>() == Approx(-0.25e-3));
    CHECK(parsed["empty"].is_object());
  }
}
