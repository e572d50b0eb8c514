// Qwen2 (the Llama layout plus q/k/v biases, Hugging Face rotary): a Qwen2 directory made from a
// tiny model with random biases, against the independent PyTorch reference
// (tests/reference/llama_reference.py, which adds the biases itself), from safetensors and as a
// GGUF file written by `precis quantize`.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/engine.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

namespace {

const std::string kReference =
    std::string("/usr/bin/python3 ") + PRECIS_SOURCE_DIR + "/tests/reference/llama_reference.py";

std::vector<float> reference_logits(const std::string& model, const std::vector<int>& tokens) {
  std::string list;  // (appends: GCC 12 reports a false -Wrestrict for "lit" + string)
  for (int t : tokens) {
    if (!list.empty()) list += ',';
    list += std::to_string(t);
  }
  const std::string out = precis::test::scratch_dir("qwen2-ref") + "/logits.f32";
  REQUIRE(precis::test::run_command(kReference + " --model " + model + " --tokens " + list +
                                    " --out " + out) == 0);
  std::ifstream in(out, std::ios::binary);
  std::vector<float> v(std::filesystem::file_size(out) / sizeof(float));
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  return v;
}

std::vector<float> engine_logits(const std::string& model, const std::vector<int>& tokens) {
  EngineOptions o;
  o.model_dir = model;
  o.kv_cache_mb = 32;
  Engine eng(o);
  CHECK(eng.config().architecture == "qwen2");
  CHECK(eng.config().attention_bias);
  return eng.logits_all(tokens);
}

// Largest |a - b| of a row over the row's largest |b|.
double row_relative_error(const std::vector<float>& a, const std::vector<float>& b, size_t V) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t r = 0; r * V < b.size(); ++r) {
    double diff = 0, scale = 0;
    for (size_t v = 0; v < V; ++v) {
      diff = std::max(diff, std::fabs(double(a[r * V + v]) - b[r * V + v]));
      scale = std::max(scale, std::fabs(double(b[r * V + v])));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

}  // namespace

TEST_CASE("qwen2: safetensors and GGUF agree with the PyTorch reference") {
  const std::string llama = precis::test::cached_model("tiny", 9, DType::F32);
  const std::string dir = precis::test::scratch_dir("qwen2") + "/model";
  REQUIRE(precis::test::run_command(kReference + " --make-qwen2 " + llama + " " + dir) == 0);
  std::vector<int> tokens = {1};
  for (int i = 1; i < 30; ++i) tokens.push_back(3 + (i * 53) % 400);
  const std::vector<float> ref = reference_logits(dir, tokens);
  const size_t V = ref.size() / tokens.size();
  // The biases matter: without them the logits differ clearly.
  CHECK(row_relative_error(reference_logits(llama, tokens), ref, V) > 1e-2);

  const double hf = row_relative_error(engine_logits(dir, tokens), ref, V);
  INFO("safetensors: max row-relative error " << hf);
  CHECK(hf < 1e-4);

  const std::string gguf = precis::test::scratch_dir("qwen2-gguf") + "/model.gguf";
  REQUIRE(precis::test::run_command(std::string(PRECIS_BINARY) + " quantize --model " + dir +
                                    " --type f32 --out " + gguf + " >/dev/null") == 0);
  const double gg = row_relative_error(engine_logits(gguf, tokens), ref, V);
  INFO("GGUF: max row-relative error " << gg);
  CHECK(gg < 1e-4);
}
