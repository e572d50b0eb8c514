#include <sentencepiece_processor.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "engine/load_error.hpp"
#include "engine/make_model.hpp"
#include "engine/model_weights.hpp"
#include "tests/test_support.hpp"

namespace fs = std::filesystem;
using namespace precis::engine;
using Catch::Matchers::Contains;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

ModelConfig make(const std::string& dir, uint64_t seed, DType dt = DType::F32,
                 const std::string& tokenizer = "") {
  MakeModelOptions o;
  o.out_dir = dir;
  o.preset = "tiny";
  o.seed = seed;
  o.dtype = dt;
  o.tokenizer = tokenizer;
  return make_model(o);
}

float value_at(const TensorView& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32: {
      float f;
      std::memcpy(&f, t.data + 4 * i, 4);
      return f;
    }
    case DType::F16:
    case DType::BF16: {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      return t.dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("make_model: same seed gives identical files, another seed different weights") {
  const auto a = precis::test::scratch_dir("mm-seed-a");
  const auto b = precis::test::scratch_dir("mm-seed-b");
  const auto c = precis::test::scratch_dir("mm-seed-c");
  make(a, 7);
  make(b, 7);
  make(c, 8);
  const std::string wa = slurp(a + "/model.safetensors");
  REQUIRE(wa.size() > 1000);
  CHECK(wa == slurp(b + "/model.safetensors"));
  CHECK(slurp(a + "/config.json") == slurp(b + "/config.json"));
  // The trained tokenizer is reproducible too (and does not embed the output path).
  CHECK(slurp(a + "/tokenizer.model") == slurp(b + "/tokenizer.model"));
  const std::string wc = slurp(c + "/model.safetensors");
  CHECK(wc.size() == wa.size());
  CHECK(wc != wa);
  CHECK(slurp(a + "/tokenizer.model") == slurp(c + "/tokenizer.model"));
  CHECK_FALSE(fs::exists(a + "/tokenizer.vocab"));
}

TEST_CASE("make_model: the model loads for each dtype, config.json records the dtype") {
  const std::pair<DType, const char*> cases[] = {
      {DType::F32, "float32"}, {DType::F16, "float16"}, {DType::BF16, "bfloat16"}};
  size_t f32_bytes = 0;
  for (const auto& [dt, torch_name] : cases) {
    const std::string dir = precis::test::cached_model("tiny", 3, dt);
    ModelWeights w = load_model_weights(dir);
    CHECK(w.embed_tokens.dtype == dt);
    CHECK(w.layers[1].down_proj.dtype == dt);
    CHECK(w.config.hidden_size == 64);
    CHECK(w.config.num_key_value_heads == 2);
    CHECK_FALSE(w.config.tie_word_embeddings);
    nlohmann::json j = nlohmann::json::parse(slurp(dir + "/config.json"));
    CHECK(j["torch_dtype"] == torch_name);
    if (dt == DType::F32)
      f32_bytes = w.total_bytes();
    else
      CHECK(w.total_bytes() * 2 == f32_bytes);
  }
  // Lower precisions are roundings of the same f32 values.
  ModelWeights f = load_model_weights(precis::test::cached_model("tiny", 3, DType::F32));
  ModelWeights h = load_model_weights(precis::test::cached_model("tiny", 3, DType::F16));
  ModelWeights b = load_model_weights(precis::test::cached_model("tiny", 3, DType::BF16));
  for (int64_t i = 0; i < f.layers[0].q_proj.numel(); i += 97) {
    const float v = value_at(f.layers[0].q_proj, i);
    REQUIRE(value_at(h.layers[0].q_proj, i) == f16_to_f32(f32_to_f16(v)));
    REQUIRE(value_at(b.layers[0].q_proj, i) == bf16_to_f32(f32_to_bf16(v)));
  }
}

TEST_CASE("make_model: weights follow the documented ranges") {
  ModelWeights w = load_model_weights(precis::test::cached_model("tiny", 3, DType::F32));
  auto stats = [](const TensorView& t, float& lo, float& hi, double& var) {
    lo = 1e30f;
    hi = -1e30f;
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float v = value_at(t, i);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      s += v;
      s2 += double(v) * v;
    }
    const double n = static_cast<double>(t.numel());
    var = s2 / n - (s / n) * (s / n);
  };
  float lo, hi;
  double var;
  stats(w.layers[0].input_norm, lo, hi, var);
  CHECK(lo >= 0.9f);
  CHECK(hi <= 1.1f);
  CHECK(hi - lo > 0.1f);
  stats(w.embed_tokens, lo, hi, var);
  CHECK(lo >= -0.5f);
  CHECK(hi <= 0.5f);
  // Linear weights: uniform in +-sqrt(3/fan_in), so variance 1/fan_in.
  stats(w.layers[0].gate_proj, lo, hi, var);
  const float a = std::sqrt(3.0f / 64.0f);
  CHECK(lo >= -a);
  CHECK(hi <= a);
  CHECK(var == Approx(1.0 / 64).epsilon(0.05));
  stats(w.layers[0].down_proj, lo, hi, var);  // fan_in is intermediate_size
  CHECK(var == Approx(1.0 / 172).epsilon(0.05));
  // Different tensors get different streams.
  CHECK(std::memcmp(w.layers[0].up_proj.data, w.layers[0].gate_proj.data, 64) != 0);
  CHECK(std::memcmp(w.layers[0].input_norm.data, w.layers[0].post_norm.data, 64) != 0);
}

TEST_CASE("make_model: trained tokenizer has the preset vocab, specials and byte fallback") {
  const std::string dir = precis::test::cached_model("tiny", 3, DType::F32);
  sentencepiece::SentencePieceProcessor sp;
  REQUIRE(sp.Load(dir + "/tokenizer.model").ok());
  CHECK(sp.GetPieceSize() == 512);
  CHECK(sp.unk_id() == 0);
  CHECK(sp.bos_id() == 1);
  CHECK(sp.eos_id() == 2);
  CHECK(sp.pad_id() == -1);
  std::vector<std::string> pieces;
  REQUIRE(sp.Encode("In the beginning \xe2\x82\xac", &pieces).ok());  // euro sign: not in corpus
  CHECK(std::find(pieces.begin(), pieces.end(), "<0xE2>") != pieces.end());
  std::string back;
  std::vector<int> ids;
  REQUIRE(sp.Encode("And God said, Let there be light \xe2\x82\xac", &ids).ok());
  REQUIRE(sp.Decode(ids, &back).ok());
  CHECK(back == "And God said, Let there be light \xe2\x82\xac");
}

TEST_CASE("make_model: --tokenizer is copied; a missing one is an error") {
  const std::string src = precis::test::cached_model("tiny", 3, DType::F32);
  const std::string dir = precis::test::scratch_dir("mm-tokenizer-copy");
  fs::copy_file(src + "/tokenizer.model", dir + "/given.model");
  make(dir + "/out", 1, DType::F32, dir + "/given.model");
  CHECK(slurp(dir + "/out/tokenizer.model") == slurp(dir + "/given.model"));
  CHECK_THROWS_WITH(make(dir + "/out2", 1, DType::F32, dir + "/nope.model"),
                    Contains("nope.model"));
}

TEST_CASE("make_model: presets") {
  CHECK_THROWS_AS(preset_config("huge"), std::invalid_argument);
  MakeModelOptions o;
  o.out_dir = precis::test::scratch_dir("mm-bad-preset");
  o.preset = "huge";
  CHECK_THROWS_AS(make_model(o), std::invalid_argument);

  const ModelConfig t = preset_config("tinyllama-shape");
  CHECK(t.hidden_size == 2048);
  CHECK(t.intermediate_size == 5632);
  CHECK(t.num_hidden_layers == 22);
  CHECK(t.num_attention_heads == 32);
  CHECK(t.num_key_value_heads == 4);
  CHECK(t.vocab_size == 32000);
  CHECK(t.rms_norm_eps == 1e-5f);
  const ModelConfig l = preset_config("llama2-7b-shape");
  CHECK(l.hidden_size == 4096);
  CHECK(l.intermediate_size == 11008);
  CHECK(l.num_hidden_layers == 32);
  CHECK(l.num_key_value_heads == 32);
  CHECK(l.max_position_embeddings == 4096);
  const ModelConfig s = preset_config("small");
  CHECK(s.hidden_size == 256);
  CHECK(s.vocab_size == 2048);
  // Every preset writes a config that its own parser accepts unchanged.
  for (const char* p : {"tiny", "small", "tinyllama-shape", "llama2-7b-shape"}) {
    const ModelConfig c = preset_config(p);
    const ModelConfig r = parse_model_config(model_config_to_json(c), p);
    CHECK(r.hidden_size == c.hidden_size);
    CHECK(r.num_key_value_heads == c.num_key_value_heads);
    CHECK(r.rms_norm_eps == c.rms_norm_eps);
    CHECK_FALSE(r.tie_word_embeddings);
  }
}

TEST_CASE("train_tokenizer: too small a vocab or a missing corpus is reported") {
  const std::string dir = precis::test::scratch_dir("mm-train-errors");
  CHECK_THROWS_WITH(train_tokenizer(default_corpus_path(), dir, 100), Contains("vocab"));
  CHECK_THROWS_WITH(train_tokenizer(dir + "/no-corpus.txt", dir, 512), Contains("no-corpus.txt"));
  CHECK(fs::is_regular_file(default_corpus_path()));
}
