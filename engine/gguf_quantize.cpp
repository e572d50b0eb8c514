#include "engine/gguf_quantize.hpp"

#include <sentencepiece_processor.h>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "engine/cpu_kernels.hpp"
#include "engine/gguf_writer.hpp"
#include "engine/load_error.hpp"
#include "engine/model_weights.hpp"
#include "engine/quant.hpp"
#include "engine/sentencepiece_tokenizer.hpp"
#include "engine/tokenizer.hpp"

namespace precis::engine {

namespace {

// A weight matrix [rows, cols] as f32, rows optionally reordered: row r of the result is source
// row order[r].
std::vector<float> rows_f32(const TensorView& t, int64_t rows, int64_t cols,
                            const std::vector<int64_t>* order = nullptr) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    cpu::load_row(t, order ? (*order)[static_cast<size_t>(r)] : r, static_cast<int>(cols),
                  out.data() + r * cols);
  return out;
}

// llama.cpp convert_hf_to_gguf's permute() for q/k: within each head, the rotate_half halves
// (i, i + hd/2) become adjacent pairs (2i, 2i + 1).
std::vector<int64_t> rope_permutation(int heads, int head_dim) {
  std::vector<int64_t> order;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < head_dim / 2; ++i)
      for (int j = 0; j < 2; ++j) order.push_back(int64_t{h} * head_dim + j * (head_dim / 2) + i);
  return order;
}

class Writer {
 public:
  Writer(GgufWriter& w, QuantizeReport& report) : w_(w), report_(report) {}

  void add(const std::string& name, const TensorView& src, GgmlType type,
           const std::vector<int64_t>* order = nullptr) {
    const int64_t cols = src.shape.back();
    const int64_t rows = src.numel() / cols;
    const std::vector<float> values = rows_f32(src, rows, cols, order);
    // Rows that are not whole blocks stay f16, as llama.cpp's quantizer falls back.
    if (!ggml_row_bytes(type, static_cast<uint64_t>(cols))) type = GgmlType::F16;
    const uint64_t row_bytes = quant_row_bytes(type, cols);
    std::vector<std::byte> bytes(static_cast<size_t>(row_bytes * rows));
    std::vector<float> back(static_cast<size_t>(cols));
    double err = 0, ref = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* in = values.data() + r * cols;
      quantize_row(type, in, bytes.data() + r * row_bytes, cols);
      dequantize_row(type, bytes.data() + r * row_bytes, back.data(), cols);
      for (int64_t c = 0; c < cols; ++c) {
        err += (double(back[c]) - in[c]) * (double(back[c]) - in[c]);
        ref += double(in[c]) * in[c];
      }
    }
    std::vector<int64_t> dims = {cols};
    if (src.shape.size() == 2) dims.push_back(rows);
    w_.add_tensor(name, dims, type, std::move(bytes));
    const std::string tn(ggml_type_info(type).name);
    sum_err_[tn] += err, sum_ref_[tn] += ref;
    report_.relative_rms_error[tn] = sum_ref_[tn] > 0 ? std::sqrt(sum_err_[tn] / sum_ref_[tn]) : 0;
    report_.tensors[tn] += 1;
    report_.bytes_before += src.nbytes;
    report_.bytes_after += row_bytes * static_cast<uint64_t>(rows);
  }

 private:
  GgufWriter& w_;
  QuantizeReport& report_;
  std::map<std::string, double> sum_err_, sum_ref_;
};

void write_tokenizer(GgufWriter& w, const std::string& dir, int vocab_size) {
  const std::string path = (std::filesystem::path(dir) / "tokenizer.model").string();
  const std::unique_ptr<Tokenizer> tok = Tokenizer::load(path);
  const auto* spt = dynamic_cast<const SentencePieceTokenizer*>(tok.get());
  if (!spt) throw LoadError(path, "quantize needs a SentencePiece tokenizer.model");
  const sentencepiece::SentencePieceProcessor& sp = spt->processor();
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int i = 0; i < sp.GetPieceSize(); ++i) {
    pieces.push_back(sp.IdToPiece(i));
    scores.push_back(sp.GetScore(i));
    const TokenType t = sp.IsUnknown(i)   ? TokenType::Unknown
                        : sp.IsControl(i) ? TokenType::Control
                        : sp.IsUnused(i)  ? TokenType::Unused
                        : sp.IsByte(i)    ? TokenType::Byte
                                          : TokenType::Normal;
    types.push_back(static_cast<int32_t>(t));
  }
  // The embedding may have more rows than the tokenizer has pieces (llama.cpp checks
  // token_embd against the token count): pad as llama.cpp's converter does.
  for (int i = static_cast<int>(pieces.size()); i < vocab_size; ++i) {
    pieces.push_back("[PAD" + std::to_string(i) + "]");
    scores.push_back(-1000.0f);
    types.push_back(static_cast<int32_t>(TokenType::Unused));
  }
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", std::move(pieces));
  w.set_f32_array("tokenizer.ggml.scores", std::move(scores));
  w.set_i32_array("tokenizer.ggml.token_type", std::move(types));
  if (sp.bos_id() >= 0)
    w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(sp.bos_id()));
  if (sp.eos_id() >= 0)
    w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(sp.eos_id()));
  if (sp.unk_id() >= 0)
    w.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(sp.unk_id()));
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
}

}  // namespace

