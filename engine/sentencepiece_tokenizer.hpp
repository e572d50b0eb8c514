// A SentencePiece `tokenizer.model` (as Llama checkpoints ship it), run by the SentencePiece
// library.
#pragma once

#include <memory>
#include <string>

#include "engine/tokenizer.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace precis::engine {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Throws LoadError naming the file when it is missing or not a SentencePiece model.
  static std::unique_ptr<SentencePieceTokenizer> load(const std::string& path);
  ~SentencePieceTokenizer() override;

  std::string decode(const std::vector<int>& ids) const override;
  std::string piece(int id) const override;
  // Byte-fallback pieces give their raw byte; "▁" becomes a space.
  std::string token_bytes(int id) const override;
  int token_id(std::string_view piece) const override;
  int vocab_size() const override;
  int bos_id() const override;
  int eos_id() const override;
  bool is_special(int id) const override;
  bool adds_bos() const override { return true; }

  // The library's processor, for callers that need the model itself (scores, types).
  const sentencepiece::SentencePieceProcessor& processor() const { return *sp_; }

 protected:
  std::vector<int> encode_text(std::string_view text, bool parse_special) const override;

 private:
  SentencePieceTokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  TokenMatcher control_;  // control pieces, for parse_special
};

}  // namespace precis::engine
