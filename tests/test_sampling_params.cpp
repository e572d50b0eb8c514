// One type, one validator: the config reader, the HTTP request reader and the engine accept and
// refuse the same sampling values, and a refusal names the same field everywhere.
#include <catch2/catch.hpp>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/sampling_params.hpp"
#include "middleware/server/api_error.hpp"
#include "middleware/server/openai_protocol.hpp"
#include "precis/precis.hpp"

using namespace precis;
using nlohmann::json;

namespace {

struct Case {
  std::string field;
  json value;                                // as a client or config file writes it
  std::function<void(SamplingParams&)> set;  // the same value, set in C++
};

// Values just outside each range (and the disagreements of old: temperature 101 and
// repetition_penalty 101 were refused by the JSON readers only; they are accepted now).
std::vector<Case> bad_cases() {
  return {
      {"max_tokens", 0, [](SamplingParams& p) { p.max_tokens = 0; }},
      {"max_tokens", (1 << 20) + 1, [](SamplingParams& p) { p.max_tokens = (1 << 20) + 1; }},
      {"temperature", -0.5, [](SamplingParams& p) { p.temperature = -0.5f; }},
      {"top_k", -2, [](SamplingParams& p) { p.top_k = -2; }},
      {"top_p", 0, [](SamplingParams& p) { p.top_p = 0.0f; }},
      {"top_p", 1.5, [](SamplingParams& p) { p.top_p = 1.5f; }},
      {"min_p", 1.5, [](SamplingParams& p) { p.min_p = 1.5f; }},
      {"repetition_penalty", 0, [](SamplingParams& p) { p.repetition_penalty = 0.0f; }},
      {"presence_penalty", 2.5, [](SamplingParams& p) { p.presence_penalty = 2.5f; }},
      {"frequency_penalty", -3, [](SamplingParams& p) { p.frequency_penalty = -3.0f; }},
      {"n", 0, [](SamplingParams& p) { p.n = 0; }},
      {"n", 129, [](SamplingParams& p) { p.n = 129; }},
      {"best_of", 129, [](SamplingParams& p) { p.best_of = 129; }},
      {"logprobs", 21, [](SamplingParams& p) { p.logprobs = 21; }},
  };
}

std::string config_error(const std::string& field, const json& value) {
  try {
    PipelineConfig::from_json(json{{"generate", {{field, value}}}}.dump());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

// The param of the 400 a /v1/completions body with `field` set to `value` gets.
std::string http_error_param(const std::string& field, const json& value) {
  const json body = {{"prompt", "x"}, {field, value}};
  try {
    server::parse_completion_request(body.dump(), PipelineConfig());
  } catch (const server::ApiError& e) {
    CHECK(e.status == 400);
    return e.param;
  }
  return "(accepted)";
}

std::string engine_error_field(const Case& c) {
  engine::SamplingParams p;
  c.set(p);
  try {
    p.validate();
  } catch (const InvalidSamplingParam& e) {
    CHECK(std::string(e.what()).rfind(c.field + " must be", 0) == 0);
    return e.field();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("GenerateOptions and the engine's parameters are one type") {
  static_assert(std::is_same_v<GenerateOptions, SamplingParams>);
  static_assert(std::is_base_of_v<SamplingParams, engine::SamplingParams>);
  // The engine's defaults are the type's; the pipeline config keeps its own.
  CHECK(SamplingParams{}.max_tokens == 16);
  CHECK(SamplingParams{}.temperature == 1.0f);
  CHECK(PipelineConfig{}.generate.max_tokens == 128);
  CHECK(PipelineConfig{}.generate.temperature == 0.7f);
  CHECK(PipelineConfig::from_json("{}").generate.max_tokens == 128);
}

TEST_CASE("the config reader, the HTTP reader and the engine refuse the same values by name") {
  for (const Case& c : bad_cases()) {
    INFO(c.field << " = " << c.value.dump());
    CHECK_THAT(config_error(c.field, c.value), Catch::StartsWith("/generate/" + c.field + ":"));
    CHECK(http_error_param(c.field, c.value) == "/" + c.field);
    CHECK(engine_error_field(c) == c.field);
  }
  // best_of below n: both fields given, the error names best_of everywhere.
  try {
    PipelineConfig::from_json(R"({"generate": {"n": 3, "best_of": 2}})");
    FAIL("n 3, best_of 2 accepted");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("/generate/best_of:"));
  }
  const json both = {{"prompt", "x"}, {"n", 3}, {"best_of", 2}};
  try {
    server::parse_completion_request(both.dump(), PipelineConfig());
    FAIL("n 3, best_of 2 accepted");
  } catch (const server::ApiError& e) {
    CHECK(e.param == "/best_of");
  }
  engine::SamplingParams p;
  p.n = 3;
  p.best_of = 2;
  CHECK_THROWS_AS(p.validate(), InvalidSamplingParam);
}

TEST_CASE("values OpenAI or vLLM accept pass every layer") {
  const std::vector<Case> good = {
      {"temperature", 101, [](SamplingParams& p) { p.temperature = 101.0f; }},  // vLLM: any >= 0
      {"temperature", 0, [](SamplingParams& p) { p.temperature = 0.0f; }},
      {"repetition_penalty", 150, [](SamplingParams& p) { p.repetition_penalty = 150.0f; }},
      {"top_k", -1, [](SamplingParams& p) { p.top_k = -1; }},
      {"top_p", 1, [](SamplingParams& p) { p.top_p = 1.0f; }},
      {"presence_penalty", -2, [](SamplingParams& p) { p.presence_penalty = -2.0f; }},
      {"n", 128, [](SamplingParams& p) { p.n = 128; }},
      {"logprobs", 20, [](SamplingParams& p) { p.logprobs = 20; }},
  };
  for (const Case& c : good) {
    INFO(c.field << " = " << c.value.dump());
    CHECK(config_error(c.field, c.value) == "(accepted)");
    CHECK(http_error_param(c.field, c.value) == "(accepted)");
    CHECK(engine_error_field(c) == "(accepted)");
  }
}

TEST_CASE("a response format is validated with the other fields and compiled by the engine") {
  SamplingParams p;
  p.response_format = "yaml";
  CHECK_THROWS_MATCHES(p.validate(), InvalidSamplingParam,
                       Catch::Matchers::Predicate<InvalidSamplingParam>(
                           [](const auto& e) { return e.field() == "response_format"; }));
  p.response_format = "json_schema";
  CHECK_THROWS_WITH(p.validate(), Catch::StartsWith("json_schema must be"));
  p.json_schema = R"({"type": "object", "properties": {"a": {"type": "integer"}}})";
  const engine::SamplingParams compiled = engine::compile_sampling(p);
  CHECK(compiled.constraint != nullptr);
  CHECK(compiled.json_schema == p.json_schema);
  CHECK_NOTHROW(compiled.validate());
  p.beam_width = 2;  // constrained decoding needs sampling
  CHECK_THROWS_WITH(p.validate(), Catch::Contains("beam search"));

  // Sliced to the engine's form without compiling: refused rather than unconstrained output.
  engine::SamplingParams raw;
  static_cast<SamplingParams&>(raw) = SamplingParams{};
  raw.response_format = "json_object";
  CHECK_THROWS_WITH(raw.validate(), Catch::Contains("not compiled"));
  CHECK(engine::compile_sampling(SamplingParams{}).constraint == nullptr);
}
