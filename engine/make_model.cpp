#include "engine/make_model.hpp"

#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "engine/data_root.hpp"
#include "engine/load_error.hpp"
#include "engine/safetensors.hpp"

namespace fs = std::filesystem;

namespace precis::engine {

namespace {

struct Preset {
  ModelConfig config;
  int tokenizer_vocab;
  bool verbose;  // progress on stderr: only the presets that take more than a moment
};

Preset preset_of(const std::string& name) {
  ModelConfig c;
  auto set = [&](int h, int i, int l, int heads, int kv, int v, int maxpos) {
    c.hidden_size = h;
    c.intermediate_size = i;
    c.num_hidden_layers = l;
    c.num_attention_heads = heads;
    c.num_key_value_heads = kv;
    c.vocab_size = v;
    c.max_position_embeddings = maxpos;
  };
  c.tie_word_embeddings = false;
  if (name == "tiny") {
    set(64, 172, 2, 4, 2, 512, 512);
    return {c, 512, false};
  }
  if (name == "small") {
    set(256, 688, 4, 8, 4, 2048, 1024);
    return {c, 2048, false};
  }
  if (name == "tinyllama-shape") {
    set(2048, 5632, 22, 32, 4, 32000, 2048);
    c.rope_theta = 10000.0f;
    c.rms_norm_eps = 1e-5f;
    return {c, 4000, true};
  }
  if (name == "llama2-7b-shape") {
    set(4096, 11008, 32, 32, 32, 32000, 4096);
    c.rms_norm_eps = 1e-5f;
    return {c, 4000, true};
  }
  throw std::invalid_argument("unknown preset '" + name +
                              "' (expected tiny, small, tinyllama-shape or llama2-7b-shape)");
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Counter-based, so any element can be generated independently of the others: chunks can be
// filled in parallel and the result does not depend on the chunk size or thread count.
inline float uniform_pm1(uint64_t stream, uint64_t i) {
  const uint64_t z = splitmix64(stream ^ (i * 0xd1b54a32d192ed03ull));
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;  // [-1, 1)
}

enum class Init { Linear, Embedding, Norm };

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  Init init;
};

std::vector<TensorSpec> tensor_specs(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t Q = static_cast<int64_t>(c.num_attention_heads) * c.head_dim(), KV = c.kv_dim();
  std::vector<TensorSpec> s;
  s.push_back({"model.embed_tokens.weight", {V, H}, Init::Embedding});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    s.push_back({p + "input_layernorm.weight", {H}, Init::Norm});
    s.push_back({p + "self_attn.q_proj.weight", {Q, H}, Init::Linear});
    s.push_back({p + "self_attn.k_proj.weight", {KV, H}, Init::Linear});
    s.push_back({p + "self_attn.v_proj.weight", {KV, H}, Init::Linear});
    s.push_back({p + "self_attn.o_proj.weight", {H, Q}, Init::Linear});
    s.push_back({p + "post_attention_layernorm.weight", {H}, Init::Norm});
    s.push_back({p + "mlp.gate_proj.weight", {I, H}, Init::Linear});
    s.push_back({p + "mlp.up_proj.weight", {I, H}, Init::Linear});
    s.push_back({p + "mlp.down_proj.weight", {H, I}, Init::Linear});
  }
  s.push_back({"model.norm.weight", {H}, Init::Norm});
  s.push_back({"lm_head.weight", {V, H}, Init::Linear});
  return s;
}

const char* torch_dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "float32";
    case DType::F16:
      return "float16";
    case DType::BF16:
      return "bfloat16";
  }
  return "float32";
}

void write_tensor(SafetensorsWriter& w, const TensorSpec& spec, uint64_t stream, DType dtype,
                  std::vector<unsigned char>& buf) {
  int64_t numel = 1;
  for (int64_t d : spec.shape) numel *= d;
  float scale = 1.0f, offset = 0.0f;
  switch (spec.init) {
    case Init::Linear:  // fan_in is the last dim: y = W x sums over it
      scale = std::sqrt(3.0f) / std::sqrt(static_cast<float>(spec.shape.back()));
      break;
    case Init::Embedding:
      scale = 0.5f;
      break;
    case Init::Norm:
      scale = 0.1f;
      offset = 1.0f;
      break;
  }
  const size_t esize = dtype_size(dtype);
  constexpr int64_t kChunk = int64_t{1} << 20;
  buf.resize(static_cast<size_t>(kChunk) * esize);
  for (int64_t start = 0; start < numel; start += kChunk) {
    const int64_t n = std::min(kChunk, numel - start);
    unsigned char* out = buf.data();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t j = 0; j < n; ++j) {
      const float v = offset + scale * uniform_pm1(stream, static_cast<uint64_t>(start + j));
      if (dtype == DType::F32) {
        std::memcpy(out + j * 4, &v, 4);
      } else {
        const uint16_t h = dtype == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
        std::memcpy(out + j * 2, &h, 2);
      }
    }
    w.append(out, static_cast<size_t>(n) * esize);
  }
}

}  // namespace

