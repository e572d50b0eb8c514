// The plan grammar (check_plan): what a plan may look like, and that prose, garbage and broken
// structure are turned away with the line they fail on.
#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "precis/plan.hpp"

using precis::check_plan;

namespace {

void require_ok(const std::string& code) {
  const auto c = check_plan(code);
  INFO(code << "\n-> " << c.error);
  CHECK(c.ok);
  CHECK(c.error.empty());
}

void require_fails(const std::string& code, int line, const std::string& needle, int max = 40) {
  const auto c = check_plan(code, max);
  INFO(code << "\n-> " << c.error);
  CHECK_FALSE(c.ok);
  CHECK(c.line == line);
  CHECK_THAT(c.error, Catch::Contains(needle));
  if (line > 0) CHECK_THAT(c.error, Catch::StartsWith("line " + std::to_string(line) + ":"));
}

}  // namespace

TEST_CASE("check_plan accepts the statement forms of the grammar") {
  require_ok(
      "def solve(apples, price=2.5, *args, **kw):\n"
      "    # comments may say anything: don't, \"quotes\", (brackets\n"
      "    total = apples * price  # trailing comments too\n"
      "    left, right = split(total)\n"
      "    facts[\"a\"] = lookup(\"Ed Wood\", 'nationality')\n"
      "    self.count += 1\n"
      "    points = [p for p in parts if p is not None and p not in seen]\n"
      "    data = {\"k\": [1, 2, 3][0:2], 'x': -0.5e3, 'y': f\"{total}\"}\n"
      "    for i, part in enumerate(parts):\n"
      "        if len(part) > 50:\n"
      "            part = shorten(part, 50)\n"
      "        elif not part:\n"
      "            continue\n"
      "        else:\n"
      "            pass\n"
      "    while total > 0:\n"
      "        total -= 1\n"
      "        break\n"
      "    notify(lambda x: x + 1)\n"
      "    result.items.append(total // 2 ** 3 % 7)\n"
      "\n"
      "    return total if total >= 0 else -total\n");
  // No def at all, two-space indentation, a bare return.
  require_ok("x = 1\nif x == 1:\n  y = x\nreturn\n");
  // Comments and blank lines at any indentation do not disturb blocks.
  require_ok("def f():\n\n# note\n        # deep note\n    return 1\n");
  // Calls with keyword arguments and nested calls.
  require_ok(
      "answer = explain(asked, facts, audience=\"a child\")\nprint(translate(answer, 'French'))");
}

TEST_CASE("check_plan rejects prose with the line it fails on") {
  require_fails("Sure! Here is the plan:\ndef f():\n    return 1", 1, "must be def");
  require_fails("The answer is 42.", 1, "not a statement");
  require_fails("def f():\n    First we count the apples.\n    return 1", 2, "not a statement");
  require_fails("def f():\n    total = the sum of all apples\n", 2, "two terms");
  require_fails("1. Read the question\n2. Answer it", 1, "not a statement");
  require_fails("Step 1: compute", 1, "not a statement");
  require_fails("```python\ndef f():\n    return 1\n```", 1, "not a statement");
  require_fails("x = 3 apples", 1, "two terms");
  require_fails("print hello", 1, "not a statement");
  require_fails("x = y ? z", 1, "unexpected character '?'");
  require_fails("x = caf\xC3\xA9", 1, "non-ASCII");
}

TEST_CASE("check_plan rejects bad indentation") {
  require_fails("def f():\nreturn 1", 2, "expected an indented block after line 1");
  require_fails("x = 1\n    y = 2", 2, "unexpected indent");
  require_fails("def f():\n    if x:\n        y = 1\n      z = 2", 4, "never opened");
  require_fails("def f():\n    if x:\n          y = 1", 3, "grow by 4");
  require_fails("def f():\n\tx = 1", 2, "tabs");
  require_fails("def f():\n    x = 1\n    if x:", 3, "no body");
  require_fails("def f():\n    else:\n        x = 1", 2, "else without");
  require_fails("def f():\n    x = 1\n    elif x:\n        y = 1", 3, "elif without");
}

TEST_CASE("check_plan rejects unbalanced brackets and quotes") {
  require_fails("x = f(a, b", 1, "unclosed '('");
  require_fails("x = f(a, b))", 1, "unmatched ')'");
  require_fails("x = [1, 2)", 1, "closed by ')'");
  require_fails("x = \"abc", 1, "unterminated string");
  require_fails("x = 'it", 1, "unterminated string");
  require_fails("def f(:\n    return 1", 1, "parameter");
  require_fails("y = (a +)", 1, "needs a term");
  require_fails("y = a +", 1, "ends with an operator");
  // Brackets must balance on each line: no continuation lines.
  require_fails("x = f(a,\n      b)", 1, "unclosed");
}

TEST_CASE("check_plan bounds the plan's length") {
  std::string code = "def f():\n";
  for (int i = 0; i < 12; ++i)
    code += "    x" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  CHECK(check_plan(code, 13).ok);
  require_fails(code, 11, "at most 10", 10);
  require_fails("x = \"" + std::string(130, 'a') + "\"", 1, "characters");
  require_fails("", 0, "empty plan");
  require_fails("\n\n   \n", 0, "empty plan");
  CHECK(check_plan("# only a comment").ok == false);
}

TEST_CASE("check_plan rejects statements that are not part of the grammar") {
  require_fails("import os", 1, "not a statement");
  require_fails("try:\n    x = 1", 1, "must be def");
  require_fails("x = return 1", 1, "cannot appear");
  require_fails("def (x):\n    return x", 1, "function name");
  require_fails("for x:\n    pass", 1, "'in'");
  require_fails("if x = 1:\n    pass", 1, "'=' inside");
  require_fails("x == 1", 1, "not a statement");
  require_fails("3 = x", 1, "target");
  require_fails("x = 1; y = 2", 1, "unexpected character ';'");
}

TEST_CASE("check_plan survives random bytes and random mutations of a valid plan") {
  const std::string valid =
      "def solve():\n    apples = 3\n    for q in [\"a\", 'b']:\n        x = f(q)\n    return x\n";
  std::mt19937 rng(7);
  int rejected = 0;
  for (int n = 0; n < 2000; ++n) {
    std::string s;
    if (n % 2 == 0) {
      const int len = static_cast<int>(rng() % 200);
      for (int i = 0; i < len; ++i) s += static_cast<char>(rng() % 256);
    } else {
      s = valid;
      for (int k = 0; k < 3; ++k) s[rng() % s.size()] = static_cast<char>(rng() % 128);
    }
    const auto c = check_plan(s);
    if (!c.ok) {
      ++rejected;
      CHECK_FALSE(c.error.empty());
    }
  }
  // Random bytes never form a plan.
  CHECK(rejected >= 1000);
}
