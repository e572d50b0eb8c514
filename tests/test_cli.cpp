// The `precis` program as a user runs it: clear errors and a non-zero exit on bad arguments, and
// the documented JSON shapes.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "engine/engine.hpp"
#include "middleware/device.hpp"
#include "tests/test_support.hpp"

using precis::test::run_command;

namespace {

std::string precis_cmd(const std::string& args) {
  return std::string(PRECIS_BINARY) + " " + args + " 2>&1";
}

}  // namespace

TEST_CASE("bad arguments exit non-zero with a message naming the problem") {
  const std::string model = precis::test::cached_model("tiny", 2, precis::engine::DType::F32);
  struct Case {
    std::string args, needle;
  };
  const std::vector<Case> cases = {
      {"", "usage"},
      {"frobnicate", "unknown command"},
      {"generate --prompt hi", "--model"},
      {"generate --model " + model, "--prompt"},
      {"generate --model " + model + " --prompt hi --max-tokens abc", "max-tokens"},
      {"generate --model " + model + " --prompt hi --temperature -1", "temperature"},
      {"generate --model " + model + " --prompt hi --top-p 0", "top_p"},
      {"generate --model " + model + " --prompt hi --bogus 1", "bogus"},
      {"generate --model /nonexistent/model --prompt hi", "/nonexistent/model"},
      {"score --model " + model, "--prompt"},
      {"make-model --out /tmp/x --preset huge", "huge"},
      {"make-model --out /tmp/x --dtype f8", "f8"},
  };
  for (const auto& c : cases) {
    std::string out;
    const int rc = run_command(precis_cmd(c.args), &out);
    INFO("precis " << c.args << "\n" << out);
    CHECK(rc != 0);
    CHECK_THAT(out, Catch::Contains(c.needle));
  }
}

TEST_CASE("--help exits zero and lists the options") {
  for (const char* cmd : {"generate", "score", "make-model"}) {
    std::string out;
    CHECK(run_command(precis_cmd(std::string(cmd) + " --help"), &out) == 0);
    CHECK_THAT(out, Catch::Contains("usage: precis"));
  }
}

TEST_CASE("score --json prints tokens, pieces and log-probs with null first") {
  const std::string model = precis::test::cached_model("tiny", 2, precis::engine::DType::F32);
  std::string out;
  REQUIRE(run_command(std::string(PRECIS_BINARY) + " score --json --model " + model +
                          " --prompt 'Let there be light'",
                      &out) == 0);
  auto j = nlohmann::json::parse(out);
  precis::engine::EngineOptions o;
  o.model_dir = model;
  precis::engine::Engine e(o);
  const auto ids = e.tokenizer().encode("Let there be light", true);
  CHECK(j["tokens"].get<std::vector<int>>() == ids);
  REQUIRE(j["pieces"].size() == ids.size());
  CHECK(j["pieces"][0] == "<s>");
  CHECK(j["logprobs"][0].is_null());
  const auto want = e.score_tokens(ids);
  for (size_t i = 1; i < ids.size(); ++i) {
    CHECK(j["logprobs"][i].get<double>() < 0.0);
    CHECK(j["logprobs"][i].get<double>() == Approx(want[i]).margin(1e-5));
  }
}

TEST_CASE("generate --json with a seed repeats, and n gives n choices") {
  const std::string model = precis::test::cached_model("tiny", 2, precis::engine::DType::F32);
  const std::string cmd =
      std::string(PRECIS_BINARY) + " generate --json --model " + model +
      " --prompt 'And God said' --max-tokens 10 --n 3 --seed 17 --temperature 0.9";
  std::string a, b;
  REQUIRE(run_command(cmd, &a) == 0);
  REQUIRE(run_command(cmd, &b) == 0);
  auto ja = nlohmann::json::parse(a), jb = nlohmann::json::parse(b);
  CHECK(ja["choices"] == jb["choices"]);
  CHECK(ja["choices"].size() == 3);
}