QuantizeReport quantize_model(const std::string& hf_dir, GgmlType type, const std::string& out) {
  if (!quantize_supported(type))
    throw std::invalid_argument(std::string("cannot write type ") +
                                std::string(ggml_type_info(type).name));
  const ModelWeights m = load_model_weights(hf_dir);
  const ModelConfig& c = m.config;
  const std::string arch = c.architecture;  // "llama" or "qwen2"
  GgufWriter w;
  w.set_string("general.architecture", arch);
  w.set_string("general.name", std::filesystem::path(hf_dir).filename().string());
  w.set_u32("general.file_type", type == GgmlType::Q8_0   ? 7
                                 : type == GgmlType::Q4_0 ? 2
                                 : type == GgmlType::Q4_1 ? 3
                                 : type == GgmlType::F16  ? 1
                                                          : 0);  // llama_ftype: 0 all f32
  w.set_u32(arch + ".context_length", static_cast<uint32_t>(c.max_position_embeddings));
  w.set_u32(arch + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.set_u32(arch + ".block_count", static_cast<uint32_t>(c.num_hidden_layers));
  w.set_u32(arch + ".feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.set_u32(arch + ".attention.head_count", static_cast<uint32_t>(c.num_attention_heads));
  w.set_u32(arch + ".attention.head_count_kv", static_cast<uint32_t>(c.num_key_value_heads));
  w.set_u32(arch + ".rope.dimension_count", static_cast<uint32_t>(c.head_dim()));
  w.set_f32(arch + ".rope.freq_base", c.rope_theta);
  w.set_f32(arch + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  w.set_u32(arch + ".vocab_size", static_cast<uint32_t>(c.vocab_size));
  write_tokenizer(w, hf_dir, c.vocab_size);

  QuantizeReport report;
  Writer t(w, report);
  // llama's q/k rows are permuted for adjacent-pair rotary; qwen2 keeps HF's layout (llama.cpp
  // rotates its halves).
  const bool permute = arch == "llama";
  const std::vector<int64_t> q_order = rope_permutation(c.num_attention_heads, c.head_dim());
  const std::vector<int64_t> k_order = rope_permutation(c.num_key_value_heads, c.head_dim());
  t.add("token_embd.weight", m.embed_tokens, type);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const LayerWeights& l = m.layers[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    t.add(p + "attn_norm.weight", l.input_norm, GgmlType::F32);
    t.add(p + "attn_q.weight", l.q_proj, type, permute ? &q_order : nullptr);
    t.add(p + "attn_k.weight", l.k_proj, type, permute ? &k_order : nullptr);
    if (c.attention_bias) {
      t.add(p + "attn_q.bias", l.q_bias, GgmlType::F32);
      t.add(p + "attn_k.bias", l.k_bias, GgmlType::F32);
      t.add(p + "attn_v.bias", l.v_bias, GgmlType::F32);
    }
    t.add(p + "attn_v.weight", l.v_proj, type);
    t.add(p + "attn_output.weight", l.o_proj, type);
    t.add(p + "ffn_norm.weight", l.post_norm, GgmlType::F32);
    t.add(p + "ffn_gate.weight", l.gate_proj, type);
    t.add(p + "ffn_up.weight", l.up_proj, type);
    t.add(p + "ffn_down.weight", l.down_proj, type);
  }
  t.add("output_norm.weight", m.final_norm, GgmlType::F32);
  if (m.lm_head.data != m.embed_tokens.data) t.add("output.weight", m.lm_head, type);
  w.write(out);
  return report;
}

}  // namespace precis::engine
