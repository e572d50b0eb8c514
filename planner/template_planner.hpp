// The model-free planner: turns a request's own sub-questions, quantities, names and
// constraints into a pseudo-code plan shaped by the kind of task.
#pragma once

#include <string>

#include "planner/request_analysis.hpp"
#include "precis/plan.hpp"

namespace precis::planner {

struct TemplatePlan {
  std::string code;  // fits the budget and passes check_plan; "" when nothing fits
  TaskKind kind = TaskKind::general;
  int tokens = 0;
  std::string note;  // what was dropped to fit, or why the plan is empty
};

// `count` must be callable. Dropping to fit removes whole statements (with their blocks), least
// important first, so the plan stays parseable and keeps its `def` and `return`.
TemplatePlan template_plan(const RequestAnalysis& analysis, int budget_tokens, int max_lines,
                           const TokenCounter& count);

}  // namespace precis::planner
