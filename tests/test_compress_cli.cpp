// `precis compress` as a user runs it: text and JSON output, and clear errors.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/test_compress_support.hpp"

using precis::test::run_command;

namespace {

std::string precis_cmd(const std::string& args) {
  return std::string(PRECIS_BINARY) + " compress " + args + " 2>&1";
}

}  // namespace

TEST_CASE("compress --json prints the documented fields") {
  const std::string model = precis::test::cached_model("tiny", 1, precis::engine::DType::F32);
  const std::string dir = precis::test::scratch_dir("compress-cli");
  const std::string file = dir + "/prompt.txt";
  const std::string prompt = precis::test::corpus_prompt(precis::test::corpus_tokenizer(), 300, 5);
  std::ofstream(file) << prompt;
  std::string out;
  REQUIRE(run_command(precis_cmd("--json --prompt-file " + file + " --model " + model +
                                 " --rate 0.3 --question 'Who made the firmament?'"),
                      &out) == 0);
  const auto j = nlohmann::json::parse(out);
  for (const char* k : {"text", "original_tokens", "compressed_tokens", "ratio", "seconds", "note",
                        "kept", "pieces"})
    CHECK(j.contains(k));
  CHECK(j["kept"].size() == j["pieces"].size());
  CHECK(j["kept"].size() == j["original_tokens"].get<size_t>());
  CHECK(j["text"].get<std::string>().find("Who made the firmament?") != std::string::npos);
  const int target = static_cast<int>(std::lround(0.3 * j["original_tokens"].get<int>()));
  CHECK(std::abs(j["compressed_tokens"].get<int>() - target) <= std::max(1.0, 0.05 * target));

  // Text output: the compressed prompt, then a summary line.
  REQUIRE(run_command(precis_cmd("--prompt 'And God said, Let there be light: and there was "
                                 "light.' --tokenizer " +
                                 model + "/tokenizer.model --target-tokens 8"),
                      &out) == 0);
  CHECK_THAT(out, Catch::Contains("tokens, ratio") && Catch::Contains("ms"));
}

TEST_CASE("compress: bad arguments are clear errors") {
  const std::string model = precis::test::cached_model("tiny", 1, precis::engine::DType::F32);
  struct Case {
    std::string args, needle;
  };
  const std::vector<Case> cases = {
      {"--prompt hi --model " + model + " --rate 2", "rate"},
      {"--prompt hi --model " + model + " --rate 0.5 --target-tokens 3", "--target-tokens"},
      {"--prompt hi --model " + model + " --scorer magic", "magic"},
      // (--scorer lm without --model uses the default model: issue 11.)
      {"--prompt hi --scorer lm --model /nonexistent/model", "/nonexistent/model"},
      {"--model " + model, "--prompt"},
      {"--prompt hi --tokenizer /nonexistent/tok.model", "/nonexistent/tok.model"},
  };
  for (const auto& c : cases) {
    std::string out;
    INFO(c.args << " -> " << out);
    CHECK(run_command(precis_cmd(c.args), &out) != 0);
    CHECK_THAT(out, Catch::Contains(c.needle));
  }
  // No tokenizer at all (unless a default model ships with the source tree).
  std::string out;
  if (!std::filesystem::exists(std::string(PRECIS_SOURCE_DIR) + "/models/default")) {
    CHECK(run_command(precis_cmd("--prompt hi"), &out) != 0);
    CHECK_THAT(out, Catch::Contains("no tokenizer"));
  }
}
