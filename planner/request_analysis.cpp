#include "planner/request_analysis.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <set>
#include <string_view>

#include "planner/plan_text.hpp"

namespace precis::planner {

int number_word(std::string_view w) {
  static const std::map<std::string_view, int> kWords = {
      {"one", 1},      {"two", 2},        {"three", 3},     {"four", 4},        {"five", 5},
      {"six", 6},      {"seven", 7},      {"eight", 8},     {"nine", 9},        {"ten", 10},
      {"eleven", 11},  {"twelve", 12},    {"thirteen", 13}, {"fourteen", 14},   {"fifteen", 15},
      {"sixteen", 16}, {"seventeen", 17}, {"eighteen", 18}, {"nineteen", 19},   {"twenty", 20},
      {"thirty", 30},  {"forty", 40},     {"fifty", 50},    {"sixty", 60},      {"seventy", 70},
      {"eighty", 80},  {"ninety", 90},    {"hundred", 100}, {"thousand", 1000}, {"dozen", 12}};
  auto it = kWords.find(w);
  return it == kWords.end() ? 0 : it->second;
}

// Function words: never a unit, never a name on their own.
bool is_stopword(std::string_view w) {
  static constexpr std::string_view kWords[] = {
      "a",     "an",     "the",   "of",         "and",   "or",    "but",   "to",    "in",
      "on",    "at",     "for",   "from",       "by",    "with",  "as",    "is",    "are",
      "was",   "were",   "be",    "been",       "it",    "its",   "this",  "that",  "these",
      "those", "than",   "then",  "if",         "so",    "he",    "she",   "they",  "we",
      "you",   "i",      "his",   "her",        "their", "our",   "my",    "your",  "them",
      "him",   "us",     "me",    "each",       "every", "per",   "more",  "less",  "fewer",
      "what",  "which",  "who",   "how",        "when",  "where", "why",   "do",    "does",
      "did",   "has",    "have",  "had",        "will",  "would", "can",   "could", "should",
      "not",   "no",     "all",   "some",       "any",   "into",  "over",  "under", "about",
      "after", "before", "total", "altogether", "left",  "now",   "other", "times", "out",
      "up",    "down",   "there", "here",       "also",  "only"};
  return std::find(std::begin(kWords), std::end(kWords), w) != std::end(kWords);
}

namespace {

// ---- word lists ------------------------------------------------------------------------------

bool in_list(std::string_view w, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), w) != list.end();
}

// Capitalised words that start sentences without being names.
bool is_sentence_starter(std::string_view w) {
  return is_stopword(w) ||
         in_list(w, {"whom",       "whose",     "may",       "might",     "must",      "shall",
                     "then",       "else",      "because",   "since",     "while",     "although",
                     "though",     "once",      "between",   "please",    "first",     "second",
                     "third",      "next",      "finally",   "given",     "suppose",   "assume",
                     "let",        "consider",  "write",     "summarize", "summarise", "explain",
                     "describe",   "list",      "give",      "tell",      "find",      "extract",
                     "compute",    "calculate", "fix",       "refactor",  "add",       "create",
                     "make",       "implement", "translate", "answer",    "use",       "read",
                     "show",       "return",    "convert",   "rewrite",   "generate",  "suggest",
                     "compare",    "identify",  "name",      "provide",   "include",   "keep",
                     "remove",     "update",    "change",    "rename",    "build",     "check",
                     "count",      "determine", "solve",     "evaluate",  "analyze",   "analyse",
                     "note",       "step",      "yes",       "true",      "false",     "just",
                     "many",       "much",      "today",     "yesterday", "tomorrow",  "later",
                     "okay",       "ok",        "hi",        "hello",     "thanks",    "thank",
                     "were",       "is",        "are",       "was",       "did",       "does",
                     "instead",    "also",      "both",      "however",   "otherwise", "meanwhile",
                     "afterwards", "later",     "pull",      "get",       "put",       "take",
                     "start",      "stop",      "ensure",    "avoid",     "never",     "always",
                     "don't",      "do",        "it's",      "what's",    "who's",     "here's",
                     "there's",    "let's",     "i'm",       "we're",     "you're",    "afterward",
                     "contact",    "call",      "email",     "send",      "ask",       "visit",
                     "meet",       "see",       "dear",      "reply",     "respond",   "output",
                     "print",      "format",    "sort",      "group",     "classify",  "label",
                     "tag",        "select",    "choose",    "pick",      "draft",     "prepare",
                     "plan",       "design",    "review",    "proofread", "edit",      "improve"});
}

// Words between a number and its noun that are not the noun.
bool is_quantity_adjective(std::string_view w) {
  return in_list(w,
                 {"more",      "fewer",  "less",   "extra",     "additional", "other", "new",
                  "old",       "big",    "small",  "large",     "little",     "red",   "green",
                  "blue",      "yellow", "white",  "black",     "full",       "empty", "whole",
                  "identical", "equal",  "same",   "different", "separate",   "brand", "used",
                  "fresh",     "ripe",   "rotten", "broken",    "free",       "spare", "remaining",
                  "left",      "of",     "the"});
}

// Units a count of the answer itself is measured in ("at most 50 words").
std::string constraint_unit(std::string_view w) {
  if (in_list(w, {"word", "words"})) return "words";
  if (in_list(w, {"sentence", "sentences"})) return "sentences";
  if (in_list(w, {"paragraph", "paragraphs"})) return "paragraphs";
  if (in_list(w, {"line", "lines"})) return "lines";
  if (in_list(w, {"character", "characters", "char", "chars"})) return "chars";
  if (in_list(w, {"bullet",      "bullets",      "point",      "points",      "item",   "items",
                  "example",     "examples",     "reason",     "reasons",     "idea",   "ideas",
                  "tip",         "tips",         "suggestion", "suggestions", "option", "options",
                  "alternative", "alternatives", "takeaways",  "takeaway"}))
    return "items";
  return {};
}

const std::vector<std::string_view>& languages() {
  static const std::vector<std::string_view> kLanguages = {
      "english",  "french",   "spanish", "german",  "italian", "portuguese", "chinese",
      "mandarin", "japanese", "korean",  "russian", "arabic",  "hindi",      "dutch",
      "swedish",  "polish",   "turkish", "greek",   "hebrew",  "latin",      "ukrainian"};
  return kLanguages;
}

