// Hugging Face `tokenizer.json` files for byte-level BPE models (GPT-2, Llama 3, Qwen2,
// SmolLM2/StarCoder, ...): model.type "BPE" with its vocab, merges ("a b" strings or [a, b]
// pairs) and added_tokens; pre_tokenizer ByteLevel, alone or after Split / Digits steps in a
// Sequence; normalizer none or NFC. A `tokenizer_config.json` beside the file, when there is
// one, names bos/eos and says whether BOS is added.
//
// Not applied: the NFC normalizer (as in llama.cpp, text is tokenized as given; text that is
// already NFC, nearly all of it, tokenizes the same).
#pragma once

#include <memory>
#include <string>

#include "engine/bpe_tokenizer.hpp"

namespace precis::engine {

// The vocabulary of a tokenizer.json. Every malformed or unsupported file is a LoadError naming
// the file and the JSON field ("model.merges[12]: ...").
BpeData read_tokenizer_json(const std::string& path);

std::unique_ptr<BpeTokenizer> load_tokenizer_json(const std::string& path);

}  // namespace precis::engine
