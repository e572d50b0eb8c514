// The default model (SmolLM2-135M-Instruct, Q4_1 GGUF, fetched by scripts/fetch-default-model.sh)
// on the CPU engine against an independent implementation: tests/reference/gguf_reference.py,
// which dequantizes the same file with the `gguf` package, undoes llama.cpp's q/k permutation and
// runs the float64 PyTorch forward of llama_reference.py. Its greedy tokens and log-probs are in
// tests/data/smollm2_greedy_reference.json (the command that wrote it is in that script).
// precis computes from the quantized blocks with f32 activations (no activation quantization).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "precis/precis.hpp"
#include "tests/test_support.hpp"

using nlohmann::json;

namespace {

std::string default_gguf() {
  return std::string(PRECIS_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return json::parse(in);
}

}  // namespace

TEST_CASE("default model: greedy tokens and log-probs equal the gguf-package reference") {
  if (!std::filesystem::exists(default_gguf())) {
    WARN("skipped: default model not fetched (bash scripts/fetch-default-model.sh)");
    return;
  }
  const json ref =
      read_json(std::string(PRECIS_SOURCE_DIR) + "/tests/data/smollm2_greedy_reference.json");
  const std::string text =
      "Ruth said to Naomi: whither thou goest, I will go. The name of Naomi's husband was";
  std::string out;
  REQUIRE(precis::test::run_command(std::string(PRECIS_BINARY) + " generate --json --model " +
                                        default_gguf() + " --temperature 0 --logprobs 1 " +
                                        // The exact path: f16 K/V adds ~1e-3 (test_kv_cache_f16).
                                        "--kv-cache-dtype f32 " + "--max-tokens " +
                                        std::to_string(ref["tokens"].size()) + " --prompt \"" +
                                        text + "\" 2>/dev/null",
                                    &out) == 0);
  const json ours = json::parse(out);
  CHECK(ours["prompt_tokens"] == ref["prompt"].size());
  const json& c = ours["choices"][0];
  const json& tokens = c["tokens"];
  REQUIRE(tokens.size() == ref["tokens"].size());
  double worst = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    // Every step's best token leads the runner-up by more than the tolerance, so the tokens
    // must agree exactly (a near-tie could go either way under float rounding).
    REQUIRE(ref["top2_gap"][i].get<double>() > 1e-3);
    INFO("step " << i);
    REQUIRE(tokens[i] == ref["tokens"][i]);
    worst = std::max(worst,
                     std::fabs(c["logprobs"][i].get<double>() - ref["logprobs"][i].get<double>()));
  }
  INFO("largest log-prob difference " << worst);
  CHECK(worst < 2e-3);
  WARN("default model vs reference: 24 greedy tokens identical, largest log-prob difference "
       << worst);
}

TEST_CASE("default model: its chat template, end of turn and a sensible answer") {
  if (!std::filesystem::exists(default_gguf())) {
    WARN("skipped: default model not fetched (bash scripts/fetch-default-model.sh)");
    return;
  }
  precis::PipelineConfig cfg;
  cfg.model.path = default_gguf();
  cfg.model.kv_cache_mb = 64;
  cfg.compress_enabled = false;
  cfg.plan_enabled = false;
  cfg.generate.temperature = 0;
  cfg.generate.max_tokens = 32;
  precis::Pipeline pipeline(cfg);
  precis::Request req;
  req.messages = {{"user", "What is the capital of France?"}};
  const precis::Result r = pipeline.run(req);
  INFO(r.final_prompt << "\n---\n" << r.text);
  // SmolLM2's template with its default system message, byte for byte as its Jinja renders it
  // (tests/data/chat_templates/ checks the renderer against jinja2).
  CHECK(r.final_prompt ==
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        "Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\n");
  CHECK(r.text.find("Paris") != std::string::npos);
  CHECK(r.choices.at(0).finish_reason == "stop");  // <|im_end|> ended the turn
  CHECK(r.text.find("<|im_end|>") == std::string::npos);
}
