// Constrained decoding end to end on a real model (SmolLM2-135M-Instruct when it is fetched, else
// the tiny test model): sampled at temperature 1 over many seeds, with n > 1, every output that
// ends with "stop" parses (json_object) or validates against its schema; an output cut by
// max_tokens ends with "length"; a schema that cannot be decoded fails plainly.
#include <catch2/catch.hpp>

#include <filesystem>

#include "engine/engine.hpp"
#include "engine/json_grammar.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;
using nlohmann::json;

namespace {

std::string model_path() {
  const std::string gguf = PRECIS_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (std::filesystem::exists(gguf)) return gguf;
  return precis::test::cached_model("tiny", 11, DType::F32);
}

EngineOptions engine_options() {
  EngineOptions o;
  o.model_dir = model_path();
  o.kv_cache_mb = 256;
  return o;
}

Engine& engine() {
  static Engine e(engine_options());
  return e;
}

// A validator for the subset, written plainly: the schema's own words against the value.
bool validates(const json& v, const json& s) {
  if (s.contains("enum")) {
    for (const auto& e : s["enum"])
      if (e == v) return true;
    return false;
  }
  if (s.contains("type")) {
    const std::string t = s["type"];
    const bool ok = (t == "object" && v.is_object()) || (t == "array" && v.is_array()) ||
                    (t == "string" && v.is_string()) || (t == "number" && v.is_number()) ||
                    (t == "integer" && v.is_number_integer()) ||
                    (t == "boolean" && v.is_boolean()) || (t == "null" && v.is_null());
    if (!ok) return false;
  }
  if (v.is_object()) {
    const json props = s.value("properties", json::object());
    for (const auto& r : s.value("required", json::array()))
      if (!v.contains(r.get<std::string>())) return false;
    for (const auto& [k, x] : v.items()) {
      if (props.contains(k)) {
        if (!validates(x, props[k])) return false;
      } else if (s.contains("additionalProperties") && s["additionalProperties"] == false) {
        return false;
      }
    }
  }
  if (v.is_array() && s.contains("items"))
    for (const auto& x : v)
      if (!validates(x, s["items"])) return false;
  return true;
}

// Runs `seeds` requests of n = 4 together at temperature 1; returns the completions.
std::vector<Completion> sample(const std::string& prompt, const SamplingParams& base, int seeds) {
  Engine& e = engine();
  for (int seed = 1; seed <= seeds; ++seed) {
    SamplingParams p = base;
    p.seed = seed;
    e.add_request(e.tokenizer().encode(prompt, true), p);
  }
  while (e.step()) {
  }
  std::vector<Completion> out;
  for (auto& r : e.take_finished()) {
    CHECK(r.error.empty());
    for (auto& c : r.completions) out.push_back(std::move(c));
  }
  CHECK(e.kv_stats().blocks_used == 0);
  return out;
}

// Every sample that ended by itself ("stop") is a value `schema` accepts; the others were cut by
// max_tokens ("length"). Some must have ended.
void check_outputs(const std::vector<Completion>& out, const json& schema, int max_tokens) {
  int stopped = 0;
  for (const auto& c : out) {
    INFO(c.text << " (" << c.finish_reason << ")");
    if (c.finish_reason == "stop") {
      ++stopped;
      const json v = json::parse(c.text, nullptr, false);
      REQUIRE(!v.is_discarded());
      CHECK(validates(v, schema));
    } else {
      CHECK(c.finish_reason == "length");
      CHECK(static_cast<int>(c.tokens.size()) == max_tokens);
    }
  }
  CHECK(stopped > 0);
}

}  // namespace

TEST_CASE("json_object: every finished sample parses, over many seeds at temperature 1") {
  SamplingParams p;
  p.temperature = 1.0f;
  p.n = 4;
  p.max_tokens = 64;
  p.constraint = JsonGrammar::any_object();
  const auto out = sample("Describe a cat as a JSON object:\n", p, 8);
  REQUIRE(out.size() == 32);
  check_outputs(out, json{{"type", "object"}}, 64);
}

TEST_CASE("json_schema: every finished sample validates, greedy and sampled") {
  const json schema = json::parse(R"({"type": "object", "properties": {
      "name": {"type": "string"}, "age": {"type": "integer"},
      "species": {"enum": ["cat", "dog", "bird"]}, "vaccinated": {"type": "boolean"},
      "toys": {"type": "array", "items": {"type": "string"}}},
    "required": ["name", "age", "species"], "additionalProperties": false})");
  SamplingParams p;
  p.temperature = 1.0f;
  p.n = 4;
  p.max_tokens = 48;
  p.constraint = JsonGrammar::from_schema(schema);
  auto out = sample("A pet, as JSON:\n", p, 8);
  p.temperature = 0;
  p.n = 1;
  for (auto& c : sample("A pet, as JSON:\n", p, 1)) out.push_back(std::move(c));
  REQUIRE(out.size() == 33);
  check_outputs(out, schema, 48);
}

TEST_CASE("a schema no value satisfies, or one beam search cannot use, is a clear error") {
  CHECK_THROWS_WITH(JsonGrammar::from_schema(json(false)),
                    Catch::Contains("'false' at / accepts no value"));
  SamplingParams p;
  p.constraint = JsonGrammar::any_object();
  p.beam_width = 2;
  CHECK_THROWS_WITH(p.validate(), Catch::Contains("beam search"));
}
