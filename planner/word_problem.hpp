// Derives the computation of an arithmetic word problem from its text, and only with
// certainty: every number the text gives is read by a known pattern (a count of a thing, a
// price of a thing, "twice as many", "5 more ... than", a bill paid with), the question is one
// of a few known forms, and the units agree (counts of one thing, prices matched one-to-one to
// the things counted). Anything else leaves the computation open, with the reason.
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
