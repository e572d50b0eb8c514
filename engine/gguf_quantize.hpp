// `precis quantize`: a Hugging Face Llama or Qwen2 directory (f32/f16/bf16 safetensors + a
// SentencePiece tokenizer.model) written as a GGUF file in llama.cpp's layout, so that precis and
// llama.cpp both load it: {arch}.* metadata, the tokenizer as tokenizer.ggml.* (model "llama"),
// llama's q/k rows permuted as llama.cpp's converter permutes them (adjacent-pair rotary), norms
// and qwen2's biases in f32, every
// matrix (embeddings and the output head included) in the chosen type, except matrices whose
// rows are not whole blocks of it, which stay f16 (as llama.cpp's quantizer falls back).
#pragma once

#include <map>
#include <string>

#include "engine/ggml_type.hpp"

namespace precis::engine {

struct QuantizeReport {
  uint64_t bytes_before = 0;  // the source tensors' bytes
  uint64_t bytes_after = 0;   // the written tensors' bytes
  // Per written type ("q8_0", "f32"): the root-mean-square error of dequantized against source
  // values, relative to the source's root mean square.
  std::map<std::string, double> relative_rms_error;
  std::map<std::string, int> tensors;  // per written type
};

// Throws LoadError on a bad source, std::invalid_argument on a type that cannot be written.
QuantizeReport quantize_model(const std::string& hf_dir, GgmlType type, const std::string& out);

}  // namespace precis::engine