std::string capitalise(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

// ---- tokens ----------------------------------------------------------------------------------

enum class Kind { Word, Num, Punct };

struct Tok {
  std::string s;
  std::string low;
  size_t pos = 0, end = 0;
  Kind kind = Kind::Punct;
  bool sent_start = false;
  int sentence = 0;
};

bool alpha(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0;
}
bool digit(char c) {
  return c >= '0' && c <= '9';
}
bool alnum(char c) {
  return alpha(c) || digit(c);
}

// Multi-byte punctuation that must not glue onto words: curly quotes, dashes, ellipsis,
// guillemets, bullet, currency signs. Returns its length, or 0.
size_t special_punct(const std::string& s, size_t i) {
  const auto u = [&](size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0; };
  if (u(i) == 0xE2 && u(i + 1) == 0x80 &&
      (u(i + 2) == 0x9C || u(i + 2) == 0x9D || u(i + 2) == 0x98 || u(i + 2) == 0x99 ||
       u(i + 2) == 0x93 || u(i + 2) == 0x94 || u(i + 2) == 0xA6 || u(i + 2) == 0xA2))
    return 3;
  if (u(i) == 0xE2 && u(i + 1) == 0x82 && u(i + 2) == 0xAC) return 3;  // €
  if (u(i) == 0xC2 && (u(i + 1) == 0xAB || u(i + 1) == 0xBB || u(i + 1) == 0xA3)) return 2;
  return 0;
}

bool word_byte(char c) {
  return alnum(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}

// Length of a list marker at s[i] ("1. ", "2) ", "(3) ", "- ", "* ", "• ", "a) "), or 0.
size_t list_marker(const std::string& s, size_t i) {
  size_t j = i;
  if (j < s.size() && s[j] == '(') {
    size_t k = j + 1;
    while (k < s.size() && digit(s[k])) ++k;
    if (k > j + 1 && k < s.size() && s[k] == ')' && k + 1 < s.size() && s[k + 1] == ' ')
      return k + 2 - i;
    return 0;
  }
  if (j < s.size() && digit(s[j])) {
    while (j < s.size() && digit(s[j]) && j - i < 3) ++j;
    if (j < s.size() && (s[j] == '.' || s[j] == ')') && j + 1 < s.size() && s[j + 1] == ' ')
      return j + 2 - i;
    return 0;
  }
  if (j + 1 < s.size() && (s[j] == '-' || s[j] == '*') && s[j + 1] == ' ') return 2;
  if (s.compare(i, 3, "\xE2\x80\xA2") == 0 && i + 3 < s.size() && s[i + 3] == ' ') return 4;
  if (j + 2 < s.size() && s[j] >= 'a' && s[j] <= 'h' && s[j + 1] == ')' && s[j + 2] == ' ')
    return 3;
  return 0;
}

struct Sentence {
  size_t begin = 0, end = 0;
  std::string last;  // the last token ("?", ".", a word when it ended at a line break)
};

struct Scan {
  std::string prose;  // the request with code blocks and inline code blanked out
  std::vector<Tok> toks;
  std::vector<Sentence> sents;
  std::set<size_t> marker_pos;  // byte positions of inline "1)" markers
  std::vector<std::string> items;
  std::vector<std::string> code_blocks;
  std::vector<std::string> inline_code;
};

void blank_code(const std::string& request, Scan& sc) {
  sc.prose = request;
  // Fenced blocks.
  size_t at = 0;
  while ((at = sc.prose.find("```", at)) != std::string::npos) {
    size_t body = sc.prose.find('\n', at);
    if (body == std::string::npos) body = at + 3;
    size_t close = sc.prose.find("```", body);
    if (close == std::string::npos) close = sc.prose.size();
    sc.code_blocks.push_back(sc.prose.substr(body, close - body));
    const size_t stop = std::min(sc.prose.size(), close + 3);
    for (size_t k = at; k < stop; ++k)
      if (sc.prose[k] != '\n') sc.prose[k] = ' ';
    at = stop;
  }
  // Inline `code`.
  at = 0;
  while ((at = sc.prose.find('`', at)) != std::string::npos) {
    const size_t close = sc.prose.find('`', at + 1);
    if (close == std::string::npos || sc.prose.find('\n', at) < close) {
      sc.prose[at] = ' ';
      continue;
    }
    sc.inline_code.push_back(sc.prose.substr(at + 1, close - at - 1));
    // Keep the words readable for sentences but out of names: replace by a placeholder word.
    for (size_t k = at; k <= close; ++k) sc.prose[k] = ' ';
    at = close + 1;
  }
}

void tokenize(Scan& sc) {
  const std::string& s = sc.prose;
  bool sent_start = true;
  bool line_start = true;
  bool in_item = false;
  size_t item_begin = std::string::npos;
  auto end_item = [&](size_t at) {
    if (item_begin != std::string::npos) {
      const std::string t = trim_copy(s.substr(item_begin, at - item_begin));
      if (!t.empty()) sc.items.push_back(t);
    }
    item_begin = std::string::npos;
  };
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (line_start) {
      size_t k = i;
      while (k < s.size() && (s[k] == ' ' || s[k] == '\t')) ++k;
      const size_t m = list_marker(s, k);
      if (m > 0) {
        end_item(i);
        sent_start = true;
        in_item = true;
        item_begin = k + m;
        i = k + m;
        line_start = false;
        continue;
      }
      line_start = false;
    }
    if (c == '\n') {
      // A line break ends a sentence at a blank line, before a list item, after a colon or at
      // the end of a list item; elsewhere it is a soft wrap.
      size_t k = i + 1;
      while (k < s.size() && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r')) ++k;
      const bool blank = k >= s.size() || s[k] == '\n';
      const bool next_item = k < s.size() && list_marker(s, k) > 0;
      const bool colon = !sc.toks.empty() && sc.toks.back().s == ":";
      if (blank || next_item || colon || in_item) {
        sent_start = true;
        end_item(i);
        in_item = false;
      }
      line_start = true;
      ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    Tok t;
    t.pos = i;
    if (const size_t sp = special_punct(s, i); sp > 0) {
      t.s = s.substr(i, sp);
      i += sp;
    } else if (word_byte(c)) {
      size_t j = i;
      while (j < s.size()) {
        if (special_punct(s, j) > 0) {
          // A curly apostrophe inside a word (don’t) stays in it.
          if (s.compare(j, 3, "\xE2\x80\x99") == 0 && j > i && alpha(s[j - 1]) &&
              j + 3 < s.size() && alpha(s[j + 3])) {
            j += 3;
            continue;
          }
          break;
        }
        if (word_byte(s[j])) {
          ++j;
          continue;
        }
        if (j > i && j + 1 < s.size()) {
          const char p = s[j - 1], n = s[j + 1];
          if ((s[j] == '.' && alnum(p) && alnum(n)) || (s[j] == '\'' && alpha(p) && alpha(n)) ||
              (s[j] == '-' && alpha(p) && alpha(n))) {
            ++j;
            continue;
          }
          // Thousands separators: 1,000 (only inside a number).
          if (s[j] == ',' && digit(p) && j + 3 < s.size() + 0 && digit(s[j + 1]) &&
              j + 3 < s.size() && digit(s[j + 2]) && digit(s[j + 3]) &&
              (j + 4 >= s.size() || !digit(s[j + 4])) &&
              std::all_of(s.begin() + static_cast<long>(i), s.begin() + static_cast<long>(j),
                          [](char ch) { return digit(ch) || ch == ','; })) {
            ++j;
            continue;
          }
        }
        break;
      }
      t.s = s.substr(i, j - i);
      const bool numeric = digit(t.s[0]) && std::all_of(t.s.begin(), t.s.end(), [](char ch) {
                             return digit(ch) || ch == '.' || ch == ',';
                           });
      t.kind = numeric ? Kind::Num : Kind::Word;
      i = j;
    } else {
      t.s = std::string(1, c);
      ++i;
    }
    t.end = i;
    t.low = to_lower(t.s);
    t.sent_start = sent_start;
    sent_start = false;
    if (t.kind == Kind::Punct && (t.s == "." || t.s == "?" || t.s == "!" || t.s == "\xE2\x80\xA6"))
      sent_start = true;
    sc.toks.push_back(std::move(t));
  }
  end_item(s.size());

  // Sentences from the token stream.
  int n = -1;
  for (auto& t : sc.toks) {
    if (t.sent_start || n < 0) {
      sc.sents.push_back({t.pos, t.end, t.s});
      ++n;
    }
    t.sentence = n;
    sc.sents.back().end = t.end;
    sc.sents.back().last = t.s;
  }
}

// "Do three things: 1) explain X, 2) give Y, 3) list Z." (parts on one line).
void inline_items(Scan& sc) {
  if (!sc.items.empty()) return;
  const std::string& s = sc.prose;
  std::vector<std::pair<size_t, size_t>> marks;  // (marker start, text start)
  int want = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    const std::string num = std::to_string(want);
    const bool before_ok = i == 0 || s[i - 1] == ' ' || s[i - 1] == ':' || s[i - 1] == '(';
    if (!before_ok || s.compare(i, num.size(), num) != 0) continue;
    const size_t k = i + num.size();
    if (k + 1 < s.size() && s[k] == ')' && s[k + 1] == ' ') {
      const size_t start = i > 0 && s[i - 1] == '(' ? i - 1 : i;
      marks.emplace_back(start, k + 2);
      sc.marker_pos.insert(i);
      ++want;
    }
  }
  if (marks.size() < 2) {
    sc.marker_pos.clear();
    return;
  }
  for (size_t m = 0; m < marks.size(); ++m) {
    size_t end = m + 1 < marks.size() ? marks[m + 1].first : s.find('\n', marks[m].second);
    if (end == std::string::npos) end = s.size();
    std::string t = trim_copy(s.substr(marks[m].second, end - marks[m].second));
    while (!t.empty() && (t.back() == ',' || t.back() == ';' || t.back() == '.')) t.pop_back();
    if (t.size() > 4 && t.compare(t.size() - 4, 4, " and") == 0) t.resize(t.size() - 4);
    t = trim_copy(t);
    if (!t.empty()) sc.items.push_back(t);
  }
}

std::string collapse_ws(const std::string& s) {
  std::string out;
  bool sp = false;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      sp = !out.empty();
      continue;
    }
    if (sp) out += ' ';
    sp = false;
    out += c;
  }
  return out;
}

