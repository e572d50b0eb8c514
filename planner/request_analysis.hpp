// Reads a request the way the template planner needs it: what it asks (sub-questions, listed
// parts), what it gives (quantities, names, code identifiers), what it demands of the answer
// (constraints) and what kind of task it is. Rule-based and model-free, so it is fast,
// deterministic and works on any request.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "precis/plan.hpp"

namespace precis::planner {

struct Quantity {
  std::string text;   // as written: "3 apples", "$4.50", "20%"
  std::string value;  // a Python literal: "3", "4.50", "1/2", "\"3:45\""
  std::string unit;   // "apples", "dollars", "percent", "" when none
  std::string name;   // a Python variable name for it, unique within the request
  bool money = false;
  bool percent = false;
};

struct Constraint {
  // max_words, min_words, exact_words (and _sentences, _paragraphs, _items, _lines, _chars),
  // format, step_by_step, language, brief, avoid, cite, audience
  std::string kind;
  std::string value;  // "50", "json", "French", "use recursion", ...
  std::string text;   // the words of the request it came from
};

struct RequestAnalysis {
  TaskKind kind = TaskKind::general;
  std::vector<std::string> questions;    // sub-questions, each ending in '?'
  std::vector<std::string> items;        // numbered or bulleted parts, marker removed
  std::vector<Quantity> quantities;      // numbers the request gives (not those of constraints)
  std::vector<std::string> entities;     // names and quoted strings, first appearance order
  std::vector<std::string> identifiers;  // code identifiers and file names
  std::vector<Constraint> constraints;
  std::string instruction;              // the first sentence that is not a question ("" if none)
  std::vector<std::string> statements;  // every sentence that is not a question
  std::string first_sentence;
  bool has_code_block = false;
  int paragraphs = 0;
  int sentences = 0;
};

RequestAnalysis analyse_request(const std::string& request);

// Function words: never a unit, never a name on their own ("the", "each", "after", ...).
bool is_stopword(std::string_view w);
// "three" -> 3, "dozen" -> 12, "hundred" -> 100; 0 for any other word.
int number_word(std::string_view w);

}  // namespace precis::planner
