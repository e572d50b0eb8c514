#include "planner/plan_eval.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "planner/plan_text.hpp"

namespace precis::planner {
namespace {

using Env = std::map<std::string, double>;

// Recursive descent over one expression: sum := term (('+'|'-') term)*, term := unary
// (('*'|'/') unary)*, unary := '-' unary | atom, atom := number | name | '(' sum ')'.
// Comparisons (for `if`) wrap a sum on each side. Anything else fails the whole expression.
class Expr {
 public:
  Expr(std::string_view s, const Env& env, std::vector<std::string>& calls)
      : s_(s), env_(env), calls_(calls) {}

  std::optional<double> value() {
    const auto v = sum();
    skip();
    if (!v || i_ != s_.size()) {
      note_calls();
      return std::nullopt;
    }
    return v;
  }
  // `a < b`, `a >= b`, ... (a bare value is true when non-zero).
  std::optional<bool> condition() {
    const auto a = sum();
    skip();
    static constexpr std::string_view kOps[] = {"<=", ">=", "==", "!=", "<", ">"};
    for (std::string_view op : kOps)
      if (a && s_.substr(i_, op.size()) == op) {
        i_ += op.size();
        const auto b = sum();
        skip();
        if (!b || i_ != s_.size()) break;
        if (op == "<=") return *a <= *b;
        if (op == ">=") return *a >= *b;
        if (op == "==") return *a == *b;
        if (op == "!=") return *a != *b;
        if (op == "<") return *a < *b;
        return *a > *b;
      }
    if (a && i_ == s_.size()) return *a != 0.0;
    note_calls();
    return std::nullopt;
  }

 private:
  void skip() {
    while (i_ < s_.size() && s_[i_] == ' ') ++i_;
  }
  std::optional<double> sum() {
    auto v = term();
    for (skip(); v && i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-'); skip()) {
      const char op = s_[i_++];
      const auto r = term();
      if (!r) return std::nullopt;
      v = op == '+' ? *v + *r : *v - *r;
    }
    return v;
  }
  std::optional<double> term() {
    auto v = unary();
    for (skip(); v && i_ < s_.size() && (s_[i_] == '*' || s_[i_] == '/'); skip()) {
      const char op = s_[i_++];
      if (i_ < s_.size() && (s_[i_] == '*' || s_[i_] == '/')) return std::nullopt;  // ** and //
      const auto r = unary();
      if (!r || (op == '/' && *r == 0.0)) return std::nullopt;
      v = op == '*' ? *v * *r : *v / *r;
    }
    return v;
  }
  std::optional<double> unary() {
    skip();
    if (i_ < s_.size() && s_[i_] == '-') {
      ++i_;
      const auto v = unary();
      return v ? std::optional<double>(-*v) : std::nullopt;
    }
    return atom();
  }
  std::optional<double> atom() {
    skip();
    if (i_ >= s_.size()) return std::nullopt;
    if (s_[i_] == '(') {
      ++i_;
      const auto v = sum();
      skip();
      if (!v || i_ >= s_.size() || s_[i_] != ')') return std::nullopt;
      ++i_;
      return v;
    }
    if ((s_[i_] >= '0' && s_[i_] <= '9') || s_[i_] == '.') {
      const std::string text(s_.substr(i_));
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str()) return std::nullopt;
      i_ += static_cast<size_t>(end - text.c_str());
      return v;
    }
    if (!is_ident_start(s_[i_])) return std::nullopt;
    const size_t from = i_;
    while (i_ < s_.size() && is_ident_char(s_[i_])) ++i_;
    const auto it = env_.find(std::string(s_.substr(from, i_ - from)));
    if (it == env_.end()) return std::nullopt;
    return it->second;
  }
  // Every `name(` in the expression is a step the plan leaves to the model.
  void note_calls() {
    for (size_t k = 0; k < s_.size(); ++k) {
      if (!is_ident_start(s_[k]) || (k > 0 && is_ident_char(s_[k - 1]))) continue;
      size_t e = k;
      while (e < s_.size() && is_ident_char(s_[e])) ++e;
      if (e < s_.size() && s_[e] == '(') {
        const std::string name(s_.substr(k, e - k));
        if (std::find(calls_.begin(), calls_.end(), name) == calls_.end()) calls_.push_back(name);
      }
      k = e;
    }
  }

