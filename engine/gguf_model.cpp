#include "engine/gguf_model.hpp"

#include <filesystem>
#include <fstream>

#include "engine/bpe_tokenizer.hpp"
#include "engine/cpu_kernels.hpp"
#include "engine/gguf.hpp"
#include "engine/load_error.hpp"
#include "engine/quant.hpp"
#include "engine/spm_vocab_tokenizer.hpp"

namespace precis::engine {

namespace {

int positive(const GgufFile& f, const std::string& key, uint64_t v) {
  if (v == 0 || v > (1u << 30))
    throw LoadError(f.path(), key + ": " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// A GGUF tensor as the engine's view: shape in row-major order ([rows, row length]), f32/f16/
// bf16 as plain dtypes, the block types as `quant`.
TensorView view_of(const GgufFile& f, const GgufTensor& t) {
  TensorView v;
  v.name = t.name;
  v.file = f.path();
  for (auto it = t.dims.rbegin(); it != t.dims.rend(); ++it) v.shape.push_back(*it);
  v.data = t.data;
  v.nbytes = t.nbytes;
  switch (t.type) {
    case GgmlType::F32:
      v.dtype = DType::F32;
      break;
    case GgmlType::F16:
      v.dtype = DType::F16;
      break;
    case GgmlType::BF16:
      v.dtype = DType::BF16;
      break;
    default:
      if (!quant_supported(t.type))
        throw LoadError(f.path(), "tensor '" + t.name + "': type " +
                                      ggml_type_name(static_cast<uint32_t>(t.type)) +
                                      " is not supported (supported: f32, f16, bf16, q8_0, q4_0, "
                                      "q4_1, q5_0, q5_1, q4_K, q5_K, q6_K)");
      v.quant = t.type;
  }
  return v;
}

TensorView bind(const GgufFile& f, const std::string& name, std::vector<int64_t> expected) {
  const GgufTensor* t = f.find_tensor(name);
  if (!t) throw LoadError(f.path(), "tensor '" + name + "': missing");
  TensorView v = view_of(f, *t);
  if (v.shape != expected)
    throw LoadError(f.path(), "tensor '" + name + "': shape " + shape_text(v.shape) +
                                  " does not match the metadata (expected " + shape_text(expected) +
                                  ")");
  // Norms, biases and embedding rows are read as plain rows by the kernels (load_row), which
  // handles every type; matmuls take any supported type.
  return v;
}

std::vector<TokenType> token_types(const GgufFile& f, size_t n) {
  std::vector<TokenType> types;
  if (!f.has("tokenizer.ggml.token_type")) return types;
  const std::vector<int32_t> raw = f.get_i32_array("tokenizer.ggml.token_type");
  if (raw.size() != n)
    throw LoadError(f.path(), "tokenizer.ggml.token_type: " + std::to_string(raw.size()) +
                                  " entries for " + std::to_string(n) + " tokens");
  for (int32_t t : raw) types.push_back(static_cast<TokenType>(t));
  return types;
}

int optional_id(const GgufFile& f, const std::string& key) {
  const auto v = f.find_u32(key);
  return v ? static_cast<int>(*v) : -1;
}

std::vector<int> end_of_turn_ids(const GgufFile& f) {
  std::vector<int> ids;
  for (const char* k : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (const int id = optional_id(f, k); id >= 0) ids.push_back(id);
  return ids;
}

}  // namespace

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

ModelConfig gguf_model_config(const GgufFile& f) {
  ModelConfig c;
  const std::string arch = f.get_string("general.architecture");
  if (arch != "llama" && arch != "qwen2")
    throw LoadError(f.path(), "general.architecture: '" + arch +
                                  "' is not supported (supported: llama, qwen2)");
  c.architecture = arch;
  const std::string p = arch + ".";
  auto u = [&](const std::string& k) { return positive(f, p + k, f.get_u64(p + k)); };
  c.hidden_size = u("embedding_length");
  c.intermediate_size = u("feed_forward_length");
  c.num_hidden_layers = u("block_count");
  c.num_attention_heads = u("attention.head_count");
  c.num_key_value_heads =
      f.has(p + "attention.head_count_kv") ? u("attention.head_count_kv") : c.num_attention_heads;
  c.max_position_embeddings = f.has(p + "context_length") ? u("context_length") : 2048;
  if (auto v = f.find_f32(p + "attention.layer_norm_rms_epsilon")) c.rms_norm_eps = *v;
  if (auto v = f.find_f32(p + "rope.freq_base")) c.rope_theta = *v;
  if (c.hidden_size % c.num_attention_heads != 0 ||
      c.num_attention_heads % c.num_key_value_heads != 0)
    throw LoadError(f.path(), p + "attention.head_count: " + std::to_string(c.num_attention_heads) +
                                  " heads (" + std::to_string(c.num_key_value_heads) +
                                  " KV) do not divide embedding_length " +
                                  std::to_string(c.hidden_size));
  if (auto rd = f.find_u32(p + "rope.dimension_count"); rd && static_cast<int>(*rd) != c.head_dim())
    throw LoadError(f.path(), p + "rope.dimension_count: partial rotary (" + std::to_string(*rd) +
                                  " of " + std::to_string(c.head_dim()) + ") is not supported");
  // llama.cpp's converter permutes llama's q/k rows for adjacent-pair rotation; qwen2 keeps
  // Hugging Face's layout (NEOX rotation).
  c.rope_interleaved = arch == "llama";
  c.attention_bias = arch == "qwen2";
  c.vocab_size = static_cast<int>(f.get_string_array("tokenizer.ggml.tokens").size());
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  c.bos_token_id = optional_id(f, "tokenizer.ggml.bos_token_id");
  c.eos_token_id = optional_id(f, "tokenizer.ggml.eos_token_id");
  return c;
}

std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& f) {
  const std::string model = f.get_string("tokenizer.ggml.model");
  const std::vector<std::string>& tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (model == "gpt2") {
    BpeData d;
    d.source = f.path();
    d.tokens = tokens;
    d.types = token_types(f, tokens.size());
    for (const std::string& m : f.get_string_array("tokenizer.ggml.merges")) {
      auto pair = split_merge(m);
      if (!pair) throw LoadError(f.path(), "tokenizer.ggml.merges: '" + m + "' is not \"a b\"");
      d.merges.push_back(std::move(*pair));
    }
    if (const std::string* pre = f.find_string("tokenizer.ggml.pre")) d.pre_tokenizer = *pre;
    // Llama 3's vocabulary takes a whole-token piece as is, merges or not (llama.cpp does too).
    d.ignore_merges = d.pre_tokenizer == "llama3" || d.pre_tokenizer == "llama-bpe";
    d.bos = optional_id(f, "tokenizer.ggml.bos_token_id");
    d.eos = optional_id(f, "tokenizer.ggml.eos_token_id");
    d.eog_ids = end_of_turn_ids(f);
    d.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(false);
    return std::make_unique<BpeTokenizer>(std::move(d));
  }
  if (model == "llama") {
    SpmData d;
    d.source = f.path();
    d.pieces = tokens;
    d.scores = f.get_f32_array("tokenizer.ggml.scores");
    d.types = token_types(f, tokens.size());
    d.bos = optional_id(f, "tokenizer.ggml.bos_token_id");
    d.eos = optional_id(f, "tokenizer.ggml.eos_token_id");
    d.eog_ids = end_of_turn_ids(f);
    d.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(true);
    d.add_space_prefix = f.find_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    return std::make_unique<SpmVocabTokenizer>(std::move(d));
  }
  throw LoadError(
      f.path(), "tokenizer.ggml.model: '" + model + "' is not supported (supported: gpt2, llama)");
}

std::unique_ptr<Tokenizer> load_model_tokenizer(const std::string& model_path) {
  if (is_gguf_file(model_path)) return gguf_tokenizer(GgufFile(model_path));
  const std::filesystem::path dir(model_path);
  if (!std::filesystem::exists(dir / "tokenizer.model") &&
      std::filesystem::exists(dir / "tokenizer.json"))
    return Tokenizer::load((dir / "tokenizer.json").string());
  return Tokenizer::load((dir / "tokenizer.model").string());
}

GgufModel load_gguf_model(const std::string& path) {
  auto file = std::make_shared<GgufFile>(path);
  const GgufFile& f = *file;
  GgufModel m;
  ModelWeights& w = m.weights;
  w.config = gguf_model_config(f);
  w.file = file;
  const ModelConfig& c = w.config;
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t Q = static_cast<int64_t>(c.num_attention_heads) * c.head_dim(), KV = c.kv_dim();
  w.embed_tokens = bind(f, "token_embd.weight", {V, H});
  w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    l.input_norm = bind(f, p + "attn_norm.weight", {H});
    l.q_proj = bind(f, p + "attn_q.weight", {Q, H});
    l.k_proj = bind(f, p + "attn_k.weight", {KV, H});
    l.v_proj = bind(f, p + "attn_v.weight", {KV, H});
    l.o_proj = bind(f, p + "attn_output.weight", {H, Q});
    l.post_norm = bind(f, p + "ffn_norm.weight", {H});
    l.gate_proj = bind(f, p + "ffn_gate.weight", {I, H});
    l.up_proj = bind(f, p + "ffn_up.weight", {I, H});
    l.down_proj = bind(f, p + "ffn_down.weight", {H, I});
    if (c.attention_bias) {
      l.q_bias = bind(f, p + "attn_q.bias", {Q});
      l.k_bias = bind(f, p + "attn_k.bias", {KV});
      l.v_bias = bind(f, p + "attn_v.bias", {KV});
    }
  }
  w.final_norm = bind(f, "output_norm.weight", {H});
  if (f.find_tensor("rope_freqs.weight")) {
    const TensorView rf = bind(f, "rope_freqs.weight", {c.head_dim() / 2});
    std::vector<float> factors(static_cast<size_t>(c.head_dim() / 2));
    cpu::load_row(rf, 0, c.head_dim() / 2, factors.data());
    w.config.rope_freq_factors = std::move(factors);
  }
  w.lm_head = c.tie_word_embeddings ? w.embed_tokens : bind(f, "output.weight", {V, H});
  m.tokenizer = gguf_tokenizer(f);
  if (const std::string* t = f.find_string("tokenizer.chat_template")) m.chat_template = *t;
  return m;
}

}  // namespace precis::engine
