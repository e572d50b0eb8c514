#include "compress/protected_spans.hpp"

#include <cctype>

#include "compress/utf8_text.hpp"

namespace precis::compression {

std::string strip_keep_markers(std::string_view text, const std::string& open,
                               const std::string& close, std::vector<ByteRange>& kept) {
  if (open.empty() || close.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t o = text.find(open, i);
    if (o == std::string_view::npos) break;
    out.append(text.substr(i, o - i));
    const size_t start = o + open.size();
    size_t c = text.find(close, start);
    const size_t stop = c == std::string_view::npos ? text.size() : c;
    kept.push_back({out.size(), out.size() + (stop - start)});
    out.append(text.substr(start, stop - start));
    i = c == std::string_view::npos ? text.size() : c + close.size();
  }
  if (i < text.size()) out.append(text.substr(i));
  return out;
}

std::vector<ByteRange> find_code_fences(std::string_view text) {
  std::vector<ByteRange> out;
  size_t i = 0;
  while ((i = text.find("```", i)) != std::string_view::npos) {
    size_t close = text.find("```", i + 3);
    const size_t end = close == std::string_view::npos ? text.size() : close + 3;
    out.push_back({i, end});
    i = end;
  }
  return out;
}

namespace {

// End (one past the closing quote) of the string literal whose opening quote is at `q`.
size_t string_end(std::string_view s, size_t q) {
  size_t i = q + 1;
  while (i < s.size() && s[i] != '"') {
    if (s[i] == '\\') ++i;
    ++i;
  }
  return std::min(s.size(), i + 1);
}

void push_range(std::vector<ByteRange>& out, size_t b, size_t e) {
  if (e <= b) return;
  if (!out.empty() && out.back().end >= b) {
    out.back().end = std::max(out.back().end, e);
  } else {
    out.push_back({b, e});
  }
}

bool is_word_byte(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_';
}

}  // namespace

std::vector<ByteRange> find_json_structure(std::string_view s) {
  std::vector<ByteRange> out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '{' && s[i] != '[') {
      ++i;
      continue;
    }
    // One bracketed region: walk it, tracking depth outside strings.
    int depth = 0;
    size_t run = i;  // start of the current stretch outside strings
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        push_range(out, run, i);
        const size_t e = string_end(s, i);
        size_t after = e;
        while (after < s.size() && is_ascii_space(s[after])) ++after;
        if (after < s.size() && s[after] == ':') {
          push_range(out, i, e);  // a key: all of it
        } else {
          push_range(out, i, i + 1);  // a value: its quotes and escapes only
          for (size_t k = i + 1; k + 1 < e; ++k) {
            if (s[k] == '\\') {
              const size_t len = (k + 1 < e && s[k + 1] == 'u') ? 6 : 2;
              push_range(out, k, std::min(e - 1, k + len));
              k += len - 1;
            }
          }
          push_range(out, e - 1, e);
        }
        i = e;
        run = i;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') --depth;
      ++i;
      if (depth == 0) break;
    }
    push_range(out, run, i);
  }
  return out;
}

std::vector<ByteRange> find_force_token(std::string_view text, std::string_view needle) {
  std::vector<ByteRange> out;
  if (needle.empty()) return out;
  for (size_t i = text.find(needle); i != std::string_view::npos; i = text.find(needle, i + 1)) {
    const size_t e = i + needle.size();
    const bool starts = i == 0 || !is_word_byte(text[i - 1]) || !is_word_byte(text[i]);
    const bool ends = e == text.size() || !is_word_byte(text[e]) || !is_word_byte(text[e - 1]);
    if (starts && ends) out.push_back({i, e});
  }
  return out;
}

namespace {

bool only_structure_chars(std::string_view core) {
  for (char c : core)
    if (std::string_view("{}[],:\"\\").find(c) == std::string_view::npos && !is_ascii_space(c))
      return false;
  return !core.empty();
}

}  // namespace

std::vector<char> protected_units(const TokenizedText& t, const std::vector<Unit>& units,
                                  const std::vector<ByteRange>& explicit_ranges,
                                  const ProtectionRules& rules) {
  const std::string& s = t.text;
  // Coverage prefix sums: covered[b] - covered[a] > 0 iff some protected byte lies in [a, b).
  std::vector<int> diff(s.size() + 1, 0);
  auto cover = [&](const ByteRange& r) {
    const size_t b = std::min(r.begin, s.size()), e = std::min(r.end, s.size());
    if (e <= b) return;
    diff[b] += 1;
    diff[e] -= 1;
  };
  for (const ByteRange& r : explicit_ranges) cover(r);
  for (const std::string& f : rules.force_tokens)
    for (const ByteRange& r : find_force_token(s, f)) cover(r);
  if (rules.keep_structure) {
    for (const ByteRange& r : find_code_fences(s)) cover(r);
    for (const ByteRange& r : find_json_structure(s)) cover(r);
  }
  std::vector<int> covered(s.size() + 1, 0);
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    depth += diff[i];
    covered[i + 1] = covered[i] + (depth > 0 ? 1 : 0);
  }

  std::vector<char> out(units.size(), 0);
  for (size_t u = 0; u < units.size(); ++u) {
    const Unit& x = units[u];
    if (x.kind == UnitKind::SentenceEnd || x.kind == UnitKind::Newline) {
      out[u] = 1;
      continue;
    }
    if (covered[x.end] - covered[x.core] > 0) {
      out[u] = 1;
      continue;
    }
    const std::string_view core(s.data() + x.core, x.end - x.core);
    if (rules.keep_numbers) {
      for (size_t i = 0; i < core.size();) {
        size_t len;
        if (is_digit(decode_utf8(core, i, &len))) {
          out[u] = 1;
          break;
        }
        i += len;
      }
    }
    if (rules.keep_structure &&
        (only_structure_chars(core) || core.find('"') != std::string_view::npos ||
         core.find('\\') != std::string_view::npos))
      out[u] = 1;
  }
  return out;
}

}  // namespace precis::compression
