// Deterministic random Llama models in the Hugging Face layout (config.json, model.safetensors,
// tokenizer.model), for tests and benchmarks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/dtype.hpp"
#include "engine/model_config.hpp"

namespace precis::engine {

struct MakeModelOptions {
  std::string out_dir;
  std::string preset = "tiny";  // tiny | small | tinyllama-shape | llama2-7b-shape
  uint64_t seed = 0;
  DType dtype = DType::F32;
  // Copy this tokenizer.model; when empty, train a small SentencePiece model on the text shipped
  // in data/corpus/ (vocab size from the preset, capped by what the text supports).
  std::string tokenizer;
};

// Throws std::invalid_argument for an unknown preset.
ModelConfig preset_config(const std::string& preset);
// Writes the model; returns its config. Prints progress to stderr for big presets.
ModelConfig make_model(const MakeModelOptions& opts);

// Trains a SentencePiece (BPE, byte fallback) model on `corpus_file`, writes
// `<out_dir>/tokenizer.model`.
void train_tokenizer(const std::string& corpus_file, const std::string& out_dir, int vocab_size);

// The corpus the project ships (data/corpus/kjv_excerpt.txt), found relative to the source dir.
std::string default_corpus_path();

}  // namespace precis::engine
