// The model planner: a few-shot prompt asks a model for a pseudo-code plan; the answer is
// cleaned, fitted to the budget and checked against the plan grammar, with one cooler retry.
#pragma once

#include <string>

#include "engine/sampling_params.hpp"
#include "precis/plan.hpp"

namespace precis::planner {

// The few-shot prompt for `request`. It ends inside an opened ```python fence, so the model's
// continuation is the plan and the closing fence (a stop string) ends it.
std::string lm_plan_prompt(const std::string& request);

// Stop strings for the plan request: the closing fence and the start of another example.
const std::vector<std::string>& lm_plan_stops();

// The engine's sampling parameters for a plan request: its temperature, seed, stop strings and
// max_tokens, and its GBNF grammar compiled (the last grammar compiled is kept, so the plan
// grammar, the same text on every request, is parsed once). Thread-safe.
engine::SamplingParams plan_sampling_params(const PlanGenerateRequest& request);

struct LmPlanResult {
  bool ok = false;
  std::string code;
  int tokens = 0;
  int attempts = 0;
  std::string error;  // why each failed attempt failed ("attempt 1: line 1: ...; attempt 2: ...")
};

// Cleans a raw model continuation into a plan that fits `budget_tokens` (dropping whole
// trailing lines, and a last line cut mid-way), then checks it. Returns the check and the code.
PlanCheck fit_and_check_lm_plan(const std::string& raw, int budget_tokens, int max_lines,
                                const TokenCounter& count, std::string& code);

// Runs the attempts: options.temperature and options.seed first, then once more at half the
// temperature and seed + 1. Never throws on model failure (errors are reported in `error`).
LmPlanResult lm_plan(const std::string& request, const PlanOptions& options,
                     const PlanGenerateFn& generate, const TokenCounter& count);

}  // namespace precis::planner