std::string sentence_text(const Scan& sc, const Sentence& st) {
  return collapse_ws(sc.prose.substr(st.begin, st.end - st.begin));
}

// ---- pieces ----------------------------------------------------------------------------------

bool has_word(const std::string& low, std::string_view w) {
  size_t at = 0;
  while ((at = low.find(w, at)) != std::string::npos) {
    // "json" in "config.json" or "data_json" is part of a name, not the word.
    const bool left = at == 0 || !(alnum(low[at - 1]) || low[at - 1] == '.' || low[at - 1] == '_' ||
                                   low[at - 1] == '/');
    const size_t e = at + w.size();
    const bool right = e >= low.size() || !(alnum(low[e]) || low[e] == '_');
    if (left && right) return true;
    ++at;
  }
  return false;
}

bool has_any(const std::string& low, std::initializer_list<std::string_view> words) {
  for (auto w : words)
    if (has_word(low, w)) return true;
  return false;
}

void find_questions(const Scan& sc, RequestAnalysis& a) {
  for (const auto& st : sc.sents) {
    const std::string text = sentence_text(sc, st);
    if (a.first_sentence.empty()) a.first_sentence = text;
    if (st.last != "?") {
      if (a.instruction.empty()) a.instruction = text;
      a.statements.push_back(text);
      continue;
    }
    // "... and also ...?" asks two things.
    std::string rest = text;
    const std::string low_all = to_lower(text);
    std::vector<std::string> parts;
    size_t from = 0;
    for (;;) {
      size_t best = std::string::npos, len = 0;
      for (std::string_view sep : {", and also ", " and also ", "; also ", "; and "}) {
        const size_t at = low_all.find(sep, from);
        if (at < best) {
          best = at;
          len = sep.size();
        }
      }
      if (best == std::string::npos) break;
      parts.push_back(text.substr(from, best - from));
      from = best + len;
    }
    parts.push_back(text.substr(from));
    for (std::string p : parts) {
      p = trim_copy(p);
      // "And also, who wrote it?" asks "Who wrote it?".
      for (bool again = true; again;) {
        again = false;
        for (std::string_view lead : {"and also", "also", "and", "plus", "then"}) {
          const std::string pl = to_lower(p);
          if (pl.rfind(lead, 0) == 0 && pl.size() > lead.size() &&
              (pl[lead.size()] == ' ' || pl[lead.size()] == ',')) {
            p = trim_copy(p.substr(lead.size() + 1));
            again = true;
            break;
          }
        }
      }
      while (!p.empty() && (p.back() == ',' || p.back() == ';')) p.pop_back();
      if (p.empty()) continue;
      if (p.back() != '?') p += '?';
      a.questions.push_back(capitalise(p));
    }
  }
}

