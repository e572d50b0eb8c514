#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/load_error.hpp"
#include "engine/model_config.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

json base_config() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", 64},
          {"intermediate_size", 172},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"vocab_size", 512}};
}

std::string parse_error(const json& j) {
  try {
    parse_model_config(j.dump(), "/models/x/config.json");
  } catch (const LoadError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("model config: required fields, defaults and derived sizes") {
  json j = base_config();
  j.erase("num_key_value_heads");
  ModelConfig c = parse_model_config(j.dump(), "config.json");
  CHECK(c.hidden_size == 64);
  CHECK(c.intermediate_size == 172);
  CHECK(c.num_hidden_layers == 2);
  CHECK(c.num_attention_heads == 4);
  CHECK(c.num_key_value_heads == 4);  // defaults to num_attention_heads
  CHECK(c.vocab_size == 512);
  CHECK(c.rms_norm_eps == 1e-6f);
  CHECK(c.rope_theta == 10000.0f);
  CHECK(c.max_position_embeddings == 2048);
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK(c.bos_token_id == 1);
  CHECK(c.eos_token_id == 2);
  CHECK(c.head_dim() == 16);
  CHECK(c.kv_dim() == 64);
}

TEST_CASE("model config: optional fields are read; eos_token_id may be a list") {
  json j = base_config();
  j["rms_norm_eps"] = 1e-5;
  j["rope_theta"] = 500000.0;
  j["max_position_embeddings"] = 8192;
  j["tie_word_embeddings"] = true;
  j["bos_token_id"] = 128000;
  j["eos_token_id"] = {128001, 128008, 128009};
  j["torch_dtype"] = "bfloat16";
  j["some_unknown_field"] = {{"nested", 1}};
  ModelConfig c = parse_model_config(j.dump(), "config.json");
  CHECK(c.num_key_value_heads == 2);
  CHECK(c.kv_dim() == 32);
  CHECK(c.rms_norm_eps == 1e-5f);
  CHECK(c.rope_theta == 500000.0f);
  CHECK(c.max_position_embeddings == 8192);
  CHECK(c.tie_word_embeddings);
  CHECK(c.bos_token_id == 128000);
  CHECK(c.eos_token_id == 128001);
  // Configs from real exports set these to null.
  j["bos_token_id"] = nullptr;
  j["eos_token_id"] = nullptr;
  c = parse_model_config(j.dump(), "config.json");
  CHECK(c.bos_token_id == 1);
  CHECK(c.eos_token_id == 2);
}

TEST_CASE("model config: missing required field names file and field") {
  for (const char* f : {"hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "vocab_size"}) {
    json j = base_config();
    j.erase(f);
    auto err = parse_error(j);
    CHECK_THAT(err, Contains("/models/x/config.json"));
    CHECK_THAT(err, Contains(std::string("field '") + f + "': missing"));
  }
}

TEST_CASE("model config: wrong types and non-positive values") {
  auto expect = [](const char* field, json value, const char* what) {
    json j = base_config();
    j[field] = value;
    auto err = parse_error(j);
    INFO(field << " = " << value.dump());
    CHECK_THAT(err, Contains("/models/x/config.json"));
    CHECK_THAT(err, Contains(std::string("field '") + field + "'"));
    CHECK_THAT(err, Contains(what));
  };
  expect("hidden_size", "64", "must be a positive integer");
  expect("hidden_size", 0, "must be a positive integer");
  expect("vocab_size", -5, "must be a positive integer");
  expect("num_hidden_layers", 2.5, "must be a positive integer");
  expect("num_key_value_heads", false, "must be a positive integer");
  expect("intermediate_size", 1LL << 40, "must be a positive integer");
  expect("rms_norm_eps", "1e-5", "must be a positive number");
  expect("rope_theta", -1.0, "must be a positive number");
  expect("tie_word_embeddings", 1, "must be a boolean");
  expect("eos_token_id", "2", "must be a non-negative integer");
  expect("eos_token_id", json::array(), "empty list");
  expect("model_type", "gpt2", "unsupported model type 'gpt2'");
}

TEST_CASE("model config: heads that do not divide") {
  json j = base_config();
  j["num_attention_heads"] = 5;
  j["num_key_value_heads"] = 5;
  CHECK_THAT(parse_error(j),
             Contains("hidden_size (64) is not divisible by num_attention_heads (5)"));
  j = base_config();
  j["num_key_value_heads"] = 3;
  CHECK_THAT(parse_error(j),
             Contains("num_attention_heads (4) is not divisible by num_key_value_heads (3)"));
}

TEST_CASE("model config: malformed JSON and non-object") {
  CHECK_THAT(parse_error(json::array({1})), Contains("not a JSON object"));
  try {
    parse_model_config("{\"hidden_size\": ", "/m/config.json");
    FAIL("expected LoadError");
  } catch (const LoadError& e) {
    CHECK_THAT(e.what(), Contains("/m/config.json"));
    CHECK_THAT(e.what(), Contains("not valid JSON"));
  }
}

TEST_CASE("model config: mistral model_type and foreign architectures are accepted") {
  json j = base_config();
  j["model_type"] = "mistral";
  j["architectures"] = {"MistralForCausalLM"};
  CHECK(parse_error(j) == "");
  j.erase("model_type");
  j["architectures"] = {"SomethingElse"};
  CHECK(parse_error(j) == "");
}

TEST_CASE("model config: to_json round trip and file loading") {
  ModelConfig c;
  c.hidden_size = 2048;
  c.intermediate_size = 5632;
  c.num_hidden_layers = 22;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 4;
  c.vocab_size = 32000;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.max_position_embeddings = 2048;
  c.tie_word_embeddings = true;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  const std::string text = model_config_to_json(c, "bfloat16");
  json j = json::parse(text);
  CHECK(j["architectures"] == json({"LlamaForCausalLM"}));
  CHECK(j["model_type"] == "llama");
  CHECK(j["hidden_act"] == "silu");
  CHECK(j["torch_dtype"] == "bfloat16");
  CHECK_THAT(text, Contains("1e-05"));  // written as HF writes it, not 9.99999974e-06
  CHECK(json::parse(model_config_to_json(c))["torch_dtype"] == "float32");

  auto dir = precis::test::scratch_dir("model-config");
  const std::string path = dir + "/config.json";
  std::ofstream(path) << text;
  ModelConfig d = load_model_config(path);
  CHECK(d.hidden_size == c.hidden_size);
  CHECK(d.intermediate_size == c.intermediate_size);
  CHECK(d.num_hidden_layers == c.num_hidden_layers);
  CHECK(d.num_attention_heads == c.num_attention_heads);
  CHECK(d.num_key_value_heads == c.num_key_value_heads);
  CHECK(d.vocab_size == c.vocab_size);
  CHECK(d.rms_norm_eps == c.rms_norm_eps);
  CHECK(d.rope_theta == c.rope_theta);
  CHECK(d.max_position_embeddings == c.max_position_embeddings);
  CHECK(d.tie_word_embeddings == c.tie_word_embeddings);
  CHECK(d.bos_token_id == c.bos_token_id);
  CHECK(d.eos_token_id == c.eos_token_id);

  CHECK_THROWS_WITH(load_model_config(dir + "/missing.json"),
                    Contains("missing.json") && Contains("cannot open"));
}

TEST_CASE("Llama 3.1 rope_scaling: frequencies as transformers computes them") {
  // Expected values from a separate Python transcription of transformers'
  // _compute_llama3_parameters (theta 500000, head_dim 128, factor 8, low 1, high 4, 8192).
  const ModelConfig c = parse_model_config(
      R"({"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 1,
          "num_attention_heads": 2, "vocab_size": 10, "rope_theta": 500000.0,
          "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})",
      "config.json");
  const std::vector<double> f = rope_inv_freq(c);
  REQUIRE(f.size() == 64);
  const std::vector<std::pair<int, double>> expected = {
      {0, 1.0},                      // high frequency: kept
      {22, 0.010989528534539826},    // high
      {29, 0.002166570763503359},    // smooth blend
      {32, 0.0005248461609929547},   // smooth
      {34, 0.00017850781276799638},  // smooth
      {50, 4.411534674558404e-06},   // low frequency: divided by 8
      {63, 3.068925988914511e-07}};
  for (const auto& [i, v] : expected) {
    INFO("pair " << i);
    CHECK(f[static_cast<size_t>(i)] == Approx(v).epsilon(1e-12));
  }
  CHECK_THROWS_WITH(parse_model_config(
                        R"({"hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
                            "num_attention_heads": 2, "vocab_size": 10,
                            "rope_scaling": {"rope_type": "yarn", "factor": 4}})",
                        "c.json"),
                    Catch::Contains("yarn"));
}
