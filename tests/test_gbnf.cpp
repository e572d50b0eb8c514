// GBNF grammars: the parser's errors, and the recognizer against independent references: a
// std::regex for regular grammars and a hand-written checker for a recursive one, over every
// string of a small alphabet up to a length, for whole sentences and for prefixes alike.
#include <catch2/catch.hpp>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "engine/gbnf_grammar.hpp"
#include "engine/token_constraint.hpp"

using namespace precis::engine;

namespace {

// Every string over `alphabet` of length <= n.
std::vector<std::string> all_strings(const std::string& alphabet, int n) {
  std::vector<std::string> out{""};
  for (size_t i = 0; i < out.size(); ++i) {
    if (static_cast<int>(out[i].size()) == n) continue;
    for (char c : alphabet) out.push_back(out[i] + c);
  }
  return out;
}

struct Verdict {
  bool prefix;    // every byte was accepted
  bool complete;  // ... and the text is a sentence
};

Verdict recognize(const GbnfRecognizer& r, const std::string& s) {
  GbnfState st = r.start();
  if (!r.feed(st, s)) return {false, false};
  return {true, r.complete(st)};
}

// `in_language` decides sentences; a string is a prefix when it or some extension of up to
// `extra` more characters is a sentence (enough for the grammars below).
void check_against(const std::string& grammar, const std::string& alphabet, int n, int extra,
                   const std::function<bool(const std::string&)>& in_language) {
  const GbnfGrammar g = GbnfGrammar::parse(grammar);
  const GbnfRecognizer r(g);
  const auto extensions = all_strings(alphabet, extra);
  for (const std::string& s : all_strings(alphabet, n)) {
    bool prefix = false;
    for (const std::string& e : extensions)
      if (in_language(s + e)) {
        prefix = true;
        break;
      }
    const Verdict v = recognize(r, s);
    INFO("grammar: " << grammar << "  text: \"" << s << "\"");
    CHECK(v.complete == in_language(s));
    CHECK(v.prefix == prefix);
  }
}

}  // namespace

TEST_CASE("a regular grammar accepts exactly what the equivalent regex matches") {
  const std::regex re("(ab|[0-9]+)x?(c{2,3})?");
  check_against(R"(root ::= ("ab" | digit+) "x"? cc?
digit ::= [0-9]
cc ::= "c"{2,3}  # a bounded repetition
)",
                "abx0c", 6, 4, [&](const std::string& s) { return std::regex_match(s, re); });
}

TEST_CASE("character classes, negation, escapes and dot") {
  const std::regex re("\"[^\"\\\\]*\"\\.?|\\t+");
  check_against(R"(root ::= "\"" [^"\\]* "\"" "."? | [\t]+)", "\"a\\.\t", 5, 3,
                [&](const std::string& s) { return std::regex_match(s, re); });
  const std::regex any("a[\\s\\S]b");  // GBNF's dot matches any character, newline too
  check_against(R"(root ::= "a" . "b")", "ab\n", 4, 3,
                [&](const std::string& s) { return std::regex_match(s, any); });
}

TEST_CASE("a recursive grammar: balanced brackets, long enough to need a deep stack") {
  const auto balanced = [](const std::string& s) {
    int depth = 0;
    for (char c : s) {
      depth += c == '(' ? 1 : -1;
      if (depth < 0) return false;
    }
    return depth == 0 && !s.empty();
  };
  check_against("root ::= item+\nitem ::= \"(\" item* \")\"", "()", 10, 10, balanced);
  // Right recursion over many repetitions keeps the state small (tail calls).
  const GbnfGrammar g = GbnfGrammar::parse("root ::= [a-z]* \";\"");
  const GbnfRecognizer r(g);
  GbnfState st = r.start();
  REQUIRE(r.feed(st, std::string(5000, 'q')));
  for (const auto& stack : st.stacks) CHECK(stack.size() <= 2);
  REQUIRE(r.feed(st, ";"));
  CHECK(r.complete(st));
  CHECK(GbnfRecognizer::closed(st));
}

