// The pseudo-code grammar plans are checked against (check_plan). It is a small line-oriented
// subset of Python: enough structure for steps, loops, conditions and intermediate values, and
// strict enough that model prose or garbage fails on its first line.
#include <array>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "planner/plan_text.hpp"
#include "precis/plan.hpp"

namespace precis {
namespace {

using planner::is_ident_char;
using planner::is_ident_start;

// Words that are statements, never parts of an expression: seeing one inside an expression
// means the line is not one of our statement forms.
constexpr std::array<std::string_view, 18> kStatementWords = {
    "def",  "return", "while", "elif",   "pass",  "break", "continue", "class", "import",
    "from", "with",   "try",   "except", "raise", "del",   "global",   "yield", "async"};
// Keywords that join two operands (so they need one on their left).
constexpr std::array<std::string_view, 7> kBinaryWords = {"and", "or",   "in", "is",
                                                          "if",  "else", "for"};

template <size_t N>
bool one_of(std::string_view w, const std::array<std::string_view, N>& set) {
  for (auto s : set)
    if (w == s) return true;
  return false;
}

// '<w>' for messages (built by appending: GCC 12 misreports `"'" + std::string(w)`).
std::string quoted(std::string_view w) {
  std::string s;
  s.reserve(w.size() + 2);
  s += '\'';
  s.append(w);
  s += '\'';
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Reads a quoted string starting at s[i] (a quote). Returns the index after the closing quote,
// or npos when it does not close on this line.
size_t skip_string(std::string_view s, size_t i) {
  const char q = s[i];
  for (size_t j = i + 1; j < s.size(); ++j) {
    if (s[j] == '\\') {
      ++j;
      continue;
    }
    if (s[j] == q) return j + 1;
  }
  return std::string_view::npos;
}

// The line without its trailing `# comment` ('#' inside strings does not start one).
std::string_view strip_comment(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"' || s[i] == '\'') {
      const size_t end = skip_string(s, i);
      if (end == std::string_view::npos) return s;  // the expression check reports it
      i = end - 1;
    } else if (s[i] == '#') {
      return s.substr(0, i);
    }
  }
  return s;
}

// Checks one expression: a flat token scan that balances brackets and quotes and insists on an
// operator between any two terms. Python itself would reject `total = the sum of apples`; so do
// we, and that is what turns prose away even when it happens to start like an assignment.
std::string check_expr(std::string_view s) {
  s = trim(s);
  if (s.empty()) return "empty expression";
  std::vector<char> open;
  bool operand = false;         // the previous token ends a term
  bool after_operator = false;  // the previous token is an operator or operator keyword
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ') {
      ++i;
      continue;
    }
    // Operators set it again below; every other token clears it.
    const bool prev_operator = after_operator;
    after_operator = false;
    if (is_ident_start(c)) {
      size_t j = i;
      while (j < s.size() && is_ident_char(s[j])) ++j;
      const std::string_view w = s.substr(i, j - i);
      // String prefixes: f"...", r'...', b"...", rb"...".
      if (j < s.size() && (s[j] == '"' || s[j] == '\'') && w.size() <= 2 &&
          w.find_first_not_of("fFrRbBuU") == std::string_view::npos) {
        if (operand) return "two terms without an operator before " + quoted(w);
        const size_t end = skip_string(s, j);
        if (end == std::string_view::npos) return "unterminated string";
        i = end;
        operand = true;
        continue;
      }
      if (one_of(w, kStatementWords)) return quoted(w) + " cannot appear inside an expression";
      if (one_of(w, kBinaryWords)) {
        if (!operand) return quoted(w) + " needs a term on its left";
        operand = false;
        after_operator = true;
      } else if (w == "not" && operand) {
        // `a not in b`: after a term, "not" only comes as part of "not in".
        size_t k = j;
        while (k < s.size() && s[k] == ' ') ++k;
        if (s.substr(k, 2) != "in" || (k + 2 < s.size() && is_ident_char(s[k + 2])))
          return "'not' after a term must be 'not in'";
        j = k + 2;
        operand = false;
        after_operator = true;
      } else if (w == "not" || w == "lambda") {
        operand = false;  // `not x`, `lambda x: x`
        after_operator = true;
      } else {
        if (operand)
          return "two terms without an operator before " + quoted(w) + " (prose is not a plan)";
        operand = true;
      }
      i = j;
      continue;
    }
    if ((c >= '0' && c <= '9') ||
        (c == '.' && !operand && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9')) {
      if (operand) return "two terms without an operator before a number";
      size_t j = i;
      if (c == '0' && j + 1 < s.size() && (s[j + 1] == 'x' || s[j + 1] == 'X')) {
        j += 2;
        while (j < s.size() && std::isxdigit(static_cast<unsigned char>(s[j]))) ++j;
      } else {
        while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == '_')) ++j;
        if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
          size_t k = j + 1;
          if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
          if (k < s.size() && s[k] >= '0' && s[k] <= '9') {
            j = k;
            while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
          }
        }
        if (j < s.size() && (s[j] == 'j' || s[j] == 'J')) ++j;  // complex literal
      }
      if (j < s.size() && is_ident_char(s[j])) return "malformed number";
      i = j;
      operand = true;
      continue;
    }
    if (c == '"' || c == '\'') {
      if (operand) return "two terms without an operator before a string";
      const size_t end = skip_string(s, i);
      if (end == std::string_view::npos) return "unterminated string";
      i = end;
      operand = true;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') {
      // After a term, '(' is a call and '[' a subscript; '{' never follows a term.
      if (operand && c == '{') return "'{' after a term";
      open.push_back(c);
      operand = false;
      ++i;
      continue;
    }
    if (c == ')' || c == ']' || c == '}') {
      if (!operand && prev_operator)
        return std::string("an operator before '") + c + "' needs a term on its right";
      const char want = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (open.empty()) return std::string("unmatched '") + c + "'";
      if (open.back() != want) return std::string("'") + open.back() + "' closed by '" + c + "'";
      open.pop_back();
      operand = true;
      ++i;
      continue;
    }
    if (c == ',') {
      operand = false;
      ++i;
      continue;
    }
    if (c == '.') {
      if (!operand) return "'.' without a term on its left";
      size_t j = i + 1;
      while (j < s.size() && s[j] == ' ') ++j;
      if (j >= s.size() || !is_ident_start(s[j])) return "'.' must be followed by a name";
      size_t k = j;
      while (k < s.size() && is_ident_char(s[k])) ++k;
      i = k;
      operand = true;
      continue;
    }
    // Operators. Longest match first.
    static constexpr std::array<std::string_view, 25> kOps = {
        "**=", "//=", ">>=", "<<=", "**", "//", "==", "!=", "<=", ">=", "->", ":=", "+=",
        "-=",  "*=",  "/=",  "%=",  "+",  "-",  "*",  "/",  "%",  "<",  ">",  "="};
    static constexpr std::array<std::string_view, 8> kMoreOps = {"&", "|", "^",  "~",
                                                                 "@", ":", "<<", ">>"};
    std::string_view op;
    for (auto o : kOps)
      if (s.substr(i, o.size()) == o) {
        op = o;
        break;
      }
    if (op.empty())
      for (auto o : kMoreOps)
        if (s.substr(i, o.size()) == o && o.size() > op.size()) op = o;
    if (op.empty()) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (u >= 0x80) return "non-ASCII text outside a string";
      return std::string("unexpected character '") + c + "'";
    }
    if (op == "=" && open.empty()) return "'=' inside an expression";
    if (op.size() >= 2 && op.back() == '=' && op != "==" && op != "!=" && op != "<=" && op != ">=")
      return "assignment operator " + quoted(op) + " inside an expression";
    // Prefix forms: -x, +x, ~x, *args, **kwargs; ':' also opens slices and dict values.
    const bool prefix_ok =
        op == "-" || op == "+" || op == "~" || op == "*" || op == "**" || op == ":";
    if (!operand && !prefix_ok) return quoted(op) + " needs a term on its left";
    operand = false;
    after_operator = true;
    i += op.size();
  }
  if (!open.empty()) return std::string("unclosed '") + open.back() + "'";
  if (!operand) return "expression ends with an operator";
  return {};
}

