// Qwen2 (the Llama layout plus q/k/v biases, Hugging Face rotary): a Qwen2 directory made from a
// tiny model with random biases, against the independent PyTorch reference
// (tests/reference/llama_reference.py, which adds the biases itself), from safetensors and as a
// GGUF file written by `precis quantize`.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/engine.hpp"
#include "tests/reference_support.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

namespace {

using precis::test::max_row_relative_error;
using precis::test::reference_logits;
using precis::test::reference_script;

std::vector<float> engine_logits(const std::string& model, const std::vector<int>& tokens) {
  EngineOptions o;
  o.model_dir = model;
  o.kv_cache_mb = 32;
  o.kv_cache_dtype = KvCacheDtype::f32;  // the exact path, held to 1e-4 below
  Engine eng(o);
  CHECK(eng.config().architecture == "qwen2");
  CHECK(eng.config().attention_bias);
  return eng.logits_all(tokens);
}

}  // namespace

TEST_CASE("qwen2: safetensors and GGUF agree with the PyTorch reference") {
  const std::string llama = precis::test::cached_model("tiny", 9, DType::F32);
  const std::string dir = precis::test::scratch_dir("qwen2") + "/model";
  REQUIRE(precis::test::run_command(reference_script() + " --make-qwen2 " + llama + " " + dir) ==
          0);
  std::vector<int> tokens = {1};
  for (int i = 1; i < 30; ++i) tokens.push_back(3 + (i * 53) % 400);
  const std::vector<float> ref = reference_logits(dir, tokens);
  const size_t V = ref.size() / tokens.size();
  // The biases matter: without them the logits differ clearly.
  CHECK(max_row_relative_error(reference_logits(llama, tokens), ref, static_cast<int>(V)) > 1e-2);

  const double hf = max_row_relative_error(engine_logits(dir, tokens), ref, static_cast<int>(V));
  INFO("safetensors: max row-relative error " << hf);
  CHECK(hf < 1e-4);

  const std::string gguf = precis::test::scratch_dir("qwen2-gguf") + "/model.gguf";
  REQUIRE(precis::test::run_command(std::string(PRECIS_BINARY) + " quantize --model " + dir +
                                    " --type f32 --out " + gguf + " >/dev/null") == 0);
  const double gg = max_row_relative_error(engine_logits(gguf, tokens), ref, static_cast<int>(V));
  INFO("GGUF: max row-relative error " << gg);
  CHECK(gg < 1e-4);
}
