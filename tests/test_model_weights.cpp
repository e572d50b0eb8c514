#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/load_error.hpp"
#include "engine/model_weights.hpp"
#include "engine/safetensors.hpp"
#include "tests/test_support.hpp"

namespace fs = std::filesystem;
using namespace precis::engine;
using Catch::Matchers::Contains;

namespace {

struct Edit {
  bool keep = true;
  std::vector<int64_t> shape;
  DType dtype;
};

// Copies a model directory, passing each tensor through `edit` (drop it, reshape it with the
// same element count, or convert an F32 tensor to BF16).
void rewrite_model(const std::string& src, const std::string& dst,
                   const std::function<void(const std::string&, Edit&)>& edit) {
  fs::create_directories(dst);
  fs::copy_file(src + "/config.json", dst + "/config.json", fs::copy_options::overwrite_existing);
  auto in = SafetensorsFile::open(src + "/model.safetensors");
  std::vector<std::pair<const TensorView*, Edit>> plan;
  for (const auto& [name, t] : in->tensors()) {
    Edit e{true, t.shape, t.dtype};
    edit(name, e);
    if (e.keep) plan.emplace_back(&t, e);
  }
  SafetensorsWriter w(dst + "/model.safetensors");
  for (const auto& [t, e] : plan) w.declare(t->name, e.dtype, e.shape);
  w.begin_data();
  for (const auto& [t, e] : plan) {
    if (e.dtype == t->dtype) {
      w.append(t->data, t->nbytes);
      continue;
    }
    REQUIRE(t->dtype == DType::F32);
    REQUIRE(e.dtype == DType::BF16);
    std::vector<uint16_t> out(static_cast<size_t>(t->numel()));
    for (size_t i = 0; i < out.size(); ++i) {
      float f;
      std::memcpy(&f, t->data + 4 * i, 4);
      out[i] = f32_to_bf16(f);
    }
    w.append(out.data(), out.size() * 2);
  }
  w.finish();
}

void set_config_field(const std::string& dir, const std::string& key, nlohmann::json value) {
  nlohmann::json j;
  {
    std::ifstream in(dir + "/config.json");
    j = nlohmann::json::parse(in);
  }
  j[key] = value;
  std::ofstream(dir + "/config.json") << j.dump(2);
}

std::string load_error(const std::string& dir) {
  try {
    load_model_weights(dir);
  } catch (const LoadError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("model weights: a tiny model binds every tensor with its config shape") {
  const std::string dir = precis::test::cached_model("tiny", 1, DType::F32);
  ModelWeights w = load_model_weights(dir);
  const ModelConfig& c = w.config;
  REQUIRE(w.layers.size() == static_cast<size_t>(c.num_hidden_layers));
  CHECK(w.embed_tokens.shape == std::vector<int64_t>{c.vocab_size, c.hidden_size});
  CHECK(w.lm_head.shape == std::vector<int64_t>{c.vocab_size, c.hidden_size});
  CHECK(w.lm_head.data != w.embed_tokens.data);
  CHECK(w.final_norm.shape == std::vector<int64_t>{c.hidden_size});
  const auto& l = w.layers.back();
  CHECK(l.q_proj.name == "model.layers.1.self_attn.q_proj.weight");
  CHECK(l.k_proj.shape == std::vector<int64_t>{c.kv_dim(), c.hidden_size});
  CHECK(l.o_proj.shape == std::vector<int64_t>{c.hidden_size, c.hidden_size});
  CHECK(l.down_proj.shape == std::vector<int64_t>{c.hidden_size, c.intermediate_size});

  // Every tensor is counted once: the sum equals the data section of the file.
  size_t data_bytes = 0;
  auto file = SafetensorsFile::open(dir + "/model.safetensors");
  for (const auto& [_, t] : file->tensors()) data_bytes += t.nbytes;
  CHECK(w.total_bytes() == data_bytes);
}

TEST_CASE("model weights: a tensor whose shape disagrees with config.json") {
  const std::string src = precis::test::cached_model("tiny", 1, DType::F32);
  const std::string dir = precis::test::scratch_dir("mw-shape");
  // Transposed k_proj: same byte count, so only the config check can catch it.
  rewrite_model(src, dir, [](const std::string& name, Edit& e) {
    if (name == "model.layers.0.self_attn.k_proj.weight") std::swap(e.shape[0], e.shape[1]);
  });
  auto err = load_error(dir);
  CHECK_THAT(err, Contains(dir + "/model.safetensors"));
  CHECK_THAT(err, Contains("tensor 'model.layers.0.self_attn.k_proj.weight': shape [64, 32] does "
                           "not match config.json (expected [32, 64])"));

  // The same file with a config that says otherwise fails on the first tensor it disagrees with.
  const std::string dir2 = precis::test::scratch_dir("mw-shape-config");
  rewrite_model(src, dir2, [](const std::string&, Edit&) {});
  set_config_field(dir2, "intermediate_size", 100);
  CHECK_THAT(load_error(dir2),
             Contains("tensor 'model.layers.0.mlp.gate_proj.weight': shape "
                      "[172, 64] does not match config.json (expected [100, 64])"));
}

TEST_CASE("model weights: missing tensor") {
  const std::string src = precis::test::cached_model("tiny", 1, DType::F32);
  const std::string dir = precis::test::scratch_dir("mw-missing");
  rewrite_model(src, dir, [](const std::string& name, Edit& e) {
    if (name == "model.layers.1.mlp.up_proj.weight") e.keep = false;
  });
  auto err = load_error(dir);
  CHECK_THAT(err, Contains(dir));
  CHECK_THAT(err, Contains("missing tensor 'model.layers.1.mlp.up_proj.weight'"));

  // No lm_head and not tied: missing.
  const std::string dir2 = precis::test::scratch_dir("mw-missing-head");
  rewrite_model(src, dir2, [](const std::string& name, Edit& e) {
    if (name == "lm_head.weight") e.keep = false;
  });
  CHECK_THAT(load_error(dir2), Contains("missing tensor 'lm_head.weight'"));

  // A config with more layers than the file holds.
  const std::string dir3 = precis::test::scratch_dir("mw-missing-layer");
  rewrite_model(src, dir3, [](const std::string&, Edit&) {});
  set_config_field(dir3, "num_hidden_layers", 3);
  CHECK_THAT(load_error(dir3), Contains("missing tensor 'model.layers.2."));
}

TEST_CASE("model weights: tied embeddings reuse embed_tokens") {
  const std::string src = precis::test::cached_model("tiny", 1, DType::F32);
  const std::string dir = precis::test::scratch_dir("mw-tied");
  rewrite_model(src, dir, [](const std::string& name, Edit& e) {
    if (name == "lm_head.weight") e.keep = false;
  });
  set_config_field(dir, "tie_word_embeddings", true);
  ModelWeights w = load_model_weights(dir);
  CHECK(w.config.tie_word_embeddings);
  CHECK(w.lm_head.data == w.embed_tokens.data);
  CHECK(w.lm_head.shape == w.embed_tokens.shape);
  const ModelWeights untied = load_model_weights(src);
  CHECK(w.total_bytes() == untied.total_bytes() - untied.lm_head.nbytes);
}

TEST_CASE("model weights: mixed dtypes are rejected naming the tensor") {
  const std::string src = precis::test::cached_model("tiny", 1, DType::F32);
  const std::string dir = precis::test::scratch_dir("mw-mixed");
  rewrite_model(src, dir, [](const std::string& name, Edit& e) {
    if (name == "model.layers.1.post_attention_layernorm.weight") e.dtype = DType::BF16;
  });
  auto err = load_error(dir);
  CHECK_THAT(err, Contains(dir + "/model.safetensors"));
  CHECK_THAT(err, Contains("tensor 'model.layers.1.post_attention_layernorm.weight': dtype BF16"));
  CHECK_THAT(err, Contains("F32"));
}

TEST_CASE("model weights: sharded checkpoint loads the same tensors") {
  const std::string src = precis::test::cached_model("tiny", 1, DType::BF16);
  const std::string dir = precis::test::scratch_dir("mw-sharded");
  fs::copy_file(src + "/config.json", dir + "/config.json");
  auto in = SafetensorsFile::open(src + "/model.safetensors");
  // Layer 0 and the embeddings in shard 1, everything else in shard 2, as HF splits by size.
  const std::string names[2] = {"model-00001-of-00002.safetensors",
                                "model-00002-of-00002.safetensors"};
  nlohmann::json weight_map = nlohmann::json::object();
  for (int s = 0; s < 2; ++s) {
    SafetensorsWriter w(dir + "/" + names[s]);
    std::vector<const TensorView*> mine;
    for (const auto& [name, t] : in->tensors()) {
      const bool first =
          name.rfind("model.layers.0.", 0) == 0 || name == "model.embed_tokens.weight";
      if (first == (s == 0)) mine.push_back(&t);
    }
    for (const auto* t : mine) {
      w.declare(t->name, t->dtype, t->shape);
      weight_map[t->name] = names[s];
    }
    w.begin_data();
    for (const auto* t : mine) w.append(t->data, t->nbytes);
    w.finish();
  }
  // A stray file beside the shards must not be picked up when an index exists.
  fs::copy_file(src + "/model.safetensors", dir + "/stale-copy.safetensors");
  std::ofstream(dir + "/model.safetensors.index.json")
      << nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump(2);

  ModelWeights a = load_model_weights(src);
  ModelWeights b = load_model_weights(dir);
  CHECK(b.store->size() == in->tensors().size());
  CHECK(a.total_bytes() == b.total_bytes());
  CHECK(b.embed_tokens.file == dir + "/" + names[0]);
  CHECK(b.lm_head.file == dir + "/" + names[1]);
  auto same = [](const TensorView& x, const TensorView& y) {
    return x.name == y.name && x.shape == y.shape && x.dtype == y.dtype && x.nbytes == y.nbytes &&
           std::memcmp(x.data, y.data, x.nbytes) == 0;
  };
  CHECK(same(a.embed_tokens, b.embed_tokens));
  CHECK(same(a.lm_head, b.lm_head));
  CHECK(same(a.final_norm, b.final_norm));
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const auto &x = a.layers[i], &y = b.layers[i];
    CHECK(same(x.input_norm, y.input_norm));
    CHECK(same(x.q_proj, y.q_proj));
    CHECK(same(x.k_proj, y.k_proj));
    CHECK(same(x.v_proj, y.v_proj));
    CHECK(same(x.o_proj, y.o_proj));
    CHECK(same(x.post_norm, y.post_norm));
    CHECK(same(x.gate_proj, y.gate_proj));
    CHECK(same(x.up_proj, y.up_proj));
    CHECK(same(x.down_proj, y.down_proj));
  }
}

TEST_CASE("model weights: missing config.json names the file") {
  const std::string dir = precis::test::scratch_dir("mw-noconfig");
  CHECK_THAT(load_error(dir), Contains(dir + "/config.json"));
}