bool is_file_name(std::string_view w) {
  const size_t dot = w.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= w.size()) return false;
  const std::string ext = to_lower(w.substr(dot + 1));
  if (!alpha(w[0]) && w[0] != '_') return false;
  return in_list(ext, {"py",    "cpp",  "hpp",  "h",     "c",    "cc",  "cxx",  "js",    "ts",
                       "tsx",   "jsx",  "java", "go",    "rs",   "rb",  "md",   "json",  "yaml",
                       "yml",   "toml", "txt",  "csv",   "html", "css", "sh",   "sql",   "xml",
                       "ini",   "cfg",  "kt",   "swift", "cs",   "php", "lock", "cmake", "proto",
                       "ipynb", "log",  "env",  "conf",  "scss", "vue", "dart", "lua",   "pl"});
}

bool is_code_identifier(std::string_view w) {
  if (w.empty() || !(alpha(w[0]) || w[0] == '_')) return false;
  for (char c : w)
    if (static_cast<unsigned char>(c) >= 0x80 || c == '\'' || c == '-') return false;
  if (is_file_name(w)) return true;
  const bool has_alpha = std::any_of(w.begin(), w.end(), alpha);
  if (w.find('_') != std::string_view::npos && has_alpha && w.find('.') == std::string_view::npos)
    return true;
  // camelCase / PascalCase: a lower-case letter followed later by an upper-case one.
  if (w.find('.') != std::string_view::npos) return false;
  bool lower = false;
  for (char c : w) {
    if (c >= 'a' && c <= 'z') lower = true;
    if (c >= 'A' && c <= 'Z' && lower) return true;
  }
  return false;
}

// A plan shows a handful of names and figures; keeping more only costs time on long documents.
constexpr size_t kMaxKept = 64;

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (s.empty() || v.size() >= kMaxKept) return;
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

void find_identifiers(const Scan& sc, RequestAnalysis& a) {
  for (const auto& c : sc.inline_code) {
    const std::string t = trim_copy(c);
    if (!t.empty() && t.size() <= 40) {
      std::string name = t;
      if (name.size() > 2 && name.compare(name.size() - 2, 2, "()") == 0)
        name.resize(name.size() - 2);
      add_unique(a.identifiers, name);
    }
  }
  for (size_t i = 0; i < sc.toks.size(); ++i) {
    const Tok& t = sc.toks[i];
    if (t.kind != Kind::Word) continue;
    const bool call = i + 2 < sc.toks.size() && sc.toks[i + 1].s == "(" &&
                      sc.toks[i + 1].pos == t.end && sc.toks[i + 2].s == ")";
    if (is_code_identifier(t.s) || (call && alpha(t.s[0]))) add_unique(a.identifiers, t.s);
  }
  // Definitions and calls inside code blocks.
  static const std::set<std::string> kNotNames = {
      "if",         "for",    "while",  "switch",    "return", "catch", "sizeof",    "print",
      "printf",     "elif",   "with",   "and",       "or",     "not",   "int",       "len",
      "sum",        "min",    "max",    "map",       "filter", "zip",   "enumerate", "sorted",
      "isinstance", "open",   "abs",    "round",     "any",    "all",   "set",       "tuple",
      "type",       "format", "append", "push_back", "size",   "get",   "join",      "split",
      "range",      "str",    "new",    "delete",    "assert", "main",  "super",     "self",
      "this",       "void",   "float",  "double",    "char",   "bool",  "list",      "dict"};
  for (const auto& block : sc.code_blocks) {
    int taken = 0;
    for (size_t i = 0; i < block.size() && taken < 6; ++i) {
      if (!(alpha(block[i]) || block[i] == '_') || (i > 0 && is_ident_char(block[i - 1]))) continue;
      size_t j = i;
      while (j < block.size() && is_ident_char(block[j])) ++j;
      const std::string w = block.substr(i, j - i);
      size_t k = j;
      while (k < block.size() && block[k] == ' ') ++k;
      const bool def = in_list(w, {"def", "class", "function", "fn", "func", "struct"});
      if (def) {
        size_t m = k;
        while (m < block.size() && is_ident_char(block[m])) ++m;
        if (m > k) {
          add_unique(a.identifiers, block.substr(k, m - k));
          ++taken;
        }
        i = m;
        continue;
      }
      if (k < block.size() && block[k] == '(' && !kNotNames.count(w) && w.size() > 1) {
        add_unique(a.identifiers, w);
        ++taken;
      }
      i = j;
    }
  }
}

void find_entities(const Scan& sc, const std::string& low, RequestAnalysis& a) {
  // Quoted text first: it is named exactly.
  const std::string& s = sc.prose;
  for (size_t i = 0; i < s.size(); ++i) {
    std::string close;
    size_t open_len = 1;
    if (s[i] == '"') {
      close = "\"";
    } else if (s.compare(i, 3, "\xE2\x80\x9C") == 0) {
      close = "\xE2\x80\x9D";
      open_len = 3;
    } else if (s[i] == '\'' && (i == 0 || !alnum(s[i - 1]))) {
      close = "'";
    } else {
      continue;
    }
    const size_t start = i + open_len;
    size_t end = s.find(close, start);
    while (close == "'" && end != std::string::npos && end + 1 < s.size() && alnum(s[end + 1]))
      end = s.find(close, end + 1);  // an apostrophe inside the quote
    if (end == std::string::npos || end == start || end - start > 80 ||
        s.substr(start, end - start).find('\n') != std::string::npos)
      continue;
    add_unique(a.entities, collapse_ws(s.substr(start, end - start)));
    i = end + close.size() - 1;
  }

  auto capitalised = [](const Tok& t) {
    return t.kind == Kind::Word && t.s[0] >= 'A' && t.s[0] <= 'Z';
  };
  auto base = [](std::string w) {
    for (std::string_view poss : {"'s", "\xE2\x80\x99s"})
      if (w.size() > poss.size() && w.compare(w.size() - poss.size(), poss.size(), poss) == 0)
        w.resize(w.size() - poss.size());
    return w;
  };
  auto joined = [&](const Tok& x, const Tok& y) {
    // Only plain spaces between (a line break or punctuation ends a name).
    for (size_t k = x.end; k < y.pos; ++k)
      if (s[k] != ' ') return false;
    return true;
  };
  for (size_t i = 0; i < sc.toks.size(); ++i) {
    const Tok& t = sc.toks[i];
    if (!capitalised(t) || is_code_identifier(t.s)) continue;
    const std::string b = to_lower(base(t.s));
    // "...: The Rust Foundation": a name does not start with a function word.
    if (is_stopword(b)) continue;
    if (b == "i" || in_list(b, {"json", "yaml", "csv", "xml", "ok", "tl", "dr"})) continue;
    if (t.sent_start) {
      if (is_sentence_starter(b)) continue;
      // "Apples cost $2." — a common noun that merely starts the sentence.
      if (has_word(low, b) && low.find(b) != t.pos && b.size() > 1) {
        bool lower_elsewhere = false;
        for (const auto& u : sc.toks)
          if (u.kind == Kind::Word && u.s == b) lower_elsewhere = true;
        if (lower_elsewhere) continue;
      }
    }
    // After "in"/"into", a language is a constraint, not a name.
    if (i > 0 && in_list(sc.toks[i - 1].low, {"in", "into", "to"}) &&
        std::find(languages().begin(), languages().end(), b) != languages().end())
      continue;
    std::string name = base(t.s);
    size_t j = i;
    while (j + 1 < sc.toks.size()) {
      const Tok& n = sc.toks[j + 1];
      if (!joined(sc.toks[j], n) || sc.toks[j].s != base(sc.toks[j].s)) break;
      if (capitalised(n) && !is_code_identifier(n.s)) {
        name += " " + base(n.s);
        ++j;
        continue;
      }
      // Connectors inside names: Bank of America, Leonardo da Vinci.
      if (j + 2 < sc.toks.size() &&
          in_list(n.low, {"of", "de", "da", "van", "von", "del", "du", "la", "le", "bin"}) &&
          capitalised(sc.toks[j + 2]) && joined(n, sc.toks[j + 2])) {
        name += " " + n.s + " " + base(sc.toks[j + 2].s);
        j += 2;
        continue;
      }
      break;
    }
    add_unique(a.entities, name);
    i = j;
  }
  // Entities that are also identifiers stay identifiers only.
  std::vector<std::string> kept;
  for (const auto& e : a.entities)
    if (std::find(a.identifiers.begin(), a.identifiers.end(), e) == a.identifiers.end())
      kept.push_back(e);
  a.entities = std::move(kept);
}

