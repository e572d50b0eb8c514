#include "compress/text_units.hpp"

#include <algorithm>
#include <cctype>

#include "compress/utf8_text.hpp"
#include "engine/tokenizer.hpp"

namespace precis::compression {

TokenizedText tokenize_aligned(const engine::Tokenizer& tokenizer, std::string text) {
  TokenizedText t;
  t.text = std::move(text);
  t.ids = tokenizer.encode(t.text, false);
  const std::string& s = t.text;
  const size_t n = s.size();
  t.offsets.reserve(t.ids.size() + 1);
  size_t i = 0;
  // After a character the tokenizer normalised differently (NFKC, dropped control bytes) the
  // rest of that whitespace-delimited chunk is skipped: SentencePiece never merges across
  // whitespace, so both sides agree again at the next space.
  bool desync = false;
  for (int id : t.ids) {
    t.offsets.push_back(i);
    for (char c : tokenizer.token_bytes(id)) {
      if (c == ' ') {
        desync = false;
        if (i < n && is_ascii_space(s[i])) ++i;  // else the dummy prefix or an inserted space
        continue;
      }
      if (desync) continue;
      while (i < n && s[i] != c && is_ascii_space(s[i])) ++i;  // whitespace the tokenizer collapsed
      if (i < n && s[i] == c) {
        ++i;
        continue;
      }
      // A byte the normaliser removed (e.g. a control character): look a little ahead. Only for
      // ASCII, which can never match inside a multi-byte character.
      bool found = false;
      if (static_cast<unsigned char>(c) < 0x80) {
        for (size_t k = i + 1; k < n && k <= i + 4 && !is_ascii_space(s[k]); ++k) {
          if (s[k] == c) {
            i = k + 1;
            found = true;
            break;
          }
        }
      }
      if (found) continue;
      desync = true;
      while (i < n && !is_ascii_space(s[i])) ++i;
    }
  }
  t.offsets.push_back(n);
  return t;
}

namespace {

struct Atom {
  int first_token, end_token;
  size_t begin, core, end;
};

bool has_newline(const std::string& s, size_t b, size_t e) {
  return std::find(s.begin() + b, s.begin() + e, '\n') != s.begin() + e;
}

UnitKind classify(const std::string& s, size_t core, size_t end) {
  bool all_punct = true, sentence_end = false, first = true, cjk = false;
  for (size_t i = core; i < end;) {
    size_t len;
    const char32_t c = decode_utf8(s, i, &len);
    i += len;
    if (c < 0x80 && is_ascii_space(static_cast<char>(c))) continue;
    if (first) cjk = is_cjk(c);
    first = false;
    if (is_punctuation(c)) {
      sentence_end = sentence_end || is_sentence_end(c);
    } else {
      all_punct = false;
    }
  }
  if (all_punct) return sentence_end ? UnitKind::SentenceEnd : UnitKind::Punct;
  return cjk ? UnitKind::Cjk : UnitKind::Word;
}

// Punctuation that joins the letters around it into one word when nothing separates them:
// "don't", "well-known", "snake_case", "3.14", "example.com".
bool is_joiner(const std::string& s, size_t core, size_t end) {
  if (end - core != 1) return end - core == 3 && s.compare(core, 3, "\xE2\x80\x99") == 0;  // ’
  const char c = s[core];
  return c == '\'' || c == '-' || c == '_' || c == '.';
}

}  // namespace

std::vector<Unit> group_units(const TokenizedText& t) {
  const std::string& s = t.text;
  const int ntok = static_cast<int>(t.ids.size());
  // Atoms: runs of tokens that end on a character boundary, so that byte-fallback pieces of one
  // character are never separated.
  std::vector<Atom> atoms;
  for (int k = 0; k < ntok;) {
    int e = k + 1;
    while (e < ntok && t.offsets[e] < s.size() && is_continuation_byte(s[t.offsets[e]])) ++e;
    Atom a{k, e, t.offsets[k], t.offsets[k], t.offsets[e]};
    while (a.core < a.end && is_ascii_space(s[a.core])) ++a.core;
    atoms.push_back(a);
    k = e;
  }

  std::vector<Unit> units;
  bool open_word = false;  // the last unit is a word that the next piece may continue
  bool pending = false;    // the last unit is bare whitespace waiting for what follows
  for (size_t ai = 0; ai < atoms.size(); ++ai) {
    const Atom& a = atoms[ai];
    if (a.begin == a.end) {  // a token the alignment gave no bytes: ride along with its neighbour
      if (units.empty()) {
        units.push_back({a.first_token, a.end_token, a.begin, a.begin, a.end, UnitKind::Space});
        pending = true;
      } else {
        units.back().end_token = a.end_token;
      }
      continue;
    }
    if (a.core == a.end) {  // whitespace only
      if (has_newline(s, a.begin, a.end)) {
        if (pending) {  // a space before the line break becomes part of it
          Unit& u = units.back();
          u.end_token = a.end_token;
          u.end = a.end;
          u.core = u.end;
          u.kind = UnitKind::Newline;
        } else {
          units.push_back({a.first_token, a.end_token, a.begin, a.end, a.end, UnitKind::Newline});
        }
        pending = open_word = false;
      } else if (pending) {
        units.back().end_token = a.end_token;
        units.back().end = units.back().core = a.end;
      } else {
        units.push_back({a.first_token, a.end_token, a.begin, a.end, a.end, UnitKind::Space});
        pending = true;
        open_word = false;
      }
      continue;
    }
    const UnitKind kind = classify(s, a.core, a.end);
    const bool leading_space = a.core > a.begin;
    if (pending) {  // the whitespace before becomes this unit's leading whitespace
      Unit& u = units.back();
      u.end_token = a.end_token;
      u.core = a.core;
      u.end = a.end;
      u.kind = kind;
      pending = false;
      open_word = kind == UnitKind::Word;
      continue;
    }
    bool join = false;
    if (!leading_space && open_word) {
      if (kind == UnitKind::Word) {
        join = true;
      } else if (is_joiner(s, a.core, a.end) && ai + 1 < atoms.size()) {
        const Atom& next = atoms[ai + 1];
        join = next.core == next.begin && next.core < next.end &&
               classify(s, next.core, next.end) == UnitKind::Word;
      }
    }
    if (join) {
      units.back().end_token = a.end_token;
      units.back().end = a.end;
      continue;
    }
    units.push_back({a.first_token, a.end_token, a.begin, a.core, a.end, kind});
    open_word = kind == UnitKind::Word;
  }
  return units;
}

namespace {

bool ends_in_word(const std::string& out) {
  if (out.empty()) return false;
  const unsigned char c = static_cast<unsigned char>(out.back());
  return c >= 0x80 || std::isalnum(c) || c == '_';
}

int count_newlines(std::string_view s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

std::string join_units(const std::string& text, const std::vector<Unit>& units,
                       const std::vector<char>& kept) {
  std::string out;
  out.reserve(text.size());
  // Whitespace of the units dropped since the last kept one: a line break there is kept (the
  // text's line structure survives), otherwise it only matters to keep two words apart.
  std::string_view pending;
  bool pending_space = false;
  bool any_kept = false;
  for (size_t u = 0; u < units.size(); ++u) {
    const Unit& x = units[u];
    const bool whitespace_unit = x.kind == UnitKind::Newline || x.kind == UnitKind::Space;
    std::string_view ws(text.data() + x.begin, (whitespace_unit ? x.end : x.core) - x.begin);
    std::string_view core(text.data() + x.core, x.end - x.core);
    if (!kept[u]) {
      if (count_newlines(ws) > count_newlines(pending)) pending = ws;
      pending_space = pending_space || !ws.empty();
      continue;
    }
    std::string_view lead = ws;
    if (whitespace_unit) {
      core = {};
      // Line breaks left over from dropped lines: at most one blank line in a row.
      if (pending_space && out.size() >= 2 && out.compare(out.size() - 2, 2, "\n\n") == 0) {
        pending = {};
        pending_space = false;
        continue;
      }
    }
    if (count_newlines(pending) > count_newlines(lead)) {
      lead = pending;
    } else if (lead.empty() && pending_space && x.kind == UnitKind::Word && ends_in_word(out)) {
      lead = " ";
    }
    pending = {};
    pending_space = false;
    if (!any_kept && u > 0) {
      lead = {};  // text before the first kept unit was dropped: no stray leading whitespace
    } else if (!out.empty() && is_ascii_space(out.back()) && count_newlines(lead) == 0) {
      lead = {};
    }
    any_kept = true;
    out += lead;
    out += core;
  }
  return out;
}

}  // namespace precis::compression