TEST_CASE("UTF-8: terminals match code points, and an incomplete character is checked early") {
  const GbnfGrammar g = GbnfGrammar::parse("root ::= [α-ω]+ \"€\"?");
  const GbnfRecognizer r(g);
  CHECK(recognize(r, "αβγ").complete);
  CHECK(recognize(r, "αβγ€").complete);
  CHECK(!recognize(r, "a").prefix);
  CHECK(!recognize(r, "αé").prefix);
  GbnfState st = r.start();
  CHECK(r.feed(st, std::string("\xCE")));  // the first byte of α..ω (U+03B1..U+03C9)
  CHECK(!r.complete(st));
  GbnfState bad = r.start();
  CHECK(!r.feed(bad, std::string("\xC3")));  // begins U+00C0..U+00FF: none can follow
  GbnfState invalid = r.start();
  CHECK(!r.feed(invalid, std::string("\xFF")));
  // Overlong forms and surrogates are not characters, even where their bits would match.
  const GbnfGrammar nl = GbnfGrammar::parse("root ::= [\\n:] [^a]");
  const GbnfRecognizer rn(nl);
  for (const std::string bad : {"\xE0\x80\x8A", "\xC0\x8A", "\xF0\x80\x80\xBA", "\n\xED\xA0\x80"}) {
    GbnfState st = rn.start();
    INFO("bytes " << bad.size());
    CHECK(!rn.feed(st, bad));
  }
  GbnfState ok = rn.start();
  CHECK(rn.feed(ok, "\n\xF0\x9F\x98\x80"));  // U+1F600 is outside [^a]'s exclusion
  CHECK(rn.complete(ok));
}

TEST_CASE("grammar errors name the line and the problem") {
  using Catch::Contains;
  CHECK_THROWS_WITH(GbnfGrammar::parse("start ::= \"a\""), Contains("no 'root' rule"));
  CHECK_THROWS_WITH(GbnfGrammar::parse("root ::= word\n"), Contains("'word' is used but never"));
  CHECK_THROWS_WITH(GbnfGrammar::parse("root ::= root \"a\" | \"b\""), Contains("left-recursive"));
  CHECK_THROWS_WITH(GbnfGrammar::parse("root ::= (\"a\"?)*"), Contains("left-recursive"));
  CHECK_THROWS_WITH(GbnfGrammar::parse("root ::= \"a\"\n\nroot ::= \"b\""),
                    Contains("line 3") && Contains("defined twice"));
  CHECK_THROWS_WITH(GbnfGrammar::parse("root ::= \"\\q\""), Contains("unknown escape"));
  CHECK_THROWS_WITH(GbnfGrammar::parse("root ::= [z-a]"), Contains("runs backwards"));
  CHECK_THROWS_WITH(GbnfGrammar::parse("root ::= (\"a\" | \"b\""), Contains("missing ')'"));
  CHECK_THROWS_WITH(GbnfGrammar::parse("root = \"a\""), Contains("expected '::='"));
  CHECK_THROWS_WITH(GbnfGrammar::parse("root ::= \"a\"{3,1}"), Contains("n < m"));
}

TEST_CASE("token masks agree with feeding every token's bytes, state by state") {
  // A small vocabulary of whole words, pieces, multi-byte characters and their halves; id 0 is
  // the end token (no bytes).
  const std::vector<std::string> vocab = {"",        "yes",  "no",     "y", "es", ",", " ",  ", ",
                                          "because", "be",   "cause",  ".", "a",  "b", "ab", "é",
                                          "\xC3",    "\xA9", "yes, b", "x", "..", " a"};
  auto trie = std::make_shared<const TokenTrie>(vocab);
  auto grammar = std::make_shared<const GbnfGrammar>(
      GbnfGrammar::parse(R"(root ::= ("yes" | "no") ", because " [abé]+ ".")"));
  GbnfTokenConstraint tc(grammar, trie, {0});
  const GbnfRecognizer r(*grammar);
  for (const std::string prefix : {"", "y", "yes", "yes,", "yes, because ", "no, because a",
                                   "no, because ab\xC3", "no, because abé."}) {
    GbnfState s = tc.start();
    REQUIRE(r.feed(s, prefix));
    const auto mask = tc.mask(s);
    int allowed = 0;
    for (int t = 0; t < static_cast<int>(vocab.size()); ++t) {
      GbnfState copy = s;
      const bool fits = t == 0 ? r.complete(s) : r.feed(copy, vocab[t]);
      INFO("after \"" << prefix << "\", token \"" << vocab[t] << "\"");
      CHECK(mask->allows(t) == fits);
      allowed += fits;
    }
    CHECK(mask->allowed == allowed);
  }
  // A grammar no token can begin: nothing is allowed, which the engine reports as an error.
  GbnfTokenConstraint none(
      std::make_shared<const GbnfGrammar>(GbnfGrammar::parse("root ::= \"z\"")), trie, {0});
  CHECK(none.mask(none.start())->allowed == 0);
}
