#include "planner/plan_text.hpp"

#include <algorithm>
#include <array>

namespace precis::planner {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(std::move(line));
    if (nl == text.size()) break;
    start = nl + 1;
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    out += lines[i];
  }
  return out;
}

std::string trim_copy(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

namespace {

// Whitespace runs to one space, trimmed.
std::string collapse(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Cuts at a word boundary to at most `max_chars` bytes (never inside a UTF-8 character).
std::string cut(const std::string& s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  const size_t room = max_chars > 3 ? max_chars - 3 : 0;
  size_t end = room;
  const size_t space = s.rfind(' ', room);
  if (space != std::string::npos && space > room / 2) end = space;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  std::string out = s.substr(0, end);
  while (!out.empty() && (out.back() == ' ' || out.back() == ',')) out.pop_back();
  return out + "...";
}

}  // namespace

std::string py_str(std::string_view text, size_t max_chars) {
  const std::string body = cut(collapse(text), max_chars);
  std::string out = "\"";
  for (char c : body) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string py_list(const std::vector<std::string>& items, size_t max_chars,
                    size_t max_item_chars) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string item = py_str(items[i], max_item_chars);
    if (i > 0 && out.size() + item.size() + 3 > max_chars) break;
    if (i > 0) out += ", ";
    out += item;
  }
  return out + "]";
}

std::string comment_text(std::string_view text, size_t max_chars) {
  return cut(collapse(text), max_chars);
}

bool is_python_keyword(std::string_view w) {
  static constexpr std::array<std::string_view, 35> kKeywords = {
      "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
      "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
      "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
      "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"};
  return std::find(kKeywords.begin(), kKeywords.end(), w) != kKeywords.end();
}

std::string py_name(std::string_view text, const std::string& fallback) {
  std::string out;
  for (char c : text) {
    if (is_ident_char(c)) {
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  // Leading digits and underscores make poor names ("3_apples" is not even valid).
  size_t skip = 0;
  while (skip < out.size() && !(out[skip] >= 'a' && out[skip] <= 'z')) ++skip;
  out = out.substr(skip);
  if (out.size() > 24) {
    out.resize(24);
    while (!out.empty() && out.back() == '_') out.pop_back();
  }
  if (out.empty()) return fallback;
  if (is_python_keyword(out)) out += "_";
  return out;
}

std::string unique_name(const std::string& name, std::set<std::string>& used) {
  std::string n = name;
  for (int k = 2; used.count(n); ++k) n = name + "_" + std::to_string(k);
  used.insert(n);
  return n;
}

std::string extract_plan_code(const std::string& raw) {
  std::vector<std::string> lines = split_lines(raw);
  std::vector<std::string> kept;
  bool started = false;
  for (std::string& line : lines) {
    const std::string t = trim_copy(line);
    if (t.rfind("```", 0) == 0) {
      // An opening fence (the model repeated the prompt's) is skipped; a closing one ends it.
      if (!started) continue;
      break;
    }
    // The model going on to write the next few-shot example.
    if (t.rfind("Request:", 0) == 0) break;
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!t.empty()) started = true;
    kept.push_back(line);
  }
  while (!kept.empty() && kept.back().empty()) kept.pop_back();
  size_t first = 0;
  while (first < kept.size() && kept[first].empty()) ++first;
  kept.erase(kept.begin(), kept.begin() + static_cast<long>(first));
  size_t common = std::string::npos;
  for (const auto& l : kept) {
    if (l.empty()) continue;
    common = std::min(common, l.find_first_not_of(' '));
  }
  if (common != std::string::npos && common > 0)
    for (auto& l : kept)
      if (!l.empty()) l = l.substr(std::min(common, l.size()));
  return join_lines(kept);
}

bool contains_word(const std::string& low, std::string_view w) {
  size_t at = 0;
  auto an = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  while ((at = low.find(w, at)) != std::string::npos) {
    const size_t e = at + w.size();
    if ((at == 0 || !an(low[at - 1])) && (e >= low.size() || !an(low[e]))) return true;
    ++at;
  }
  return false;
}

}  // namespace precis::planner
