// The tokenizer interface. One implementation per kind of vocabulary:
//   SentencePieceTokenizer (sentencepiece_tokenizer.hpp)  a `tokenizer.model`, run by the library
//   SpmVocabTokenizer      (spm_vocab_tokenizer.hpp)      GGUF "llama" vocabularies
//   BpeTokenizer           (bpe_tokenizer.hpp)            byte-level BPE (GGUF "gpt2", HF
//                                                         tokenizer.json)
// Callers see only this class.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace precis::engine {

// A token's kind, numbered as GGUF's `tokenizer.ggml.token_type` numbers them.
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,      // special: <s>, <|im_start|>; written in text only when parse_special is on
  UserDefined = 4,  // added, not special: always matched as a whole in text
  Unused = 5,
  Byte = 6,  // <0x0A> byte-fallback pieces
};

class Tokenizer {
 public:
  // `tokenizer.model` (SentencePiece) or an HF `tokenizer.json` (byte-level BPE), told apart by
  // content. Throws LoadError naming the file when it is missing or malformed.
  static std::unique_ptr<Tokenizer> load(const std::string& path);
  virtual ~Tokenizer();

  // Token ids for `text`. With `add_bos`, the BOS token goes first if this vocabulary has one and
  // its model expects it (adds_bos()). With `parse_special`, special tokens written out in the
  // text ("<|im_start|>") become their single ids; without, they are tokenized as plain text.
  // Added tokens that are not special are always matched.
  std::vector<int> encode(std::string_view text, bool add_bos, bool parse_special = false) const;
  // The text of a sequence of ids. Byte-level BPE renders special tokens as their text; the
  // SentencePiece kinds render control tokens as nothing, as the SentencePiece library does.
  virtual std::string decode(const std::vector<int>& ids) const = 0;
  // The token as the vocabulary spells it ("▁the", "<0x0A>", "Ġthe", "<|im_end|>").
  virtual std::string piece(int id) const = 0;
  // The bytes this token contributes to the decoded text, for streaming: concatenating them for
  // a sequence gives its text, byte for byte (SentencePiece kinds keep the leading word-boundary
  // space that decode() drops). One token may carry part of a UTF-8 character (byte fallback,
  // byte-level BPE), so a streamer must hold back incomplete characters (utf8.hpp). Empty for
  // ids out of range.
  virtual std::string token_bytes(int id) const = 0;
  // The id of the token spelt `piece` (as piece() spells it), or -1.
  virtual int token_id(std::string_view piece) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 when there is none
  virtual int eos_id() const = 0;  // -1 when there is none
  // Every token that ends a turn or the text (eos, <|im_end|>, <|eot_id|>, ...), eos first.
  virtual std::vector<int> eos_ids() const;
  // Control tokens (<s>, </s>, <|im_start|>): never produced from plain text.
  virtual bool is_special(int id) const = 0;
  // Whether the model expects BOS at the start of a prompt (encode(text, true) adds it).
  virtual bool adds_bos() const = 0;

 protected:
  // The ids of `text` without BOS.
  virtual std::vector<int> encode_text(std::string_view text, bool parse_special) const = 0;
};

// Finds added and special tokens written out in text: at each position the longest token that
// starts there, the leftmost first. Shared by the implementations.
class TokenMatcher {
 public:
  // `lstrip`/`rstrip`: the token also swallows the whitespace on its left/right (HF added tokens).
  void add(std::string_view text, int id, bool lstrip = false, bool rstrip = false);
  bool empty() const { return nodes_.size() <= 1; }

  struct Fragment {
    std::string_view text;  // the plain text, or the token's text as it stood in the input
    int id = -1;            // the token, or -1 for plain text
  };
  // `text` cut into plain-text fragments and tokens, in order; no empty plain fragments.
  std::vector<Fragment> split(std::string_view text) const;

 private:
  struct Node {
    std::map<unsigned char, int> next;
    int id = -1;
    bool lstrip = false;
    bool rstrip = false;
  };
  std::vector<Node> nodes_{1};
};

// Whether a special token's text conventionally ends a turn or the text (<|im_end|>, <|eot_id|>,
// </s>, <|endoftext|>, ...).
bool is_end_of_generation_text(std::string_view text);

}  // namespace precis::engine
