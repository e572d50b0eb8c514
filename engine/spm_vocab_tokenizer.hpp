// SentencePiece BPE vocabularies given as plain data (GGUF tokenizer.ggml.model "llama": pieces,
// scores, token types), tokenized as the SentencePiece library tokenizes them: spaces become
// "▁" (and one goes first, add_space_prefix), the text is cut into characters (added pieces
// kept whole) and the adjacent pair whose merged piece scores highest is merged until none is
// left (llama.cpp's llm_tokenizer_spm); characters with no piece fall back to <0xNN> bytes.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer.hpp"

namespace precis::engine {

// GGUF: tokenizer.ggml.tokens, .scores, .token_type, .bos_token_id, .eos_token_id,
// .add_bos_token, .add_space_prefix.
struct SpmData {
  std::vector<std::string> pieces;  // by id, "▁" for a space, "<0x0A>" for byte pieces
  std::vector<float> scores;        // by id; higher merges first
  std::vector<TokenType> types;     // by id; empty means every piece is Normal
  int bos = -1;
  int eos = -1;
  std::vector<int> eog_ids;  // more end-of-turn tokens (GGUF eot/eom ids)
  bool add_bos = true;
  bool add_space_prefix = true;
  std::string source = "SentencePiece vocabulary";  // names the file in LoadErrors
};

// A SentencePiece piece as text: each U+2581 word boundary ("▁") becomes a space.
std::string spm_piece_text(std::string_view piece);

class SpmVocabTokenizer : public Tokenizer {
 public:
  // Throws LoadError(data.source, ...) when sizes disagree, ids are out of range or a piece is
  // listed twice.
  explicit SpmVocabTokenizer(SpmData data);

  // As the SentencePiece library decodes: control tokens give nothing, the "▁" of the first
  // other piece is dropped, byte pieces join into UTF-8 (U+FFFD for invalid bytes).
  std::string decode(const std::vector<int>& ids) const override;
  std::string piece(int id) const override;
  std::string token_bytes(int id) const override;
  int token_id(std::string_view piece) const override;
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }
  std::vector<int> eos_ids() const override { return eos_ids_; }
  bool is_special(int id) const override;
  bool adds_bos() const override { return add_bos_; }

  TokenType type(int id) const;

 protected:
  std::vector<int> encode_text(std::string_view text, bool parse_special) const override;

 private:
  void encode_plain(std::string_view text, std::vector<int>& out) const;

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  // Normal, UserDefined and Unused pieces: what a merge may make (the library's pieces_).
  std::unordered_map<std::string, int> mergeable_;
  // Control, Unknown and Byte pieces (the library's reserved_id_map_).
  std::unordered_map<std::string, int> reserved_;
  std::vector<int> byte_ids_;  // <0xNN> by byte, -1 when missing
  bool byte_fallback_ = false;
  int unk_ = -1;
  TokenMatcher user_defined_;
  TokenMatcher control_;
  int bos_ = -1;
  int eos_ = -1;
  std::vector<int> eos_ids_;
  bool add_bos_ = true;
  bool add_space_prefix_ = true;
};

}  // namespace precis::engine
