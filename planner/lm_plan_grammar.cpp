#include "planner/lm_plan_grammar.hpp"

#include <map>
#include <set>
#include <vector>

namespace precis::planner {

namespace {

// Every word check_plan treats as a statement or operator keyword, plus Python's constants.
const std::vector<std::string> kKeywords = {
    "def",  "return", "while", "elif",   "pass",   "break",   "continue", "class", "import",
    "from", "with",   "try",   "except", "raise",  "del",     "global",   "yield", "async",
    "and",  "or",     "in",    "is",     "if",     "else",    "for",      "not",   "lambda",
    "None", "True",   "False", "await",  "assert", "finally", "nonlocal", "as"};

const char* kFirst = "abcdefghijklmnopqrstuvwxyz_";
const char* kRest = "abcdefghijklmnopqrstuvwxyz0123456789_";

// A character class of `chars` without `minus`, in GBNF ("" when nothing is left).
std::string char_class(const std::string& chars, const std::set<char>& minus) {
  std::string c;
  for (char ch : chars)
    if (!minus.count(ch)) c += ch;
  return c.empty() ? "" : "[" + c + "]";
}

// name ::= any identifier of lower-case letters, digits and '_' except the keywords: one rule
// per prefix of a keyword (its trie node), each allowing every way out of the keyword set.
std::string name_rules() {
  std::set<std::string> prefixes{""};
  for (const auto& k : kKeywords)
    for (size_t i = 1; i <= k.size(); ++i) prefixes.insert(k.substr(0, i));
  std::map<std::string, std::string> rule_of;
  int n = 0;
  for (const auto& p : prefixes) rule_of[p] = p.empty() ? "name" : "kw" + std::to_string(n++);
  const std::set<std::string> keywords(kKeywords.begin(), kKeywords.end());
  std::string out;
  for (const auto& p : prefixes) {
    std::set<char> children;
    std::vector<std::string> alts;
    for (const auto& q : prefixes)
      if (q.size() == p.size() + 1 && q.compare(0, p.size(), p) == 0) {
        children.insert(q.back());
        alts.push_back(std::string("\"") + q.back() + "\" " + rule_of[q]);
      }
    const std::string others = char_class(p.empty() ? kFirst : kRest, children);
    if (!others.empty()) alts.push_back(others + " tail");
    if (!p.empty() && !keywords.count(p)) alts.push_back("\"\"");
    out += rule_of[p] + " ::= ";
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    out += "\n";
  }
  out += std::string("tail ::= ") + "[" + kRest + "]{0,6}\n";
  return out;
}

}  // namespace

const std::string& lm_plan_grammar() {
  // Lengths are bounded so that no line can exceed kMaxPlanLineChars (120): names of at most
  // 15 characters, strings of 14, two arguments per call, two terms per expression, the second
  // one small. The longest line, an assignment three blocks deep, is 119 characters.
  static const std::string grammar = std::string(
                                         R"gbnf(root ::= "def " name "(" params? "):\n" body1
params ::= name (", " name){0,3}
body1 ::= line1{1,10}
line1 ::= "    " (simple "\n" | opener "\n" body2)
body2 ::= line2{1,4}
line2 ::= "        " (simple "\n" | opener "\n" body3)
body3 ::= line3{1,3}
line3 ::= "            " simple "\n"
opener ::= "for " name " in " term ":" | "if " expr ":" | "while " expr ":"
simple ::= name " = " expr | "return " expr | call
expr ::= term (" " op " " small)?
op ::= "+" | "-" | "*" | "/" | "//" | "%" | "==" | "!=" | "<" | ">" | "<=" | ">=" | "and" | "or" | "in"
term ::= call | small | "[" atoms? "]"
call ::= name "(" atoms? ")"
atoms ::= atom (", " atom)?
small ::= atom | name "[" atom "]"
atom ::= name | number | string
number ::= [0-9]{1,6} ("." [0-9]{1,4})?
string ::= "\"" [^"\\\n]{0,14} "\""
)gbnf") + name_rules();
  return grammar;
}

}  // namespace precis::planner