std::string plain_number(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ',') out += c;
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool is_word(const Scan& sc, size_t i) {
  return i < sc.toks.size() && sc.toks[i].kind == Kind::Word;
}

// The constraints that count the answer ("at most 50 words"); returns the token indices of
// their numbers so they are not also taken as the request's quantities.
std::set<size_t> find_count_constraints(const Scan& sc, RequestAnalysis& a) {
  std::set<size_t> used;
  const auto& T = sc.toks;
  const std::string prose_low = to_lower(sc.prose);
  for (size_t i = 0; i < T.size(); ++i) {
    std::string value;
    if (T[i].kind == Kind::Num)
      value = plain_number(T[i].s);
    else if (T[i].kind == Kind::Word && number_word(T[i].low) > 0)
      value = std::to_string(number_word(T[i].low));
    else
      continue;
    // "100-word summary", "3 bullet points", "50 words".
    size_t u = i + 1;
    if (u < T.size() && T[u].s == "-" && T[u].pos == T[i].end) ++u;
    while (u < T.size() && is_word(sc, u) &&
           in_list(T[u].low, {"short", "brief", "full", "complete", "key", "main", "concrete",
                              "clear", "separate", "distinct"}))
      ++u;
    if (u >= T.size() || T[u].kind != Kind::Word) continue;
    std::string unit = constraint_unit(T[u].low);
    if (T[u].low == "bullet" && u + 1 < T.size() && in_list(T[u + 1].low, {"point", "points"})) ++u;
    if (unit.empty()) continue;
    // "How many words did she write?": words the request counts are its quantities, not a
    // length for the answer.
    if (prose_low.find("how many " + T[u].low) != std::string::npos) continue;
    const bool hyphen = u > i + 1 && T[i + 1].s == "-";
    // The limiting phrase just before the number (longest first), or after the unit.
    struct Limit {
      std::string_view phrase, kind;
    };
    static constexpr Limit kLimits[] = {{"no more than", "max"},
                                        {"not more than", "max"},
                                        {"no longer than", "max"},
                                        {"no fewer than", "min"},
                                        {"no less than", "min"},
                                        {"at most", "max"},
                                        {"up to", "max"},
                                        {"fewer than", "max"},
                                        {"less than", "max"},
                                        {"limited to", "max"},
                                        {"limit to", "max"},
                                        {"maximum of", "max"},
                                        {"minimum of", "min"},
                                        {"at least", "min"},
                                        {"more than", "min"},
                                        {"maximum", "max"},
                                        {"max", "max"},
                                        {"minimum", "min"},
                                        {"under", "max"},
                                        {"within", "max"},
                                        {"below", "max"},
                                        {"in", "max"},
                                        {"exactly", "exact"}};
    std::string before;
    for (size_t k = i >= 3 ? i - 3 : 0; k < i; ++k) before += " " + T[k].low;
    std::string after;
    for (size_t k = u + 1; k < std::min(T.size(), u + 3); ++k) after += T[k].low + " ";
    std::string limit = hyphen ? "max" : "exact";
    size_t from = i;
    for (const Limit& l : kLimits) {
      const std::string want = " " + std::string(l.phrase);
      if (before.size() >= want.size() &&
          before.compare(before.size() - want.size(), want.size(), want) == 0) {
        limit = std::string(l.kind);
        from = i - static_cast<size_t>(std::count(l.phrase.begin(), l.phrase.end(), ' ') + 1);
        break;
      }
    }
    if (after.rfind("or less", 0) == 0 || after.rfind("or fewer", 0) == 0) limit = "max";
    if (after.rfind("or more", 0) == 0) limit = "min";
    Constraint c;
    c.kind = limit + "_" + unit;
    c.value = value;
    c.text = collapse_ws(sc.prose.substr(T[from].pos, T[u].end - T[from].pos));
    a.constraints.push_back(c);
    used.insert(i);
  }
  return used;
}

