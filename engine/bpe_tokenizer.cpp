#include "engine/bpe_tokenizer.hpp"

#include <algorithm>
#include <queue>
#include <stdexcept>

#include "engine/load_error.hpp"

namespace precis::engine {

namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes for
// U+0100.. in order.
struct ByteAlphabet {
  std::array<std::string, 256> spelling;
  std::array<int, 512> byte_of;  // codepoint -> byte, -1 when the codepoint is not in the alphabet
  ByteAlphabet() {
    byte_of.fill(-1);
    uint32_t extra = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? b : 256 + extra++;
      spelling[b] = utf8(cp);
      byte_of[cp] = static_cast<int>(b);
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}

uint64_t pair_key(int left, int right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

PreTokenizer build_pre_tokenizer(const BpeData& data, std::string& name) {
  std::vector<std::string> regexes = data.pre_tokenizer_regexes;
  name = data.pre_tokenizer;
  if (regexes.empty()) {
    const auto* named = pretokenizer_regexes(data.pre_tokenizer);
    if (named == nullptr) {
      throw LoadError(data.source, "unknown pre-tokenizer \"" + data.pre_tokenizer + "\"");
    }
    regexes = *named;
  }
  try {
    return PreTokenizer(std::move(regexes));
  } catch (const std::invalid_argument& e) {
    throw LoadError(data.source, std::string("pre-tokenizer: ") + e.what());
  }
}

}  // namespace

std::string unmap_bytes(const std::string& token) {
  const ByteAlphabet& a = alphabet();
  std::string out;
  for (size_t i = 0; i < token.size();) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c >= 0xC0 && c < 0xE0 && i + 1 < token.size()) {  // two-byte characters: U+0080..U+07FF
      const uint32_t cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(token[i + 1]) & 0x3Fu);
      if (cp < a.byte_of.size() && a.byte_of[cp] >= 0) {
        out += static_cast<char>(a.byte_of[cp]);
        i += 2;
        continue;
      }
    } else if (c < 0x80 && a.byte_of[c] >= 0) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    out += token[i++];  // not in the alphabet: kept byte for byte
  }
  return out;
}

const std::string& byte_to_unicode(unsigned char b) {
  return alphabet().spelling[b];
}

std::optional<std::pair<std::string, std::string>> split_merge(std::string_view merge) {
  const size_t space = merge.find(' ', 1);
  if (merge.empty() || space == std::string_view::npos) return std::nullopt;
  return std::make_pair(std::string(merge.substr(0, space)), std::string(merge.substr(space + 1)));
}

BpeTokenizer::BpeTokenizer(BpeData data)
    : tokens_(std::move(data.tokens)),
      types_(std::move(data.types)),
      pre_(build_pre_tokenizer(data, pre_name_)),
      bos_(data.bos),
      eos_(data.eos),
      add_bos_(data.add_bos),
      ignore_merges_(data.ignore_merges),
      add_prefix_space_(data.add_prefix_space) {
  const std::string& src = data.source;
  const int n = static_cast<int>(tokens_.size());
  if (n == 0) throw LoadError(src, "the vocabulary has no tokens");
  if (types_.empty()) types_.assign(tokens_.size(), TokenType::Normal);
  if (types_.size() != tokens_.size()) {
    throw LoadError(src, "token types: " + std::to_string(types_.size()) + " types for " +
                             std::to_string(n) + " tokens");
  }
  auto check_id = [&](int id, const std::string& what) {
    if (id < -1 || id >= n) {
      throw LoadError(src, what + " id " + std::to_string(id) + " is not a token (vocabulary of " +
                               std::to_string(n) + ")");
    }
  };
  check_id(bos_, "bos");
  check_id(eos_, "eos");
  for (int id : data.eog_ids) check_id(id, "end-of-turn");
  for (int id : data.lstrip_ids) check_id(id, "lstrip");
  for (int id : data.rstrip_ids) check_id(id, "rstrip");

  ids_.reserve(tokens_.size());
  bytes_.resize(tokens_.size());
  for (int id = 0; id < n; ++id) {
    // A repeated spelling means its last id, as in llama.cpp; unassigned ids are spelt "".
    if (!tokens_[id].empty()) ids_[tokens_[id]] = id;
    const TokenType t = types_[id];
    const bool added = t == TokenType::Control || t == TokenType::UserDefined;
    bytes_[id] = added ? tokens_[id] : unmap_bytes(tokens_[id]);
    if (added) {
      const bool l = std::count(data.lstrip_ids.begin(), data.lstrip_ids.end(), id) > 0;
      const bool r = std::count(data.rstrip_ids.begin(), data.rstrip_ids.end(), id) > 0;
      all_added_.add(tokens_[id], id, l, r);
      if (t == TokenType::UserDefined) user_added_.add(tokens_[id], id, l, r);
    }
  }
  for (int b = 0; b < 256; ++b) {
    auto it = ids_.find(byte_to_unicode(static_cast<unsigned char>(b)));
    byte_ids_[b] = it == ids_.end() ? -1 : it->second;
  }

  merges_.reserve(data.merges.size());
  for (size_t rank = 0; rank < data.merges.size(); ++rank) {
    const auto& [a, b] = data.merges[rank];
    auto where = [&, &a = a, &b = b] {
      return "merge " + std::to_string(rank) + " (\"" + a + " " + b + "\")";
    };
    auto ia = ids_.find(a);
    if (ia == ids_.end()) throw LoadError(src, where() + ": \"" + a + "\" is not a token");
    auto ib = ids_.find(b);
    if (ib == ids_.end()) throw LoadError(src, where() + ": \"" + b + "\" is not a token");
    auto im = ids_.find(a + b);
    if (im == ids_.end()) throw LoadError(src, where() + ": \"" + a + b + "\" is not a token");
    // A pair listed twice keeps its first (best) rank, as in Hugging Face's BPE.
    merges_.emplace(pair_key(ia->second, ib->second),
                    std::make_pair(static_cast<int>(rank), im->second));
  }

  if (eos_ >= 0) eos_ids_.push_back(eos_);
  auto add_eog = [&](int id) {
    if (std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end()) eos_ids_.push_back(id);
  };
  for (int id : data.eog_ids) add_eog(id);
  for (int id = 0; id < n; ++id) {
    if (types_[id] == TokenType::Control && is_end_of_generation_text(tokens_[id])) add_eog(id);
  }
}

