// GBNF grammars (llama.cpp's grammar format, so users' existing grammar files work) compiled into
// flat rules for a pushdown recognizer, and the recognizer itself, one byte at a time.
//
// Accepted syntax: `name ::= alternatives` definitions (a rule runs until the next definition;
// `root` is the start), sequences, `|`, groups `( )`, repetition `*` `+` `?` `{m}` `{m,}`
// `{m,n}`, string literals "..." and character classes [a-z0-9_] / [^"\\] with escapes (\n \r \t
// \\ \" \] \- \xHH \uHHHH \UHHHHHHHH), `.` (any character), rule references, and `#` comments.
// Terminals match Unicode code points of UTF-8 text. Left-recursive rules are refused (the
// recognizer expands rules top-down), as are undefined rules, naming them.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace precis::engine {

class GrammarError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct GbnfGrammar {
  // One element of the flat program. An alternative is a run of elements ending in kEnd.
  enum Op : uint8_t { kEnd, kChars, kRule };
  struct Element {
    Op op = kEnd;
    bool negated = false;  // kChars: matches code points outside the ranges
    int32_t arg = 0;       // kChars: index into `classes`; kRule: rule index
  };
  std::vector<Element> program;
  std::vector<std::vector<int32_t>> alternatives;  // per rule: program positions of its alts
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> classes;  // inclusive ranges
  std::vector<std::string> rule_names;
  int32_t root = 0;
  std::string key;  // identifies the grammar (for sharing compiled token masks)

  // Throws GrammarError naming the line and what is wrong.
  static GbnfGrammar parse(std::string_view text);

  bool matches(int32_t chars, uint32_t cp) const;
};

// A recognizer state: every way the text so far can continue, as stacks of program positions
// (the top is the terminal to match next; below it, where each enclosing rule resumes), plus the
// bytes of a UTF-8 character not yet complete. Sorted and deduplicated, so equal states compare
// equal and can key a cache.
struct GbnfState {
  std::vector<std::vector<int32_t>> stacks;  // an empty stack: the text may end here
  uint32_t partial = 0;                      // code point bits so far
  uint8_t pending = 0;                       // continuation bytes still expected
  uint8_t length = 0;                        // bytes of the character being read

  std::string key() const;
};

class GbnfRecognizer {
 public:
  // States holding more than this many stacks (a grammar ambiguous enough to explode) stop
  // being extended: the byte is refused.
  static constexpr size_t kMaxStacks = 4096;

  explicit GbnfRecognizer(const GbnfGrammar& g) : g_(g) {}

  GbnfState start() const;
  // Consumes one byte. False when the bytes would no longer be a prefix of the language.
  bool feed(GbnfState& s, uint8_t c) const;
  bool feed(GbnfState& s, std::string_view bytes) const {
    for (unsigned char c : bytes)
      if (!feed(s, c)) return false;
    return true;
  }
  // The text so far is a whole sentence of the grammar.
  bool complete(const GbnfState& s) const;
  // Complete, and nothing may follow.
  static bool closed(const GbnfState& s) {
    return s.pending == 0 && s.stacks.size() == 1 && s.stacks[0].empty();
  }

 private:
  // Pushes `stack` resolved down to terminals (or to empty) into `out`.
  void expand(std::vector<int32_t> stack, std::vector<std::vector<int32_t>>& out, int depth) const;
  bool advance(GbnfState& s, uint32_t cp) const;
  bool any_in_range(const GbnfState& s, uint32_t lo, uint32_t hi) const;

  const GbnfGrammar& g_;
};

}  // namespace precis::engine