void find_other_constraints(const Scan& sc, const std::string& low, RequestAnalysis& a) {
  auto add = [&](const std::string& kind, const std::string& value, const std::string& text) {
    for (const auto& c : a.constraints)
      if (c.kind == kind && c.value == value) return;
    a.constraints.push_back({kind, value, text});
  };
  struct Fmt {
    std::string_view word, value;
  };
  for (Fmt f :
       {Fmt{"json", "json"}, Fmt{"yaml", "yaml"}, Fmt{"csv", "csv"}, Fmt{"xml", "xml"},
        Fmt{"table", "table"}, Fmt{"numbered list", "numbered_list"}, Fmt{"bullet", "bullets"},
        Fmt{"bullets", "bullets"}, Fmt{"bulleted", "bullets"}, Fmt{"markdown", "markdown"}})
    if (has_word(low, f.word)) add("format", std::string(f.value), std::string(f.word));
  for (std::string_view p :
       {"step by step", "step-by-step", "show your work", "show your reasoning", "show the steps",
        "explain your reasoning", "show all steps", "show your steps"})
    if (low.find(p) != std::string::npos) add("step_by_step", "true", std::string(p));
  for (auto lang : languages())
    for (std::string_view pre : {"in ", "into ", "to "}) {
      const std::string phrase = std::string(pre) + std::string(lang);
      if (has_word(low, phrase)) add("language", capitalise(std::string(lang)), phrase);
    }
  for (std::string_view w : {"briefly", "brief", "concise", "concisely", "succinct", "succinctly",
                             "short", "in a nutshell"})
    if (has_word(low, w)) {
      add("brief", "true", std::string(w));
      break;
    }
  for (std::string_view w : {"cite", "citation", "citations", "sources", "references"})
    if (has_word(low, w)) {
      add("cite", "true", std::string(w));
      break;
    }
  for (std::string_view w :
       {"for a child", "for kids", "for children", "for beginners", "for a beginner",
        "like i'm five", "eli5", "non-technical", "for experts", "for an expert", "formal",
        "informal", "casual", "friendly", "professional"})
    if (has_word(low, w)) {
      std::string v(w);
      if (v.rfind("for ", 0) == 0) v = v.substr(4);
      add("audience", v, std::string(w));
      break;
    }
  // "do not use recursion", "without external libraries", "avoid jargon".
  for (std::string_view p : {"do not ", "don't ", "dont ", "without ", "avoid ", "never "}) {
    size_t at = 0;
    while ((at = low.find(p, at)) != std::string::npos) {
      if (at > 0 && alnum(low[at - 1])) {
        at += p.size();
        continue;
      }
      size_t e = at + p.size();
      size_t words = 0;
      size_t k = e;
      while (k < low.size() && words < 5) {
        while (k < low.size() && low[k] == ' ') ++k;
        if (k >= low.size() || !(alnum(low[k]) || low[k] == '-' || low[k] == '\'')) break;
        while (k < low.size() &&
               (alnum(low[k]) || low[k] == '-' || low[k] == '\'' || low[k] == '_'))
          ++k;
        ++words;
        e = k;
      }
      const std::string what = collapse_ws(sc.prose.substr(at + p.size(), e - at - p.size()));
      // Skip questions ("why don't birds...") and empty phrases.
      if (!what.empty() && words > 0) {
        size_t qend = low.find_first_of(".?!\n", e);
        if (qend == std::string::npos || low[qend] != '?')
          add("avoid", what, collapse_ws(sc.prose.substr(at, e - at)));
      }
      at = e;
    }
  }
}

// Money names: "costs $4" -> price, "$3 per pound" -> price_per_pound.
std::string money_name(const Scan& sc, size_t sign, size_t num) {
  const auto& T = sc.toks;
  if (num + 2 < T.size() && in_list(T[num + 1].low, {"per", "a", "an"}) && is_word(sc, num + 2) &&
      !is_stopword(T[num + 2].low))
    return "price_per_" + py_name(T[num + 2].low);
  if (num + 1 < T.size() && T[num + 1].low == "each") return "price_each";
  if (sign > 0 && is_word(sc, sign - 1)) {
    const std::string& w = T[sign - 1].low;
    if (in_list(w, {"cost", "costs", "price", "priced", "sells", "sold"})) return "price";
    // "revenue of $90 billion" -> revenue
    if (in_list(w, {"of", "at", "for", "was", "is", "reached", "totalled", "totaled"}) &&
        sign > 1 && is_word(sc, sign - 2) && !is_stopword(T[sign - 2].low))
      return py_name(T[sign - 2].low);
    if (in_list(w, {"pays", "paid", "pay"})) return "paid";
    if (in_list(w, {"earns", "earned", "earn", "makes", "made", "salary", "wage"}))
      return "earnings";
    if (in_list(w, {"spends", "spent", "spend"})) return "spent";
    if (in_list(w, {"saves", "saved", "save"})) return "saved";
    if (in_list(w, {"fee", "tip", "rent", "budget", "deposit", "loan", "bill", "fare", "worth"}))
      return w;
  }
  return "dollars";
}

