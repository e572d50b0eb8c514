// Byte-level BPE (GPT-2 style), as GGUF "gpt2" vocabularies and Hugging Face tokenizer.json files
// describe it: the text's bytes are spelt in GPT-2's byte-to-unicode alphabet ("Ġ" for a space),
// cut into pieces by a pre-tokenizer regex list (pretokenizer.hpp), and each piece's characters
// are merged by rank. Added and special tokens are matched as a whole before any of that.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/pretokenizer.hpp"
#include "engine/tokenizer.hpp"

namespace precis::engine {

// A byte-level BPE vocabulary as plain data, filled in by a file reader (GGUF:
// tokenizer.ggml.tokens, .merges, .token_type, .pre, .bos_token_id, .eos_token_id, ...;
// tokenizer_json.hpp for HF files).
struct BpeData {
  // Token text by id: normal tokens in the byte-to-unicode alphabet ("Ġthe"), added and special
  // tokens (Control, UserDefined) as plain text ("<|im_start|>").
  std::vector<std::string> tokens;
  // By id; empty means every token is Normal. Control tokens are special (matched in text only
  // with parse_special); UserDefined tokens are always matched as a whole.
  std::vector<TokenType> types;
  // Merges by rank, the first merged first. split_merge() reads GGUF's "a b" spelling.
  std::vector<std::pair<std::string, std::string>> merges;
  // A name from pretokenizer.hpp (GGUF's tokenizer.ggml.pre; absent there means "default").
  std::string pre_tokenizer = "default";
  // When non-empty, these regexes are used and pre_tokenizer is only a label.
  std::vector<std::string> pre_tokenizer_regexes;
  int bos = -1;
  int eos = -1;
  // More end-of-turn tokens (GGUF's eot/eom ids). Special tokens spelt like one (<|im_end|>,
  // <|eot_id|>, <|endoftext|>) are found without being listed.
  std::vector<int> eog_ids;
  bool add_bos = false;  // the model expects BOS first (GGUF tokenizer.ggml.add_bos_token)
  // A piece that is a token as a whole is that token, merges or not (HF "ignore_merges", which
  // Llama 3 sets; llama.cpp does the same for its llama3 pre-tokenizer).
  bool ignore_merges = false;
  // A space goes before each stretch of plain text that does not start with one (HF ByteLevel
  // add_prefix_space).
  bool add_prefix_space = false;
  // Added tokens that swallow the whitespace on their left / right (HF lstrip / rstrip).
  std::vector<int> lstrip_ids;
  std::vector<int> rstrip_ids;
  // Names the file in LoadErrors.
  std::string source = "BPE vocabulary";
};

// "a b" -> {"a", "b"}: the two sides of a merge as GGUF's tokenizer.ggml.merges (and older
// tokenizer.json files) spell it, cut at the first space after the first character; nullopt
// when there is no such space.
std::optional<std::pair<std::string, std::string>> split_merge(std::string_view merge);

// The byte-to-unicode alphabet: the UTF-8 spelling of byte `b`'s character ("Ġ" for ' ').
const std::string& byte_to_unicode(unsigned char b);
// The bytes a token spelt in that alphabet stands for ("Ġthe" -> " the"); characters outside the
// alphabet are kept as they are.
std::string unmap_bytes(const std::string& token);

class BpeTokenizer : public Tokenizer {
 public:
  // Throws LoadError(data.source, ...) when the data does not hang together: a merge naming a
  // token that does not exist, ids out of range, an unknown pre-tokenizer name or a bad regex.
  explicit BpeTokenizer(BpeData data);

  std::string decode(const std::vector<int>& ids) const override;
  std::string piece(int id) const override;
  // Normal tokens give their raw bytes (the byte-to-unicode spelling undone); added and special
  // tokens their text.
  std::string token_bytes(int id) const override;
  int token_id(std::string_view piece) const override;
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }
  std::vector<int> eos_ids() const override { return eos_ids_; }
  bool is_special(int id) const override;
  bool adds_bos() const override { return add_bos_; }

  TokenType type(int id) const;
  const std::string& pre_tokenizer_name() const { return pre_name_; }
  const PreTokenizer& pre_tokenizer() const { return pre_; }

 protected:
  std::vector<int> encode_text(std::string_view text, bool parse_special) const override;

 private:
  void encode_plain(std::string_view text, std::vector<int>& out) const;
  void encode_piece(std::string_view piece, std::vector<int>& out) const;

  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::vector<std::string> bytes_;  // token_bytes by id
  std::unordered_map<std::string, int> ids_;
  // (left id, right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int, int>> merges_;
  std::array<int, 256> byte_ids_{};  // the token of each byte's single character, or -1
  std::string pre_name_;
  PreTokenizer pre_;
  TokenMatcher all_added_;   // Control and UserDefined, for parse_special
  TokenMatcher user_added_;  // UserDefined only
  int bos_ = -1;
  int eos_ = -1;
  std::vector<int> eos_ids_;
  bool add_bos_ = false;
  bool ignore_merges_ = false;
  bool add_prefix_space_ = false;
};

}  // namespace precis::engine
