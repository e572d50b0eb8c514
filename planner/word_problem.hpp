// Derives the computation of an arithmetic word problem from its text, and only with
// certainty: every number the text gives is read by a known pattern (a count of a thing, a
// price or rate of a thing, "twice as many", "5 more ... than", "half of them", a bill paid
// with, "each pack has 6", "8 hours a day for 5 days", "60 km/h", "equally among 4 friends",
// "N years old"), the question is one of a few known forms (how many ... left / in total, how
// much ... spend / earn / change / left, how far, how much older, how many does each get), and
// the units agree (counts of one thing, rates matched one-to-one to the things counted). Any
// other word with arithmetic in it ("percent", "dozen", "average", "every", "rest", ...) leaves
// the computation open, with the reason.
#pragma once

#include <string>
#include <vector>

#include "planner/request_analysis.hpp"

namespace precis::planner {

struct WordProblemStep {
  std::string name;     // Python variable
  std::string expr;     // a literal for a given quantity, arithmetic over earlier names otherwise
  std::string comment;  // the words it comes from, or what the step does
};

struct Derivation {
  bool certain = false;
  std::vector<WordProblemStep> steps;  // in order; the last one is the answer (when certain)
  std::string why_open;                // when not certain: the first thing that stopped it
  // Relations read even when the whole is not certain ("cookies" -> "twice as many cookies"),
  // to name in the open sub-goal.
  std::vector<std::pair<std::string, std::string>> relations;
};

// `a` supplies the sentences and the names of people; the derivation reads its own tokens.
Derivation derive_word_problem(const RequestAnalysis& a);

}  // namespace precis::planner