void find_quantities(const Scan& sc, const std::set<size_t>& constraint_nums, RequestAnalysis& a) {
  const auto& T = sc.toks;
  static const std::set<std::string> kReserved = {
      "result",   "answer",     "total",    "left",   "average",   "difference", "share",
      "product",  "combined",   "cost",     "part",   "after_pct", "names",      "known",
      "points",   "summary",    "found",    "target", "sections",  "response",   "draft",
      "facts",    "code",       "patch",    "goal",   "targets",   "asked",      "text",
      "question", "item",       "sentence", "keep",   "show_work", "parts",      "mentioned",
      "figures",  "also_given", "failure",  "cause",  "baseline",  "caller",     "name",
      "q",        "base",       "given",    "step",   "hop",       "value",      "values"};
  std::set<std::string> used;
  std::string prev_unit;
  auto push = [&](Quantity q, size_t at_tok) {
    if (a.quantities.size() >= kMaxKept) return;
    for (const auto& e : a.quantities)
      if (e.text == q.text) return;
    std::string base = q.name.empty() ? "n" : q.name;
    if (kReserved.count(base)) base += "_given";
    // Two quantities of one unit: name them after their owner when one is named just before
    // ("Tom has 3 apples, Anna has 5 apples" -> tom_apples, anna_apples).
    if (used.count(base)) {
      for (size_t k = at_tok; k-- > 0 && T[k].sentence == T[at_tok].sentence;) {
        const std::string w = T[k].s;
        if (T[k].kind == Kind::Word &&
            std::find(a.entities.begin(), a.entities.end(), w) != a.entities.end()) {
          const std::string owned = py_name(w) + "_" + base;
          if (!used.count(owned)) base = owned;
          break;
        }
      }
    }
    q.name = unique_name(base, used);
    a.quantities.push_back(std::move(q));
  };
  for (size_t i = 0; i < T.size(); ++i) {
    const Tok& t = T[i];
    if (constraint_nums.count(i) || sc.marker_pos.count(t.pos)) continue;
    const bool currency = t.s == "$" || t.s == "\xE2\x82\xAC" || t.s == "\xC2\xA3";
    if (currency && i + 1 < T.size() && T[i + 1].kind == Kind::Num && T[i + 1].pos <= t.end + 1) {
      Quantity q;
      q.money = true;
      q.value = plain_number(T[i + 1].s);
      q.unit = t.s == "$" ? "dollars" : t.s == "\xC2\xA3" ? "pounds" : "euros";
      q.name = money_name(sc, i, i + 1);
      size_t end = T[i + 1].end;
      // "$2 million"
      if (i + 2 < T.size() && in_list(T[i + 2].low, {"million", "billion", "thousand"})) {
        q.value += T[i + 2].low == "thousand" ? "e3" : T[i + 2].low == "million" ? "e6" : "e9";
        end = T[i + 2].end;
      }
      q.text = sc.prose.substr(t.pos, end - t.pos);
      push(q, i);
      ++i;
      continue;
    }
    int word_value = 0;
    if (t.kind == Kind::Word) {
      word_value = number_word(t.low);
      // A number word counts only before a noun ("three apples", not "which one of").
      if (word_value == 0 || !is_word(sc, i + 1) || is_stopword(T[i + 1].low) ||
          number_word(T[i + 1].low) > 0)
        continue;
      if (i > 0 && in_list(T[i - 1].low, {"which", "the", "this", "that", "no", "any"})) continue;
    } else if (t.kind != Kind::Num) {
      continue;
    }
    if (t.kind == Kind::Num && t.s.find_first_of("0123456789") == std::string::npos) continue;
    Quantity q;
    q.value = word_value > 0 ? std::to_string(word_value) : plain_number(t.s);
    size_t end = t.end;
    size_t next = i + 1;
    // Negative numbers, fractions (1/2) and times (3:45).
    size_t start = t.pos;
    if (t.kind == Kind::Num && i > 0 && T[i - 1].s == "-" && T[i - 1].end == t.pos &&
        (i == 1 || T[i - 2].kind == Kind::Punct)) {
      q.value = "-" + q.value;
      start = T[i - 1].pos;
    }
    // Phone numbers, dates and ranges written with '-' (555-0100, 2024-01-15): one figure,
    // kept as text.
    if (t.kind == Kind::Num && next + 1 < T.size() && T[next].s == "-" &&
        T[next + 1].kind == Kind::Num && T[next].pos == end && T[next + 1].pos == T[next].end) {
      size_t k = next;
      while (k + 1 < T.size() && T[k].s == "-" && T[k + 1].kind == Kind::Num &&
             T[k].pos == T[k - 1].end && T[k + 1].pos == T[k].end)
        k += 2;
      q.text = sc.prose.substr(start, T[k - 1].end - start);
      q.value = py_str(q.text, 40);
      q.name = k - next == 4 && t.s.size() == 4 ? "date" : "ref";
      push(q, i);
      i = k - 1;
      continue;
    }
    if (t.kind == Kind::Num && next + 1 < T.size() && T[next].s == "/" &&
        T[next + 1].kind == Kind::Num && T[next].pos == end && T[next + 1].pos == T[next].end) {
      q.value += "/" + plain_number(T[next + 1].s);
      end = T[next + 1].end;
      next += 2;
    } else if (t.kind == Kind::Num && next + 1 < T.size() && T[next].s == ":" &&
               T[next + 1].kind == Kind::Num && T[next].pos == end &&
               T[next + 1].pos == T[next].end) {
      q.value = "\"" + t.s + ":" + T[next + 1].s + "\"";
      q.name = "time";
      end = T[next + 1].end;
      next += 2;
    }
    if (next < T.size() && (T[next].s == "%" || T[next].low == "percent")) {
      q.percent = true;
      q.unit = "percent";
      end = T[next].end;
      if (next + 1 < T.size() && is_word(sc, next + 1) && !is_stopword(T[next + 1].low) &&
          T[next + 1].kind == Kind::Word)
        q.name = py_name(T[next + 1].low) + "_pct";
      else if (i > 0 && in_list(T[i - 1].low, {"off", "discount", "tax", "tip", "interest", "raise",
                                               "increase", "decrease", "commission"}))
        q.name = T[i - 1].low + "_pct";
      else
        q.name = "percent";
      q.text = sc.prose.substr(start, end - start);
      push(q, i);
      i = next;
      continue;
    }
    if (q.name.empty()) {
      // The noun after the number, skipping adjectives ("5 more red apples"); "2-day" counts
      // days.
      if (next + 1 < T.size() && T[next].s == "-" && T[next].pos == end &&
          T[next + 1].kind == Kind::Word && T[next + 1].pos == T[next].end)
        ++next;
      size_t u = next;
      bool more = false;
      while (u < T.size() && is_word(sc, u) && is_quantity_adjective(T[u].low)) {
        more = more || in_list(T[u].low, {"more", "fewer", "less", "extra", "additional"});
        ++u;
      }
      if (u < T.size() && is_word(sc, u) && !is_stopword(T[u].low) && number_word(T[u].low) == 0 &&
          T[u].sentence == t.sentence) {
        q.unit = T[u].low;
        end = T[u].end;
        // Rates: "60 km/h".
        if (u + 2 < T.size() && T[u + 1].s == "/" && T[u + 1].pos == end &&
            T[u + 2].kind == Kind::Word && T[u + 2].pos == T[u + 1].end) {
          q.unit += "/" + T[u + 2].low;
          end = T[u + 2].end;
        }
        if (in_list(q.unit, {"dollars", "dollar", "cents", "euros", "usd"})) q.money = true;
        q.name = py_name(q.unit);
        if (const size_t slash = q.unit.find('/'); slash != std::string::npos)
          q.name = py_name(q.unit.substr(0, slash)) + "_per_" + py_name(q.unit.substr(slash + 1));
        if (more) q.name = "more_" + q.name;
      } else if (more && !prev_unit.empty()) {
        // "buys 5 more": more of the last thing counted.
        q.unit = prev_unit;
        end = T[u - 1].end;
        q.name = "more_" + py_name(prev_unit);
      } else if (t.kind == Kind::Num && t.s.size() == 4 && q.value >= "1000" && q.value <= "2100" &&
                 q.value.find('.') == std::string::npos) {
        q.unit = "year";
        q.name = "year";
      }
    }
    if (!q.unit.empty() && q.unit != "year") prev_unit = q.unit;
    q.text = collapse_ws(sc.prose.substr(start, end - start));
    push(q, i);
    // Skip what this quantity consumed (its unit, the "4" of "3/4").
    while (i + 1 < T.size() && T[i + 1].end <= end) ++i;
  }
}

