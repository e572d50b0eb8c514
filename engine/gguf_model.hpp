// A model from one GGUF file (llama.cpp's format): hyper-parameters from the `{arch}.*` keys,
// weights bound by GGUF tensor names (token_embd, blk.N.attn_q, ..., output; a missing `output`
// means tied embeddings) and kept as they are in the file (quantized blocks stay blocks), the
// tokenizer from `tokenizer.ggml.*` (gpt2 byte-level BPE or llama SentencePiece-style vocab) and
// the chat template from `tokenizer.chat_template`. Architectures: llama, qwen2.
#pragma once

#include <memory>
#include <string>

#include "engine/model_weights.hpp"
#include "engine/tokenizer.hpp"

namespace precis::engine {

class GgufFile;

struct GgufModel {
  ModelWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;
  std::string chat_template;  // the Jinja source, "" when the file has none
};

// True when `path` is a regular file that starts with the GGUF magic.
bool is_gguf_file(const std::string& path);

// Throws LoadError naming the file and the key or tensor on anything missing, mis-shaped or of
// a type the CPU kernels cannot compute with.
GgufModel load_gguf_model(const std::string& path);

// The tokenizer of a model given as users give it: a GGUF file, or a directory with
// tokenizer.model (SentencePiece) or tokenizer.json (byte-level BPE).
std::unique_ptr<Tokenizer> load_model_tokenizer(const std::string& model_path);

// The parts, for tests and tools.
ModelConfig gguf_model_config(const GgufFile& f);
std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& f);

}  // namespace precis::engine