bool is_name(std::string_view s) {
  if (s.empty() || !is_ident_start(s[0])) return false;
  for (char c : s)
    if (!is_ident_char(c)) return false;
  return true;
}

// Index of the first top-level occurrence of any char in `chars` (outside brackets/strings).
size_t find_top_level(std::string_view s, std::string_view chars, size_t from = 0) {
  int depth = 0;
  for (size_t i = from; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"' || c == '\'') {
      const size_t end = skip_string(s, i);
      if (end == std::string_view::npos) return std::string_view::npos;
      i = end - 1;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (depth == 0 && chars.find(c) != std::string_view::npos) return i;
  }
  return std::string_view::npos;
}

// One assignment target: name, name.attr..., name[expr]...
std::string check_target(std::string_view t) {
  t = trim(t);
  if (t.size() >= 2 && t.front() == '(' && t.back() == ')') t = trim(t.substr(1, t.size() - 2));
  if (t.empty() || !is_ident_start(t[0])) return "bad assignment target '" + std::string(t) + "'";
  size_t i = 0;
  while (i < t.size() && is_ident_char(t[i])) ++i;
  if (!is_name(t.substr(0, i)) || one_of(t.substr(0, i), kStatementWords))
    return "bad assignment target '" + std::string(t) + "'";
  while (i < t.size()) {
    if (t[i] == '.') {
      size_t j = i + 1;
      while (j < t.size() && is_ident_char(t[j])) ++j;
      if (j == i + 1) return "bad attribute in assignment target";
      i = j;
    } else if (t[i] == '[') {
      int depth = 0;
      size_t j = i;
      for (; j < t.size(); ++j) {
        if (t[j] == '[') ++depth;
        if (t[j] == ']' && --depth == 0) break;
      }
      if (j >= t.size()) return "unclosed '[' in assignment target";
      if (auto e = check_expr(t.substr(i + 1, j - i - 1)); !e.empty()) return e;
      i = j + 1;
    } else {
      return "bad assignment target '" + std::string(t) + "'";
    }
  }
  return {};
}