TEST_CASE("generate --json-schema and --json-object constrain the output; bad schemas fail") {
  const std::string model = precis::test::cached_model("tiny", 2, precis::engine::DType::F32);
  const std::string dir = precis::test::scratch_dir("cli_json_schema");
  const std::string schema = dir + "/schema.json", bad = dir + "/bad.json";
  std::ofstream(schema) << R"({"type": "object", "properties": {"n": {"type": "integer"}},
                              "required": ["n"], "additionalProperties": false})";
  std::ofstream(bad) << R"({"type": "string", "format": "date"})";
  const std::string gen = std::string(PRECIS_BINARY) + " generate --json --model " + model +
                          " --prompt 'And God said' --max-tokens 40 --n 4 --seed 3 ";
  for (const std::string& flag : {"--json-schema " + schema, std::string("--json-object")}) {
    std::string out;
    REQUIRE(run_command(gen + flag, &out) == 0);
    const auto result = nlohmann::json::parse(out);  // kept: a temporary's member would dangle
    for (const auto& c : result["choices"]) {
      INFO(flag << ": " << c["text"] << " " << c["finish_reason"]);
      if (c["finish_reason"] == "length") continue;
      const auto v = nlohmann::json::parse(c["text"].get<std::string>(), nullptr, false);
      REQUIRE(v.is_object());
      if (flag != "--json-object") CHECK(v["n"].is_number_integer());
    }
  }
  std::string out;
  CHECK(run_command(precis_cmd("generate --model " + model + " --prompt hi --json-schema " + bad),
                    &out) != 0);
  CHECK_THAT(out, Catch::Contains("'format'"));
}

TEST_CASE("generate --grammar constrains the output to a GBNF grammar; bad grammars fail") {
  const std::string model = precis::test::cached_model("tiny", 2, precis::engine::DType::F32);
  const std::string dir = precis::test::scratch_dir("cli_grammar");
  const std::string grammar = dir + "/answer.gbnf", bad = dir + "/bad.gbnf";
  std::ofstream(grammar) << "root ::= (\"yes\" | \"no\") \" (\" [0-9]{1,3} \"%)\"\n";
  std::ofstream(bad) << "root ::= answer\n";
  std::string out;
  REQUIRE(run_command(std::string(PRECIS_BINARY) + " generate --json --model " + model +
                          " --prompt 'And God said' --max-tokens 20 --n 4 --seed 5 --grammar " +
                          grammar,
                      &out) == 0);
  // Checked by a regex written apart from the grammar.
  const std::regex sentence("(yes|no) \\([0-9]{1,3}%\\)");
  int stopped = 0;
  const auto result = nlohmann::json::parse(out);  // kept: a temporary's member would dangle
  for (const auto& c : result["choices"]) {
    INFO(c["text"] << " " << c["finish_reason"]);
    if (c["finish_reason"] != "stop") continue;
    ++stopped;
    CHECK(std::regex_match(c["text"].get<std::string>(), sentence));
  }
  CHECK(stopped > 0);
  CHECK(run_command(precis_cmd("generate --model " + model + " --prompt hi --grammar " + bad),
                    &out) != 0);
  CHECK_THAT(out, Catch::Contains("--grammar " + bad) &&
                      Catch::Contains("'answer' is used but never defined"));
  CHECK(run_command(precis_cmd("generate --model " + model +
                               " --prompt hi --json-object "
                               "--grammar " +
                               grammar),
                    &out) != 0);
  CHECK_THAT(out, Catch::Contains("give one of"));
}

TEST_CASE("--device: cpu works, unknown names and an unusable cuda fail clearly") {
  const std::string model = precis::test::cached_model("tiny", 2, precis::engine::DType::F32);
  const std::string gen = "generate --model " + model + " --prompt hi --max-tokens 2 ";
  std::string out;
  CHECK(run_command(precis_cmd(gen + "--device cpu"), &out) == 0);
  CHECK(run_command(precis_cmd(gen + "--device tpu"), &out) != 0);
  CHECK_THAT(out, Catch::Contains("--device must be cpu, cuda or auto"));
  CHECK(run_command(precis_cmd("score --model " + model + " --prompt hi --device tpu"), &out) != 0);
  CHECK_THAT(out, Catch::Contains("--device must be cpu, cuda or auto"));
  const std::string why = precis::cuda_unavailable_reason();
  if (why.empty()) {
    WARN("a CUDA device is present: the no-device error is checked on machines without one");
    return;
  }
  // Without a device (or a CUDA build), asking for CUDA fails with the reason; auto falls back.
  for (const std::string& cmd :
       {gen + "--device cuda", "score --model " + model + " --prompt hi --device cuda"}) {
    CHECK(run_command(precis_cmd(cmd), &out) != 0);
    CHECK_THAT(out, Catch::Contains("--device cuda: " + why));
  }
  CHECK(run_command(precis_cmd(gen + "--device auto"), &out) == 0);
}