  std::string_view s_;
  const Env& env_;
  std::vector<std::string>& calls_;
  size_t i_ = 0;
};

// The code of a line without its comment ('#' inside a string does not start one).
std::string code_of(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote) {
      if (c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#') {
      return trim_copy(line.substr(0, i));
    }
  }
  return trim_copy(line);
}

size_t indent_of(const std::string& line) {
  size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

// `name = expr` or `name += expr` (and -=, *=, /=): the target and the right side.
bool assignment(const std::string& code, std::string& target, std::string& rhs) {
  size_t i = 0;
  if (code.empty() || !is_ident_start(code[0])) return false;
  while (i < code.size() && is_ident_char(code[i])) ++i;
  target = code.substr(0, i);
  while (i < code.size() && code[i] == ' ') ++i;
  if (i + 1 < code.size() && std::string("+-*/").find(code[i]) != std::string::npos &&
      code[i + 1] == '=') {
    rhs = target + " " + code[i] + " (" + code.substr(i + 2) + ")";
    return true;
  }
  if (i < code.size() && code[i] == '=' && (i + 1 >= code.size() || code[i + 1] != '=')) {
    rhs = code.substr(i + 1);
    return true;
  }
  return false;
}

}  // namespace

PlanEvaluation evaluate_plan(const std::string& code) {
  PlanEvaluation out;
  Env env;
  const std::vector<std::string> lines = split_lines(code);
  size_t body = std::string::npos;  // indentation of the def's body
  // Blocks being skipped or made unknown: (indentation of the block's opener, whether its
  // assignments are unknown rather than skipped).
  struct Block {
    size_t indent;
    bool unknown;
  };
  std::vector<Block> blocks;
  bool in_def = false;
  for (const std::string& line : lines) {
    const std::string c = code_of(line);
    if (c.empty()) continue;
    const size_t ind = indent_of(line);
    if (!in_def) {
      if (c.rfind("def ", 0) == 0) in_def = true;
      continue;
    }
    if (body == std::string::npos) body = ind;
    if (ind < body) break;  // the first def ended
    while (!blocks.empty() && ind <= blocks.back().indent) blocks.pop_back();
    const bool skipped = !blocks.empty() && !blocks.back().unknown;
    const bool unknown =
        std::any_of(blocks.begin(), blocks.end(), [](const Block& b) { return b.unknown; });
    if (skipped) {
      // An inner block of a skipped one is skipped too.
      if (c.back() == ':') blocks.push_back({ind, false});
      continue;
    }
    if (c.back() == ':') {
      std::optional<bool> taken;
      if (c.rfind("if ", 0) == 0 && !unknown) {
        std::vector<std::string> calls;
        taken = Expr(c.substr(3, c.size() - 4), env, calls).condition();
        for (const auto& n : calls)
          if (std::find(out.open_calls.begin(), out.open_calls.end(), n) == out.open_calls.end())
            out.open_calls.push_back(n);
      }
      if (taken && *taken) continue;  // runs in line, at this level's rules
      blocks.push_back({ind, !taken.has_value()});
      continue;
    }
    if (c.rfind("return", 0) == 0 && ind == body && !unknown) {
      const std::string e = trim_copy(c.substr(6));
      const auto v = Expr(e, env, out.open_calls).value();
      if (v && std::isfinite(*v)) {
        out.asserts = true;
        out.value = *v;
      }
      break;
    }
    std::string target, rhs;
    if (assignment(c, target, rhs)) {
      const auto v = unknown ? std::nullopt : Expr(rhs, env, out.open_calls).value();
      if (v && std::isfinite(*v))
        env[target] = *v;
      else
        env.erase(target);
      continue;
    }
    // A bare call (`update(x)`) or another statement: its calls are open steps.
    std::vector<std::string> calls;
    Expr(c, env, calls).value();
    for (const auto& n : calls)
      if (std::find(out.open_calls.begin(), out.open_calls.end(), n) == out.open_calls.end())
        out.open_calls.push_back(n);
  }
  out.known = env;
  return out;
}

}  // namespace precis::planner
