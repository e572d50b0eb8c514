// SentencePiece tokenizer (`tokenizer.model`), as Llama checkpoints ship it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace precis::engine {

class Tokenizer {
 public:
  // Throws LoadError naming the file when it is missing or not a SentencePiece model.
  static std::unique_ptr<Tokenizer> load(const std::string& path);
  ~Tokenizer();

  std::vector<int> encode(std::string_view text, bool add_bos) const;
  std::string decode(const std::vector<int>& ids) const;
  // The piece as SentencePiece spells it ("▁the", "<0x0A>").
  std::string piece(int id) const;
  // The bytes this token contributes to the decoded text when it follows `prev` tokens; used for
  // streaming. Byte-fallback pieces give their raw byte, so a UTF-8 character may span tokens.
  std::string token_bytes(int id) const;
  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;

 private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

}  // namespace precis::engine
