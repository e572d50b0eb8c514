// The subset of a Hugging Face Llama `config.json` the engine needs.
#pragma once

#include <string>
#include <vector>

namespace precis::engine {

struct ModelConfig {
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;  // grouped-query attention; defaults to num_attention_heads
  int vocab_size = 0;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  int max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  int bos_token_id = 1;
  int eos_token_id = 2;
  // "llama" or "qwen2" (q/k/v projections with biases).
  std::string architecture = "llama";
  bool attention_bias = false;
  // Rotary layout: Hugging Face rotates the two halves of each head (rotate_half); GGUF llama
  // files store q/k rows permuted so that adjacent pairs (2i, 2i+1) rotate together.
  bool rope_interleaved = false;
  // Llama 3.1's rope_scaling {"rope_type": "llama3", ...}: low frequencies divided by `factor`,
  // high ones kept, a smooth blend between (factor 0: none).
  float rope_llama3_factor = 0;
  float rope_llama3_low_freq_factor = 1;
  float rope_llama3_high_freq_factor = 4;
  int rope_llama3_original_context = 8192;
  // GGUF's rope_freqs.weight (Llama 3.1 files carry the scaling as per-frequency divisors);
  // empty: none.
  std::vector<float> rope_freq_factors;

  int head_dim() const { return hidden_size / num_attention_heads; }
  int kv_dim() const { return num_key_value_heads * head_dim(); }
};

// The rotary inverse frequencies, one per pair of a head's dimensions, with any scaling.
std::vector<double> rope_inv_freq(const ModelConfig& c);

// Parses and validates; throws LoadError naming the file and the field.
ModelConfig load_model_config(const std::string& path);
ModelConfig parse_model_config(const std::string& json_text, const std::string& path_for_errors);
// `torch_dtype` is written as-is ("float32", "float16", "bfloat16").
std::string model_config_to_json(const ModelConfig& c, const std::string& torch_dtype = "float32");

}  // namespace precis::engine
