// Tokens of a prompt grouped into the units compression keeps or drops whole: a word (all its
// SentencePiece pieces), one CJK character (possibly several byte-fallback tokens), a
// punctuation mark, or a line break. Dropping whole units is what keeps the output valid UTF-8
// and free of half words.
#pragma once

#include <string>
#include <vector>

namespace precis::engine {
class Tokenizer;
}

namespace precis::compression {

// A text, its tokens, and where each token lies in the text. The tokenizer may normalise
// (collapse whitespace, NFKC), so the offsets come from aligning its pieces to the text, and the
// output is always cut from the original bytes, never decoded from tokens.
struct TokenizedText {
  std::string text;
  std::vector<int> ids;
  // ids.size() + 1 entries: token k covers text[offsets[k], offsets[k + 1]). Ranges are
  // contiguous and cover the whole text; whitespace belongs to the token after it.
  std::vector<size_t> offsets;
};

// `text` must be valid UTF-8 (see sanitize_utf8).
TokenizedText tokenize_aligned(const engine::Tokenizer& tokenizer, std::string text);

enum class UnitKind {
  Word,         // letters/digits (and intra-word ' - _ .), any script written with spaces
  Cjk,          // one CJK character (or one multi-character CJK token)
  Punct,        // punctuation that does not end a sentence
  SentenceEnd,  // punctuation containing . ! ? 。！？
  Newline,      // whitespace holding a line break, as its own token(s)
  Space,        // whitespace with nothing after it
};

struct Unit {
  int first_token = 0;  // [first_token, end_token) in TokenizedText::ids
  int end_token = 0;
  size_t begin = 0;  // byte range in the text: leading whitespace [begin, core), then the
  size_t core = 0;   // unit itself [core, end)
  size_t end = 0;
  UnitKind kind = UnitKind::Word;

  int tokens() const { return end_token - first_token; }
};

std::vector<Unit> group_units(const TokenizedText& t);

// The kept units (kept[u] != 0) joined with their original spacing: a kept word keeps its
// leading whitespace, line breaks of dropped text survive, no doubled spaces, and no two words
// glued together where the whitespace between them was dropped.
std::string join_units(const std::string& text, const std::vector<Unit>& units,
                       const std::vector<char>& kept);

}  // namespace precis::compression