std::string check_targets(std::string_view lhs) {
  size_t start = 0;
  while (true) {
    const size_t comma = find_top_level(lhs, ",", start);
    const std::string_view part =
        lhs.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (trim(part).empty()) {
      if (comma == std::string_view::npos && start > 0) break;  // trailing comma: `a, = x`
      return "empty assignment target";
    }
    if (auto e = check_target(part); !e.empty()) return e;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return {};
}

bool starts_with_word(std::string_view s, std::string_view w) {
  return s.substr(0, w.size()) == w && (s.size() == w.size() || !is_ident_char(s[w.size()]));
}

struct Statement {
  std::string kind;  // def for while if elif else return simple
  bool opens = false;
  std::string error;
};

Statement parse_statement(std::string_view s) {
  Statement st;
  if (s.back() == ':') {
    st.opens = true;
    const std::string_view head = trim(s.substr(0, s.size() - 1));
    if (head == "else") {
      st.kind = "else";
      return st;
    }
    if (starts_with_word(head, "def")) {
      st.kind = "def";
      std::string_view rest = trim(head.substr(3));
      size_t i = 0;
      while (i < rest.size() && is_ident_char(rest[i])) ++i;
      if (i == 0 || !is_name(rest.substr(0, i))) {
        st.error = "def needs a function name";
        return st;
      }
      rest = trim(rest.substr(i));
      // Optional return annotation: def f(x) -> int:
      const size_t arrow = find_top_level(rest, "-");
      std::string_view params = rest;
      if (arrow != std::string_view::npos && rest.substr(arrow, 2) == "->") {
        params = trim(rest.substr(0, arrow));
        if (auto e = check_expr(rest.substr(arrow + 2)); !e.empty()) {
          st.error = "return annotation: " + e;
          return st;
        }
      }
      if (params.size() < 2 || params.front() != '(' || params.back() != ')') {
        st.error = "def needs a parameter list in parentheses";
        return st;
      }
      // Parameters parse as the inside of a call: names, defaults (a=1), *args.
      if (trim(params.substr(1, params.size() - 2)).empty()) return st;
      if (auto e = check_expr(std::string("f") + std::string(params)); !e.empty())
        st.error = "parameters: " + e;
      return st;
    }
    if (starts_with_word(head, "for")) {
      st.kind = "for";
      const std::string_view rest = trim(head.substr(3));
      const size_t in = rest.find(" in ");
      if (in == std::string_view::npos) {
        st.error = "for needs 'in'";
        return st;
      }
      if (auto e = check_targets(rest.substr(0, in)); !e.empty()) {
        st.error = "for: " + e;
        return st;
      }
      if (auto e = check_expr(rest.substr(in + 4)); !e.empty()) st.error = "for: " + e;
      return st;
    }
    for (std::string_view kw : {"if", "elif", "while"}) {
      if (starts_with_word(head, kw)) {
        st.kind = std::string(kw);
        if (auto e = check_expr(head.substr(kw.size())); !e.empty())
          st.error = std::string(kw) + ": " + e;
        return st;
      }
    }
    st.error = "a line ending in ':' must be def, for, while, if, elif or else";
    return st;
  }
  st.kind = "simple";
  if (s == "pass" || s == "break" || s == "continue") return st;
  if (starts_with_word(s, "return")) {
    st.kind = "return";
    const std::string_view rest = trim(s.substr(6));
    if (!rest.empty())
      if (auto e = check_expr(rest); !e.empty()) st.error = "return: " + e;
    return st;
  }
  // Assignment: the first top-level '=' that is not part of ==, !=, <=, >=.
  for (size_t i = find_top_level(s, "="); i != std::string_view::npos;
       i = find_top_level(s, "=", i + 1)) {
    const char before = i > 0 ? s[i - 1] : ' ';
    const char after = i + 1 < s.size() ? s[i + 1] : ' ';
    if (after == '=') {
      ++i;
      continue;
    }
    if (before == '=' || before == '!' || before == '<' || before == '>') continue;
    size_t lhs_end = i;
    // Augmented assignment: +=, -=, *=, /=, //=, %=, **=, |=, &=.
    while (lhs_end > 0 &&
           std::string_view("+-*/%|&^@<>").find(s[lhs_end - 1]) != std::string_view::npos)
      --lhs_end;
    if (i - lhs_end > 2) break;
    if (auto e = check_targets(s.substr(0, lhs_end)); !e.empty()) {
      st.error = e;
      return st;
    }
    if (auto e = check_expr(s.substr(i + 1)); !e.empty()) st.error = e;
    return st;
  }
  // A call: dotted name, '(' ... ')' at the end.
  size_t i = 0;
  while (i < s.size() && (is_ident_char(s[i]) || s[i] == '.')) ++i;
  if (i > 0 && is_ident_start(s[0]) && i < s.size() && s[i] == '(' && s.back() == ')') {
    if (auto e = check_expr(s); !e.empty()) st.error = e;
    return st;
  }
  st.error =
      "not a statement: expected def, for, while, if/elif/else, return, an assignment or a call";
  return st;
}

PlanCheck fail(int line, const std::string& msg) {
  PlanCheck c;
  c.ok = false;
  c.line = line;
  c.error = line > 0 ? "line " + std::to_string(line) + ": " + msg : msg;
  return c;
}

}  // namespace