TokenType BpeTokenizer::type(int id) const {
  if (id < 0 || id >= vocab_size()) return TokenType::Undefined;
  return types_[id];
}

bool BpeTokenizer::is_special(int id) const {
  return type(id) == TokenType::Control;
}

std::vector<int> BpeTokenizer::encode_text(std::string_view text, bool parse_special) const {
  std::vector<int> out;
  const TokenMatcher& added = parse_special ? all_added_ : user_added_;
  if (added.empty()) {
    encode_plain(text, out);
    return out;
  }
  for (const auto& f : added.split(text)) {
    if (f.id >= 0) {
      out.push_back(f.id);
    } else {
      encode_plain(f.text, out);
    }
  }
  return out;
}

void BpeTokenizer::encode_plain(std::string_view text, std::vector<int>& out) const {
  if (text.empty()) return;
  std::string prefixed;
  if (add_prefix_space_ && text.front() != ' ') {
    prefixed.reserve(text.size() + 1);
    prefixed += ' ';
    prefixed.append(text);
    text = prefixed;
  }
  for (std::string_view piece : pre_.split(text)) encode_piece(piece, out);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int>& out) const {
  if (ignore_merges_) {
    std::string spelt;
    for (char c : piece) spelt += byte_to_unicode(static_cast<unsigned char>(c));
    auto it = ids_.find(spelt);
    if (it != ids_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // One symbol per byte (one character of the alphabet), linked so that merges can drop symbols.
  struct Symbol {
    int id;
    int prev;
    int next;
  };
  std::vector<Symbol> sym;
  sym.reserve(piece.size());
  for (char c : piece) {
    const int id = byte_ids_[static_cast<unsigned char>(c)];
    // A byte with no token of its own is left out, as Hugging Face's BPE does without an unknown
    // token; byte-level vocabularies have all 256.
    if (id < 0) continue;
    const int i = static_cast<int>(sym.size());
    sym.push_back({id, i - 1, -1});
    if (i > 0) sym[i - 1].next = i;
  }
  if (sym.empty()) return;

  struct Candidate {
    int rank;
    int left;
    int right;
    int merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    auto it = merges_.find(pair_key(sym[left].id, sym[right].id));
    if (it != merges_.end()) queue.push({it->second.first, left, right, it->second.second});
  };
  for (int i = 0; i + 1 < static_cast<int>(sym.size()); ++i) consider(i, i + 1);
  std::vector<bool> dead(sym.size(), false);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    // Stale when either side has merged since: the pair is no longer adjacent or no longer
    // makes this token.
    if (dead[c.left] || dead[c.right] || sym[c.left].next != c.right) continue;
    auto it = merges_.find(pair_key(sym[c.left].id, sym[c.right].id));
    if (it == merges_.end() || it->second.second != c.merged || it->second.first != c.rank) {
      continue;
    }
    sym[c.left].id = c.merged;
    sym[c.left].next = sym[c.right].next;
    if (sym[c.right].next >= 0) sym[sym[c.right].next].prev = c.left;
    dead[c.right] = true;
    consider(sym[c.left].prev, c.left);
    consider(c.left, sym[c.left].next);
  }
  for (int i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

std::string BpeTokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids) {
    if (id < 0 || id >= vocab_size()) {
      throw std::runtime_error("tokenizer: id " + std::to_string(id) + " is out of range");
    }
    out += bytes_[id];
  }
  return out;
}

std::string BpeTokenizer::piece(int id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return tokens_[id];
}

std::string BpeTokenizer::token_bytes(int id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return bytes_[id];
}

int BpeTokenizer::token_id(std::string_view piece) const {
  auto it = ids_.find(std::string(piece));
  return it == ids_.end() ? -1 : it->second;
}

}  // namespace precis::engine
