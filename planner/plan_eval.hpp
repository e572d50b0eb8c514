// Runs the executable part of a plan: the arithmetic a plan states in its own assignments. It
// decides whether a plan asserts a value (its `return` is computed from literals by + - * /),
// which is what "a plan never asserts a wrong value" is checked against.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace precis::planner {

struct PlanEvaluation {
  bool asserts = false;  // the returned expression evaluates to a number
  double value = 0.0;    // that number, when `asserts`
  // Calls the plan leaves to the model (`solve`, `recall`, ...), in order, each once: its open
  // steps.
  std::vector<std::string> open_calls;
  std::map<std::string, double> known;  // every variable with a computed value at the return
};

// Evaluates the body of the plan's first `def`. Assignments whose right side is arithmetic over
// numbers and known variables give values; anything else (a call, a string, a list, a name
// never given a value) makes the target unknown. An `if` whose condition evaluates runs or skips
// its block; any other block (a loop, an `if` on an unknown) makes everything it assigns
// unknown. Division by zero is unknown, never infinite.
PlanEvaluation evaluate_plan(const std::string& code);

}  // namespace precis::planner
