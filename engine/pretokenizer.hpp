// Pre-tokenization for byte-level BPE: the text is cut into pieces by a list of regexes before
// BPE runs on each piece. The regexes are data: named lists as llama.cpp names them (GGUF's
// `tokenizer.ggml.pre`), or patterns taken from a tokenizer.json. They run on PCRE2 in UTF mode
// with Unicode properties (\p{L}, \s as Unicode defines them), JIT-compiled where PCRE2 can.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace precis::engine {

// The regexes of the pre-tokenizer named `name` (gpt2, llama3 or llama-bpe, qwen2, smollm,
// starcoder, default, none, and the GGUF names that share their regexes), exactly as
// llama.cpp's llama-vocab.cpp spells them; nullptr for an unknown name.
const std::vector<std::string>* pretokenizer_regexes(std::string_view name);

// The name whose regexes these are, as llama.cpp or Hugging Face spell them (HF's
// "(?i:'s|'t|...)" is llama.cpp's "(?:'[sS]|'[tT]|...)"); empty when none is.
std::string recognise_pretokenizer(const std::vector<std::string>& regexes);

class PreTokenizer {
 public:
  // Compiles each regex; throws std::invalid_argument naming the pattern and PCRE2's complaint.
  explicit PreTokenizer(std::vector<std::string> regexes);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Each regex in turn cuts every piece left by the one before into its matches and the text
  // between them, keeping both (Hugging Face's Split with "Isolated", llama.cpp's
  // unicode_regex_split). No piece is empty; their concatenation is `text`. Invalid UTF-8 never
  // matches and is kept as text between matches.
  std::vector<std::string_view> split(std::string_view text) const;

  const std::vector<std::string>& regexes() const { return regexes_; }

 private:
  struct Compiled;
  std::vector<std::string> regexes_;
  std::vector<std::unique_ptr<Compiled>> compiled_;
};

}  // namespace precis::engine
