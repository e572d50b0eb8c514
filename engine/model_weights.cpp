#include "engine/model_weights.hpp"

#include <filesystem>

#include "engine/load_error.hpp"

namespace fs = std::filesystem;

namespace precis::engine {

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Binds one tensor, checking shape and that it shares the dtype of the first tensor bound.
class Binder {
 public:
  explicit Binder(const WeightStore& store) : store_(store) {}

  TensorView bind(const std::string& name, std::vector<int64_t> expected) {
    const TensorView& t = store_.get(name);
    if (t.shape != expected)
      throw LoadError(t.file, "tensor '" + name + "': shape " + shape_text(t.shape) +
                                  " does not match config.json (expected " + shape_text(expected) +
                                  ")");
    if (first_.empty()) {
      first_ = name;
      dtype_ = t.dtype;
    } else if (t.dtype != dtype_) {
      throw LoadError(t.file, "tensor '" + name + "': dtype " + std::string(dtype_name(t.dtype)) +
                                  " differs from " + std::string(dtype_name(dtype_)) +
                                  " of tensor '" + first_ + "' (all weights must share one dtype)");
    }
    return t;
  }

 private:
  const WeightStore& store_;
  std::string first_;
  DType dtype_ = DType::F32;
};

}  // namespace

size_t ModelWeights::total_bytes() const {
  size_t n = embed_tokens.nbytes + final_norm.nbytes;
  // Tied heads are views of the same bytes as embed_tokens.
  if (lm_head.data != embed_tokens.data) n += lm_head.nbytes;
  for (const auto& l : layers) {
    n += l.input_norm.nbytes + l.q_proj.nbytes + l.k_proj.nbytes + l.v_proj.nbytes +
         l.o_proj.nbytes + l.post_norm.nbytes + l.gate_proj.nbytes + l.up_proj.nbytes +
         l.down_proj.nbytes;
  }
  return n;
}

ModelWeights load_model_weights(const std::string& dir) {
  ModelWeights w;
  w.config = load_model_config((fs::path(dir) / "config.json").string());
  w.store = std::make_shared<WeightStore>(WeightStore::open_dir(dir));
  const ModelConfig& c = w.config;
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t Q = static_cast<int64_t>(c.num_attention_heads) * c.head_dim();
  const int64_t KV = c.kv_dim();

  Binder b(*w.store);
  w.embed_tokens = b.bind("model.embed_tokens.weight", {V, H});
  w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    l.input_norm = b.bind(p + "input_layernorm.weight", {H});
    l.q_proj = b.bind(p + "self_attn.q_proj.weight", {Q, H});
    l.k_proj = b.bind(p + "self_attn.k_proj.weight", {KV, H});
    l.v_proj = b.bind(p + "self_attn.v_proj.weight", {KV, H});
    l.o_proj = b.bind(p + "self_attn.o_proj.weight", {H, Q});
    l.post_norm = b.bind(p + "post_attention_layernorm.weight", {H});
    l.gate_proj = b.bind(p + "mlp.gate_proj.weight", {I, H});
    l.up_proj = b.bind(p + "mlp.up_proj.weight", {I, H});
    l.down_proj = b.bind(p + "mlp.down_proj.weight", {H, I});
    if (c.attention_bias) {
      l.q_bias = b.bind(p + "self_attn.q_proj.bias", {Q});
      l.k_bias = b.bind(p + "self_attn.k_proj.bias", {KV});
      l.v_bias = b.bind(p + "self_attn.v_proj.bias", {KV});
    }
  }
  w.final_norm = b.bind("model.norm.weight", {H});
  // Some tied checkpoints still ship lm_head.weight; use it when present (it is a copy).
  if (w.store->find("lm_head.weight") || !c.tie_word_embeddings)
    w.lm_head = b.bind("lm_head.weight", {V, H});
  else
    w.lm_head = w.embed_tokens;
  return w;
}

}  // namespace precis::engine
