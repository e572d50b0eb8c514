#include "engine/spm_vocab_tokenizer.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <queue>
#include <stdexcept>

#include "engine/load_error.hpp"

namespace precis::engine {

namespace {

const std::string kSpace = "\xE2\x96\x81";             // U+2581, the word boundary
const std::string kReplacement = "\xEF\xBF\xBD";       // U+FFFD
const std::string kUnknownSurface = " \xE2\x81\x87 ";  // " ⁇ ", as the library decodes <unk>

// Length of the valid UTF-8 character at the start of `s`, or 0 when it is not one.
size_t valid_char_len(std::string_view s) {
  const auto c0 = static_cast<unsigned char>(s[0]);
  size_t len;
  uint32_t cp;
  if (c0 < 0x80) return 1;
  if (c0 >= 0xC2 && c0 < 0xE0) {
    len = 2;
    cp = c0 & 0x1F;
  } else if (c0 >= 0xE0 && c0 < 0xF0) {
    len = 3;
    cp = c0 & 0x0F;
  } else if (c0 >= 0xF0 && c0 < 0xF5) {
    len = 4;
    cp = c0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

// "<0x0A>" -> 10, or -1.
int byte_of_piece(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = p[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

std::string spm_piece_text(std::string_view p) {
  std::string out;
  for (size_t i = 0; i < p.size();) {
    if (p.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += p[i++];
    }
  }
  return out;
}

SpmVocabTokenizer::SpmVocabTokenizer(SpmData data)
    : pieces_(std::move(data.pieces)),
      scores_(std::move(data.scores)),
      types_(std::move(data.types)),
      byte_ids_(256, -1),
      bos_(data.bos),
      eos_(data.eos),
      add_bos_(data.add_bos),
      add_space_prefix_(data.add_space_prefix) {
  const std::string& src = data.source;
  const int n = static_cast<int>(pieces_.size());
  if (n == 0) throw LoadError(src, "the vocabulary has no pieces");
  if (types_.empty()) types_.assign(pieces_.size(), TokenType::Normal);
  if (scores_.empty()) scores_.assign(pieces_.size(), 0.0f);
  if (types_.size() != pieces_.size() || scores_.size() != pieces_.size()) {
    throw LoadError(src, std::to_string(n) + " pieces but " + std::to_string(scores_.size()) +
                             " scores and " + std::to_string(types_.size()) + " token types");
  }
  auto check_id = [&](int id, const std::string& what) {
    if (id < -1 || id >= n) {
      throw LoadError(src, what + " id " + std::to_string(id) + " is not a piece (vocabulary of " +
                               std::to_string(n) + ")");
    }
  };
  check_id(bos_, "bos");
  check_id(eos_, "eos");
  for (int id : data.eog_ids) check_id(id, "end-of-turn");

  for (int id = 0; id < n; ++id) {
    const std::string& p = pieces_[id];
    if (p.empty()) throw LoadError(src, "piece " + std::to_string(id) + " is empty");
    const TokenType t = types_[id];
    const bool mergeable =
        t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Unused;
    auto& map = mergeable ? mergeable_ : reserved_;
    if (!map.emplace(p, id).second) {
      throw LoadError(src, "piece " + std::to_string(id) + " (\"" + p + "\") is listed twice");
    }
    if (t == TokenType::UserDefined) user_defined_.add(p, id);
    if (t == TokenType::Control) control_.add(p, id);
    if (t == TokenType::Unknown) unk_ = id;
    if (t == TokenType::Byte) {
      const int b = byte_of_piece(p);
      if (b < 0) throw LoadError(src, "byte piece " + std::to_string(id) + " is \"" + p + "\"");
      byte_ids_[b] = id;
      byte_fallback_ = true;
    }
  }

  if (eos_ >= 0) eos_ids_.push_back(eos_);
  auto add_eog = [&](int id) {
    if (std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end()) eos_ids_.push_back(id);
  };
  for (int id : data.eog_ids) add_eog(id);
  for (int id = 0; id < n; ++id) {
    if (types_[id] == TokenType::Control && is_end_of_generation_text(pieces_[id])) add_eog(id);
  }
}

TokenType SpmVocabTokenizer::type(int id) const {
  if (id < 0 || id >= vocab_size()) return TokenType::Undefined;
  return types_[id];
}

bool SpmVocabTokenizer::is_special(int id) const {
  return type(id) == TokenType::Control;
}

std::vector<int> SpmVocabTokenizer::encode_text(std::string_view text, bool parse_special) const {
  std::vector<int> out;
  if (!parse_special || control_.empty()) {
    encode_plain(text, out);
    return out;
  }
  // Each stretch of plain text is tokenized on its own and so starts a word, as after a special
  // token in llama.cpp and in Llama's own tokenizers.
  for (const auto& f : control_.split(text)) {
    if (f.id >= 0) {
      out.push_back(f.id);
    } else {
      encode_plain(f.text, out);
    }
  }
  return out;
}

void SpmVocabTokenizer::encode_plain(std::string_view text, std::vector<int>& out) const {
  if (text.empty()) return;
  // Normalize as the library does with an identity normalizer: the word-boundary prefix, spaces
  // as "▁", invalid UTF-8 bytes as U+FFFD.
  std::string norm;
  norm.reserve(text.size() + 8);
  if (add_space_prefix_) norm += kSpace;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == ' ') {
      norm += kSpace;
      ++i;
      continue;
    }
    const size_t len = valid_char_len(text.substr(i));
    if (len == 0) {
      norm += kReplacement;
      ++i;
    } else {
      norm.append(text.substr(i, len));
      i += len;
    }
  }

  // Symbols: one per character, added (UserDefined) pieces whole and frozen.
  struct Symbol {
    size_t start;
    size_t len;
    int prev;
    int next;
    bool frozen;
  };
  std::vector<Symbol> sym;
  auto push = [&](size_t start, size_t len, bool frozen) {
    const int i = static_cast<int>(sym.size());
    sym.push_back({start, len, i - 1, -1, frozen});
    if (i > 0) sym[i - 1].next = i;
  };
  const std::string_view nv(norm);
  auto push_chars = [&](size_t start, size_t end) {
    for (size_t i = start; i < end;) {
      const size_t len = std::min(valid_char_len(nv.substr(i)), end - i);
      push(i, len == 0 ? 1 : len, false);
      i += len == 0 ? 1 : len;
    }
  };
  if (user_defined_.empty()) {
    push_chars(0, norm.size());
  } else {
    for (const auto& f : user_defined_.split(nv)) {
      const size_t start = static_cast<size_t>(f.text.data() - nv.data());
      if (f.id >= 0) {
        push(start, f.text.size(), true);
      } else {
        push_chars(start, start + f.text.size());
      }
    }
  }

  struct Pair {
    float score;
    int left;
    int right;
    size_t size;
  };
  // Highest score first; among equals the leftmost.
  auto worse = [](const Pair& a, const Pair& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
  // Merged pieces of Unused type, to be cut back into their halves at the end.
  std::map<std::string, std::pair<std::string, std::string>> rev_merge;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0 || sym[left].frozen || sym[right].frozen) return;
    const std::string merged(nv.substr(sym[left].start, sym[left].len + sym[right].len));
    auto it = mergeable_.find(merged);
    if (it == mergeable_.end()) return;
    agenda.push({scores_[it->second], left, right, merged.size()});
    if (types_[it->second] == TokenType::Unused) {
      rev_merge[merged] = {std::string(nv.substr(sym[left].start, sym[left].len)),
                           std::string(nv.substr(sym[right].start, sym[right].len))};
    }
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) consider(i - 1, i);
  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    Symbol& l = sym[top.left];
    Symbol& r = sym[top.right];
    // Stale: one side has merged since.
    if (l.len == 0 || r.len == 0 || l.len + r.len != top.size) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = top.left;
    consider(l.prev, top.left);
    consider(top.left, l.next);
  }

  auto lookup = [&](const std::string& w) {
    if (auto it = reserved_.find(w); it != reserved_.end()) return it->second;
    if (auto it = mergeable_.find(w); it != mergeable_.end()) return it->second;
    return unk_;
  };
  bool prev_unknown = false;
  auto emit = [&](const std::string& w, auto& self) -> void {
    const int id = lookup(w);
    if (id >= 0 && types_[id] == TokenType::Unused) {
      if (auto p = rev_merge.find(w); p != rev_merge.end()) {
        self(p->second.first, self);
        self(p->second.second, self);
        return;
      }
    }
    const bool unknown = id < 0 || id == unk_;
    if (unknown && byte_fallback_) {
      for (char c : w)
        out.push_back(byte_ids_[static_cast<unsigned char>(c)] >= 0
                          ? byte_ids_[static_cast<unsigned char>(c)]
                          : unk_);
      prev_unknown = false;
      return;
    }
    if (unknown && prev_unknown) return;  // a run of unknown characters is one <unk>
    if (id < 0) return;                   // no <unk> piece at all: the character is dropped
    out.push_back(id);
    prev_unknown = unknown;
  };
  for (int i = 0; i >= 0; i = sym[i].next) {
    emit(std::string(nv.substr(sym[i].start, sym[i].len)), emit);
  }
}

std::string SpmVocabTokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  std::string bytes;  // a run of byte pieces
  auto flush_bytes = [&] {
    for (size_t i = 0; i < bytes.size();) {
      const size_t len = valid_char_len(std::string_view(bytes).substr(i));
      if (len == 0) {
        out += kReplacement;
        ++i;
      } else {
        out.append(bytes, i, len);
        i += len;
      }
    }
    bytes.clear();
  };
  bool first = true;  // no piece other than control pieces yet
  for (int id : ids) {
    if (id < 0 || id >= vocab_size()) {
      throw std::runtime_error("tokenizer: id " + std::to_string(id) + " is out of range");
    }
    const TokenType t = types_[id];
    if (t == TokenType::Control) continue;
    const bool was_first = first;
    first = false;
    if (t == TokenType::Byte) {
      bytes += static_cast<char>(byte_of_piece(pieces_[id]));
      continue;
    }
    flush_bytes();
    if (t == TokenType::Unknown) {
      out += kUnknownSurface;
      continue;
    }
    std::string_view p = pieces_[id];
    // The word boundary the tokenizer put before the text is not part of it (only on the first
    // piece after any control pieces, as the library decodes).
    if (was_first && add_space_prefix_ && p.compare(0, kSpace.size(), kSpace) == 0) {
      p.remove_prefix(kSpace.size());
    }
    out += spm_piece_text(p);
  }
  flush_bytes();
  return out;
}

std::string SpmVocabTokenizer::piece(int id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return pieces_[id];
}

std::string SpmVocabTokenizer::token_bytes(int id) const {
  if (id < 0 || id >= vocab_size()) return {};
  const TokenType t = types_[id];
  if (t == TokenType::Control) return {};
  if (t == TokenType::Byte) return std::string(1, static_cast<char>(byte_of_piece(pieces_[id])));
  return spm_piece_text(pieces_[id]);
}

int SpmVocabTokenizer::token_id(std::string_view piece) const {
  const std::string p(piece);
  if (auto it = reserved_.find(p); it != reserved_.end()) return it->second;
  if (auto it = mergeable_.find(p); it != mergeable_.end()) return it->second;
  return -1;
}

}  // namespace precis::engine