TaskKind classify(const std::string& low, const RequestAnalysis& a) {
  const bool change_verb = has_any(low, {"fix", "bug", "refactor", "rename", "implement",
                                         "optimize", "optimise", "debug", "port", "migrate"}) ||
                           has_any(low, {"add a", "add an", "remove the", "change the",
                                         "rewrite the", "update the", "make the"});
  int code_words = 0;
  for (std::string_view w :
       {"function",     "method",    "class",       "bug",        "refactor",   "compile",
        "compiler",     "exception", "stack trace", "segfault",   "crash",      "crashes",
        "null pointer", "variable",  "unit test",   "unit tests", "endpoint",   "script",
        "repository",   "repo",      "regex",       "python",     "javascript", "typescript",
        "c++",          "rust",      "java",        "golang",     "module",     "api",
        "codebase",     "code",      "build",       "linter",     "type error", "syntax error",
        "null",         "loop"})
    if (has_word(low, w)) ++code_words;
  const bool code_signal = a.has_code_block || a.identifiers.size() >= 2 ||
                           (!a.identifiers.empty() && code_words >= 1) || code_words >= 2;
  // New code asked for ("write a function that ...", "implement a class to ..."), with no code
  // or file given and nothing to fix: there is nothing to change yet.
  const bool names_a_file = std::any_of(a.identifiers.begin(), a.identifiers.end(),
                                        [](const std::string& w) { return is_file_name(w); });
  if (!a.has_code_block && !names_a_file &&
      !has_any(low, {"fix", "bug", "refactor", "rename", "debug", "existing", "migrate", "port"})) {
    static constexpr std::string_view kMake[] = {"write",  "implement", "create",  "code", "build",
                                                 "define", "make",      "give me", "need"};
    static constexpr std::string_view kThing[] = {"function",  "method",    "class",   "script",
                                                  "program",   "procedure", "routine", "regex",
                                                  "algorithm", "query",     "snippet", "module"};
    for (std::string_view m : kMake)
      for (size_t at = low.find(m); at != std::string::npos; at = low.find(m, at + 1)) {
        const size_t end = at + m.size();
        if ((at > 0 && alnum(low[at - 1])) || (end < low.size() && alnum(low[end]))) continue;
        // An indefinite article, so a new thing, within a few words: "write a python
        // function", "write me a class" (not "make the function faster").
        const std::string next = low.substr(end, 32);
        if (next.rfind(" a ", 0) != 0 && next.rfind(" an ", 0) != 0 &&
            next.rfind(" me a ", 0) != 0 && next.rfind(" me an ", 0) != 0)
          continue;
        for (std::string_view t : kThing)
          if (has_word(next, t)) return TaskKind::code;
      }
  }
  if (code_signal && change_verb) return TaskKind::code_change;
  if (has_any(low, {"summarize", "summarise", "summarizing", "summary", "tl;dr", "tldr", "sum up",
                    "key points", "main points", "in a nutshell", "gist"}))
    return TaskKind::summary;
  if (has_any(low, {"extract", "list all", "find all", "list every", "identify all", "pull out",
                    "get all", "list the names", "list each", "collect all", "find every",
                    "enumerate all"}))
    return TaskKind::extraction;
  if (code_signal) return TaskKind::code_change;
  int numbers = 0;
  for (const auto& q : a.quantities)
    if (q.unit != "year") ++numbers;
  const bool how = has_any(low, {"how many", "how much", "how long", "how far", "how old",
                                 "how fast", "what percentage", "what fraction"});
  const bool cue =
      how ||
      has_any(low, {"total",     "each",      "per",        "altogether", "left",      "remain",
                    "remaining", "cost",      "costs",      "sum",        "average",   "difference",
                    "times",     "percent",   "profit",     "spend",      "spent",     "earn",
                    "earns",     "split",     "share",      "twice",      "half",      "rate",
                    "speed",     "more than", "fewer than", "change",     "remainder", "calculate",
                    "compute"}) ||
      std::any_of(a.quantities.begin(), a.quantities.end(),
                  [](const Quantity& q) { return q.percent || q.money; });
  // A list of parts is a multi-part instruction even when the parts carry numbers.
  if (a.items.size() >= 2) return TaskKind::multi_part;
  if ((numbers >= 2 && cue) || (numbers >= 1 && how)) return TaskKind::arithmetic;
  int wh = 0;
  bool relation = false;
  for (const auto& q : a.questions) {
    const std::string ql = to_lower(q);
    if (has_any(ql, {"who", "what", "which", "where", "when", "why", "how", "whose"})) ++wh;
    // "the director of the film that ...", "the capital of the country where ..."
    size_t of = 0, ofs = 0;
    while ((of = ql.find(" of ", of)) != std::string::npos) {
      ++ofs;
      of += 4;
    }
    const size_t first_space = ql.find(' ');
    bool relative = false;
    for (std::string_view m :
         {" that ", " who ", " which ", " where ", " whose ", " in which ", " whom "})
      if (const size_t at = ql.find(m); at != std::string::npos && at > first_space)
        relative = true;
    const bool compare =
        a.entities.size() >= 2 &&
        has_any(ql, {"same", "both", "older", "younger", "earlier", "later", "first", "taller",
                     "larger", "longer", "bigger", "smaller", "more", "which of", "or"});
    if (ofs >= 2 || relative || compare) relation = true;
  }
  if (wh >= 2 || relation) return TaskKind::multi_hop;
  return TaskKind::general;
}

}  // namespace

RequestAnalysis analyse_request(const std::string& request) {
  RequestAnalysis a;
  Scan sc;
  blank_code(request, sc);
  a.has_code_block = !sc.code_blocks.empty();
  tokenize(sc);
  inline_items(sc);
  a.items = sc.items;
  const std::string low = to_lower(sc.prose);
  find_questions(sc, a);
  find_identifiers(sc, a);
  find_entities(sc, low, a);
  const std::set<size_t> constraint_nums = find_count_constraints(sc, a);
  find_other_constraints(sc, low, a);
  find_quantities(sc, constraint_nums, a);
  a.sentences = static_cast<int>(sc.sents.size());
  // Paragraphs: runs of non-blank lines.
  bool in_par = false;
  for (const auto& line : split_lines(sc.prose)) {
    const bool blank = trim_copy(line).empty();
    if (!blank && !in_par) ++a.paragraphs;
    in_par = !blank;
  }
  a.kind = classify(low, a);
  return a;
}

}  // namespace precis::planner
