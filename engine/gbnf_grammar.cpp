#include "engine/gbnf_grammar.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

namespace precis::engine {

namespace {

using Element = GbnfGrammar::Element;
using Sequence = std::vector<Element>;

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// Builds the grammar while reading the text; rules are referenced by index from first mention.
class Parser {
 public:
  explicit Parser(std::string_view text) : t_(text) {}

  GbnfGrammar run() {
    skip_space();
    while (pos_ < t_.size()) {
      const std::string name = read_name();
      skip_space();
      if (t_.substr(pos_, 3) != "::=") fail("expected '::=' after rule name '" + name + "'");
      pos_ += 3;
      const int32_t rule = rule_index(name);
      if (defined_[rule]) fail("rule '" + name + "' is defined twice");
      defined_[rule] = true;
      rules_[rule] = parse_alternatives(false);
      skip_space();
    }
    auto root = names_.find("root");
    if (root == names_.end()) throw GrammarError("grammar: no 'root' rule");
    for (size_t r = 0; r < defined_.size(); ++r)
      if (!defined_[r] && !g_.rule_names[r].empty())
        throw GrammarError("grammar: rule '" + g_.rule_names[r] + "' is used but never defined");
    g_.root = root->second;
    flatten();
    check_left_recursion();
    g_.key = "gbnf:" + std::string(t_);
    return std::move(g_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    const long line = 1 + std::count(t_.begin(), t_.begin() + static_cast<long>(pos_), '\n');
    throw GrammarError("grammar line " + std::to_string(line) + ": " + what);
  }

  // Whitespace, newlines and # comments.
  void skip_space() {
    while (pos_ < t_.size()) {
      if (std::isspace(static_cast<unsigned char>(t_[pos_]))) {
        ++pos_;
      } else if (t_[pos_] == '#') {
        while (pos_ < t_.size() && t_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string read_name() {
    const size_t start = pos_;
    while (pos_ < t_.size() && is_name_char(t_[pos_])) ++pos_;
    if (start == pos_) fail(std::string("expected a rule name, found '") + t_[pos_] + "'");
    return std::string(t_.substr(start, pos_ - start));
  }

  // At `name ::=`: the next definition starts, so the current rule ends here.
  bool at_definition() const {
    size_t p = pos_;
    while (p < t_.size() && is_name_char(t_[p])) ++p;
    if (p == pos_) return false;
    while (p < t_.size() && (t_[p] == ' ' || t_[p] == '\t')) ++p;
    return t_.substr(p, 3) == "::=";
  }

  int32_t rule_index(const std::string& name) {
    auto [it, fresh] = names_.emplace(name, static_cast<int32_t>(rules_.size()));
    if (fresh) new_rule(name);
    return it->second;
  }

  int32_t new_rule(const std::string& name) {
    rules_.emplace_back();
    defined_.push_back(name.empty());  // anonymous rules are defined where they are made
    g_.rule_names.push_back(name);
    return static_cast<int32_t>(rules_.size()) - 1;
  }

  int32_t anonymous(std::vector<Sequence> alts) {
    const int32_t r = new_rule("");
    rules_[r] = std::move(alts);
    return r;
  }

  Element chars(std::vector<std::pair<uint32_t, uint32_t>> ranges, bool negated) {
    g_.classes.push_back(std::move(ranges));
    return {GbnfGrammar::kChars, negated, static_cast<int32_t>(g_.classes.size()) - 1};
  }

  std::vector<Sequence> parse_alternatives(bool nested) {
    std::vector<Sequence> alts;
    alts.push_back(parse_sequence(nested));
    while (pos_ < t_.size() && t_[pos_] == '|') {
      ++pos_;
      alts.push_back(parse_sequence(nested));
    }
    return alts;
  }

  Sequence parse_sequence(bool nested) {
    Sequence seq;
    while (true) {
      skip_space();
      if (pos_ >= t_.size()) break;
      const char c = t_[pos_];
      if (c == '|' || c == ')') break;
      if (!nested && at_definition()) break;
      Sequence item = parse_item();
      skip_space();
      item = parse_repetition(std::move(item));
      seq.insert(seq.end(), item.begin(), item.end());
    }
    if (nested && (pos_ >= t_.size())) fail("missing ')'");
    return seq;
  }

  Sequence parse_item() {
    const char c = t_[pos_];
    if (c == '"') return parse_literal();
    if (c == '[') return {parse_class()};
    if (c == '.') {
      ++pos_;
      return {chars({{0, 0x10FFFF}}, false)};
    }
    if (c == '(') {
      ++pos_;
      std::vector<Sequence> alts = parse_alternatives(true);
      skip_space();
      if (pos_ >= t_.size() || t_[pos_] != ')') fail("missing ')'");
      ++pos_;
      if (alts.size() == 1) return alts[0];
      return {{GbnfGrammar::kRule, false, anonymous(std::move(alts))}};
    }
    if (is_name_char(c)) return {{GbnfGrammar::kRule, false, rule_index(read_name())}};
    fail(std::string("unexpected '") + c + "'");
  }

  // One code point of the source (UTF-8), or an escape.
  uint32_t read_char() {
    if (pos_ >= t_.size()) fail("unexpected end of text");
    unsigned char c = static_cast<unsigned char>(t_[pos_++]);
    if (c == '\\') {
      if (pos_ >= t_.size()) fail("unfinished escape");
      const char e = t_[pos_++];
      switch (e) {
        case 'n':
          return '\n';
        case 'r':
          return '\r';
        case 't':
          return '\t';
        case '\\':
        case '"':
        case ']':
        case '[':
        case '-':
        case '^':
          return static_cast<uint8_t>(e);
        case 'x':
          return read_hex(2);
        case 'u':
          return read_hex(4);
        case 'U':
          return read_hex(8);
        default:
          fail(std::string("unknown escape '\\") + e + "'");
      }
    }
    if (c < 0x80) return c;
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
    uint32_t cp = c & (0x3F >> more);
    while (more-- > 0) {
      if (pos_ >= t_.size()) fail("truncated UTF-8 in the grammar");
      cp = (cp << 6) | (static_cast<unsigned char>(t_[pos_++]) & 0x3F);
    }
    return cp;
  }

  uint32_t read_hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      if (pos_ >= t_.size() || !std::isxdigit(static_cast<unsigned char>(t_[pos_])))
        fail("expected " + std::to_string(digits) + " hex digits in an escape");
      const char h = static_cast<char>(std::tolower(static_cast<unsigned char>(t_[pos_++])));
      v = v * 16 + static_cast<uint32_t>(h <= '9' ? h - '0' : h - 'a' + 10);
    }
    return v;
  }

  Sequence parse_literal() {
    ++pos_;  // "
    Sequence seq;
    while (true) {
      if (pos_ >= t_.size()) fail("missing closing '\"'");
      if (t_[pos_] == '"') break;
      const uint32_t cp = read_char();
      seq.push_back(chars({{cp, cp}}, false));
    }
    ++pos_;
    return seq;
  }

  Element parse_class() {
    ++pos_;  // [
    bool negated = false;
    if (pos_ < t_.size() && t_[pos_] == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    while (true) {
      if (pos_ >= t_.size()) fail("missing ']'");
      if (t_[pos_] == ']') break;
      const uint32_t lo = read_char();
      uint32_t hi = lo;
      if (pos_ + 1 < t_.size() && t_[pos_] == '-' && t_[pos_ + 1] != ']') {
        ++pos_;
        hi = read_char();
        if (hi < lo) fail("character range runs backwards");
      }
      ranges.emplace_back(lo, hi);
    }
    ++pos_;
    return chars(std::move(ranges), negated);
  }

  // `item` followed by * + ? or {m,n}: rewritten into rules the recognizer walks top-down.
  Sequence parse_repetition(Sequence item) {
    if (pos_ >= t_.size()) return item;
    const char c = t_[pos_];
    int min = 0, max = -1;  // -1: unbounded
    if (c == '*') {
      ++pos_;
    } else if (c == '+') {
      ++pos_;
      min = 1;
    } else if (c == '?') {
      ++pos_;
      max = 1;
    } else if (c == '{') {
      ++pos_;
      min = read_count();
      max = min;
      if (pos_ < t_.size() && t_[pos_] == ',') {
        ++pos_;
        skip_space();
        max = (pos_ < t_.size() && t_[pos_] == '}') ? -1 : read_count();
      }
      skip_space();
      if (pos_ >= t_.size() || t_[pos_] != '}') fail("missing '}'");
      ++pos_;
      if (max >= 0 && max < min) fail("repetition {m,n} with n < m");
    } else {
      return item;
    }
    Sequence out;
    for (int i = 0; i < min; ++i) out.insert(out.end(), item.begin(), item.end());
    if (max < 0) {
      // R ::= item R | (empty)
      const int32_t r = new_rule("");
      Sequence loop = item;
      loop.push_back({GbnfGrammar::kRule, false, r});
      rules_[r] = {loop, {}};
      out.push_back({GbnfGrammar::kRule, false, r});
    } else if (max > min) {
      // R_k ::= item R_(k-1) | (empty), R_1 ::= item | (empty)
      int32_t inner = -1;
      for (int k = 0; k < max - min; ++k) {
        Sequence alt = item;
        if (inner >= 0) alt.push_back({GbnfGrammar::kRule, false, inner});
        inner = anonymous({alt, {}});
      }
      out.push_back({GbnfGrammar::kRule, false, inner});
    }
    return out;
  }

  int read_count() {
    skip_space();
    const size_t start = pos_;
    while (pos_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[pos_]))) ++pos_;
    if (start == pos_ || pos_ - start > 4) fail("expected a repetition count up to 9999");
    const int n = std::stoi(std::string(t_.substr(start, pos_ - start)));
    skip_space();
    return n;
  }

  void flatten() {
    g_.alternatives.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      for (const Sequence& alt : rules_[r]) {
        g_.alternatives[r].push_back(static_cast<int32_t>(g_.program.size()));
        g_.program.insert(g_.program.end(), alt.begin(), alt.end());
        g_.program.push_back({GbnfGrammar::kEnd, false, 0});
      }
    }
  }

  void check_left_recursion() const {
    const size_t n = rules_.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const Sequence& alt : rules_[r]) {
          bool all = true;
          for (const Element& e : alt)
            if (e.op != GbnfGrammar::kRule || !nullable[e.arg]) all = false;
          if (all) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    // left[r]: the rules r may expand into before reading a character.
    std::vector<std::vector<int32_t>> left(n);
    for (size_t r = 0; r < n; ++r)
      for (const Sequence& alt : rules_[r])
        for (const Element& e : alt) {
          if (e.op != GbnfGrammar::kRule) break;
          left[r].push_back(e.arg);
          if (!nullable[e.arg]) break;
        }
    std::vector<int> mark(n, 0);  // 0 new, 1 on the path, 2 done
    std::function<void(size_t, size_t)> visit = [&](size_t r, size_t from) {
      mark[r] = 1;
      for (int32_t s : left[r]) {
        if (mark[s] == 1) {
          std::string name = g_.rule_names[from];
          if (name.empty()) name = "(a group or repetition)";
          throw GrammarError("grammar: rule '" + name +
                             "' is left-recursive (or repeats something that can be empty); "
                             "rewrite it to start with a character");
        }
        if (mark[s] == 0) visit(static_cast<size_t>(s), g_.rule_names[s].empty() ? from : s);
      }
      mark[r] = 2;
    };
    for (size_t r = 0; r < n; ++r)
      if (mark[r] == 0) visit(r, r);
  }

  std::string_view t_;
  size_t pos_ = 0;
  GbnfGrammar g_;
  std::vector<std::vector<Sequence>> rules_;
  std::vector<bool> defined_;
  std::map<std::string, int32_t> names_;
};

}  // namespace

GbnfGrammar GbnfGrammar::parse(std::string_view text) {
  return Parser(text).run();
}

bool GbnfGrammar::matches(int32_t chars, uint32_t cp) const {
  for (const auto& [lo, hi] : classes[chars])
    if (cp >= lo && cp <= hi) return true;
  return false;
}

std::string GbnfState::key() const {
  std::string k;
  const auto put = [&](uint32_t v) { k.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(partial);
  put(pending);
  put(length);
  for (const auto& s : stacks) {
    put(static_cast<uint32_t>(s.size()));
    for (int32_t p : s) put(static_cast<uint32_t>(p));
  }
  return k;
}

void GbnfRecognizer::expand(std::vector<int32_t> stack, std::vector<std::vector<int32_t>>& out,
                            int depth) const {
  // Terminates without left recursion (refused at parse time); the depth guard is a backstop.
  if (depth > 10000) throw GrammarError("grammar: expansion too deep");
  while (!stack.empty()) {
    const int32_t top = stack.back();
    const Element& e = g_.program[top];
    if (e.op == GbnfGrammar::kChars) break;
    stack.pop_back();  // kEnd: the rule is done; the resume position below is next
    if (e.op == GbnfGrammar::kEnd) continue;
    // A rule reference: resume after it (unless it ends the alternative: a tail call, so that
    // right recursion does not grow the stack), then each alternative of the rule.
    if (g_.program[top + 1].op != GbnfGrammar::kEnd) stack.push_back(top + 1);
    for (int32_t alt : g_.alternatives[e.arg]) {
      std::vector<int32_t> s = stack;
      s.push_back(alt);
      expand(std::move(s), out, depth + 1);
    }
    return;
  }
  out.push_back(std::move(stack));
}

GbnfState GbnfRecognizer::start() const {
  GbnfState s;
  for (int32_t alt : g_.alternatives[g_.root]) expand({alt}, s.stacks, 0);
  std::sort(s.stacks.begin(), s.stacks.end());
  s.stacks.erase(std::unique(s.stacks.begin(), s.stacks.end()), s.stacks.end());
  return s;
}

bool GbnfRecognizer::advance(GbnfState& s, uint32_t cp) const {
  std::vector<std::vector<int32_t>> next;
  for (const auto& stack : s.stacks) {
    if (stack.empty()) continue;
    const Element& e = g_.program[stack.back()];
    if (g_.matches(e.arg, cp) == e.negated) continue;
    std::vector<int32_t> moved = stack;
    ++moved.back();
    expand(std::move(moved), next, 0);
    if (next.size() > kMaxStacks) return false;
  }
  if (next.empty()) return false;
  std::sort(next.begin(), next.end());
  next.erase(std::unique(next.begin(), next.end()), next.end());
  s.stacks = std::move(next);
  return true;
}

bool GbnfRecognizer::any_in_range(const GbnfState& s, uint32_t lo, uint32_t hi) const {
  for (const auto& stack : s.stacks) {
    if (stack.empty()) continue;
    const Element& e = g_.program[stack.back()];
    if (e.negated) return true;  // a negated class leaves almost every range open
    for (const auto& [a, b] : g_.classes[e.arg])
      if (a <= hi && b >= lo) return true;
  }
  return false;
}

bool GbnfRecognizer::feed(GbnfState& s, uint8_t c) const {
  if (s.pending == 0) {
    if (c < 0x80) return advance(s, c);
    int more = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
    } else {
      return false;  // not a UTF-8 lead byte
    }
    s.partial = c & (0x3F >> more);
    s.pending = static_cast<uint8_t>(more);
    s.length = static_cast<uint8_t>(more + 1);
  } else {
    if ((c & 0xC0) != 0x80) return false;
    s.partial = (s.partial << 6) | (c & 0x3F);
    --s.pending;
  }
  // Well-formed UTF-8 only: no overlong forms (E0 80 8A is not a newline), no surrogates, nothing
  // past U+10FFFF. The code points this character may still become, [lo, hi], must allow one.
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  const uint32_t shift = 6u * s.pending;
  const uint32_t lo = std::max(s.partial << shift, kMin[s.length]);
  const uint32_t hi = std::min((s.partial << shift) | ((1u << shift) - 1), 0x10FFFFu);
  if (lo > hi) return false;
  if (lo >= 0xD800 && hi <= 0xDFFF) return false;
  if (s.pending > 0) return any_in_range(s, lo, hi);
  const uint32_t cp = s.partial;
  s.partial = 0;
  s.length = 0;
  return advance(s, cp);
}

bool GbnfRecognizer::complete(const GbnfState& s) const {
  if (s.pending != 0) return false;
  for (const auto& stack : s.stacks)
    if (stack.empty()) return true;
  return false;
}

}  // namespace precis::engine