PlanCheck check_plan(const std::string& code, int max_lines) {
  std::vector<std::string> lines = planner::split_lines(code);
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  size_t first = 0;
  while (first < lines.size() && trim(lines[first]).empty()) ++first;
  if (first == lines.size()) return fail(0, "empty plan");
  if (static_cast<int>(lines.size()) > max_lines)
    return fail(max_lines + 1, "the plan has " + std::to_string(lines.size()) + " lines; at most " +
                                   std::to_string(max_lines) + " are allowed");

  std::vector<int> levels = {0};         // indentation of each open block
  std::vector<std::string> last = {""};  // last statement kind at each level (for elif/else)
  int indent_step = 0;                   // spaces per level, fixed by the first indented line
  int opener_line = 0;                   // the line whose ':' still waits for its block
  int statements = 0;
  for (size_t n = 0; n < lines.size(); ++n) {
    const int ln = static_cast<int>(n) + 1;
    const std::string& raw = lines[n];
    if (raw.size() > static_cast<size_t>(kMaxPlanLineChars))
      return fail(ln, "line is " + std::to_string(raw.size()) + " characters; at most " +
                          std::to_string(kMaxPlanLineChars) + " are allowed");
    size_t indent = 0;
    while (indent < raw.size() && (raw[indent] == ' ' || raw[indent] == '\t')) {
      if (raw[indent] == '\t') return fail(ln, "indent with spaces, not tabs");
      ++indent;
    }
    const std::string_view content = trim(std::string_view(raw).substr(indent));
    if (content.empty() || content[0] == '#') continue;  // blank lines and comments: anywhere
    const std::string_view stmt = trim(strip_comment(content));
    if (stmt.empty()) continue;

    const int in = static_cast<int>(indent);
    if (opener_line > 0) {
      if (in <= levels.back())
        return fail(ln, "expected an indented block after line " + std::to_string(opener_line));
      if (indent_step == 0) indent_step = in - levels.back();
      if (in != levels.back() + indent_step)
        return fail(ln, "indentation must grow by " + std::to_string(indent_step) + " spaces");
      levels.push_back(in);
      last.push_back("");
      opener_line = 0;
    } else if (in > levels.back()) {
      return fail(ln, "unexpected indent");
    } else {
      while (in < levels.back()) {
        levels.pop_back();
        last.pop_back();
      }
      if (in != levels.back()) return fail(ln, "dedent to a level that was never opened");
    }

    const Statement st = parse_statement(stmt);
    if (!st.error.empty()) return fail(ln, st.error);
    if (st.kind == "elif" && last.back() != "if" && last.back() != "elif")
      return fail(ln, "elif without a preceding if");
    if (st.kind == "else" && last.back() != "if" && last.back() != "elif" && last.back() != "for" &&
        last.back() != "while")
      return fail(ln, "else without a preceding if, for or while");
    last.back() = st.kind;
    ++statements;
    if (st.opens) opener_line = ln;
  }
  if (opener_line > 0) return fail(opener_line, "block opened here has no body");
  if (statements == 0) return fail(0, "the plan has only comments");
  PlanCheck ok;
  ok.ok = true;
  return ok;
}

}  // namespace precis