ModelConfig preset_config(const std::string& preset) {
  return preset_of(preset).config;
}

std::string default_corpus_path() {
  return (data_root() / "data" / "corpus" / "kjv_excerpt.txt").string();
}

namespace {

// Feeds the corpus line by line. Training through an iterator (rather than `input=<path>`) and
// taking the serialized model (rather than `model_prefix=<path>`) keeps both paths out of the
// trainer spec stored inside tokenizer.model, so the same corpus gives the same bytes wherever
// it and the output live.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::string& path) : in_(path, std::ios::binary) { Next(); }
  bool done() const override { return done_; }
  void Next() override {
    done_ = !std::getline(in_, line_);
    if (!done_ && !line_.empty() && line_.back() == '\r') line_.pop_back();
  }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override {
    if (in_.bad()) return {sentencepiece::util::StatusCode::kInternal, "read error"};
    return {};
  }

 private:
  std::ifstream in_;
  std::string line_;
  bool done_ = false;
};

}  // namespace

void train_tokenizer(const std::string& corpus_file, const std::string& out_dir, int vocab_size) {
  if (!fs::is_regular_file(corpus_file)) throw LoadError(corpus_file, "corpus file not found");
  fs::create_directories(out_dir);
  // Sentences are read in file order, not shuffled, and BPE merges are chosen deterministically,
  // so the same corpus and vocab size give the same model bytes.
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"byte_fallback", "true"},
      {"character_coverage", "1.0"},
      {"pad_id", "-1"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"num_threads", "2"},
      {"input_sentence_size", "200000"},
      {"shuffle_input_sentence", "false"},
      {"minloglevel", "2"},
  };
  LineIterator lines(corpus_file);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &lines, &model);
  if (!status.ok())
    throw std::runtime_error("training tokenizer on " + corpus_file + " (vocab " +
                             std::to_string(vocab_size) + "): " + status.ToString());
  const std::string out_path = (fs::path(out_dir) / "tokenizer.model").string();
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out.write(model.data(), static_cast<std::streamsize>(model.size()));
  out.close();
  if (!out) throw std::runtime_error(out_path + ": write failed");
}

ModelConfig make_model(const MakeModelOptions& opts) {
  const Preset p = preset_of(opts.preset);
  const ModelConfig& c = p.config;
  if (opts.out_dir.empty()) throw std::invalid_argument("make_model: empty out_dir");
  fs::create_directories(opts.out_dir);
  const fs::path dir(opts.out_dir);

  // The tokenizer first: a missing --tokenizer should fail before minutes of weight writing.
  if (!opts.tokenizer.empty()) {
    if (!fs::is_regular_file(opts.tokenizer))
      throw LoadError(opts.tokenizer, "tokenizer file not found");
    fs::copy_file(opts.tokenizer, dir / "tokenizer.model", fs::copy_options::overwrite_existing);
  } else {
    train_tokenizer(default_corpus_path(), opts.out_dir, p.tokenizer_vocab);
  }

  {
    const std::string cfg_path = (dir / "config.json").string();
    std::ofstream out(cfg_path, std::ios::binary | std::ios::trunc);
    out << model_config_to_json(c, torch_dtype_name(opts.dtype));
    out.close();
    if (!out) throw std::runtime_error(cfg_path + ": write failed");
  }

  const auto specs = tensor_specs(c);
  SafetensorsWriter w((dir / "model.safetensors").string());
  for (const auto& s : specs) w.declare(s.name, opts.dtype, s.shape);
  w.begin_data();
  std::vector<unsigned char> buf;
  int layer_reported = -1;
  for (size_t t = 0; t < specs.size(); ++t) {
    if (p.verbose) {
      const int layer = static_cast<int>((t == 0 ? 0 : t - 1) / 9);
      if (t > 0 && layer < c.num_hidden_layers && layer != layer_reported) {
        std::fprintf(stderr, "writing layer %d/%d\n", layer + 1, c.num_hidden_layers);
        layer_reported = layer;
      }
    }
    const uint64_t stream = splitmix64(splitmix64(opts.seed) ^ (t + 1) * 0x9e3779b97f4a7c15ull);
    write_tensor(w, specs[t], stream, opts.dtype, buf);
  }
  w.finish();
  if (p.verbose) std::fprintf(stderr, "wrote %s\n", (dir / "model.safetensors").c_str());
  return c;
}

}  // namespace precis::engine
