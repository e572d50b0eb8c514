#include "planner/lm_planner.hpp"

#include <exception>
#include <memory>
#include <mutex>

#include "engine/gbnf_grammar.hpp"

#include "planner/lm_plan_grammar.hpp"
#include "planner/plan_text.hpp"

namespace precis::planner {

std::string lm_plan_prompt(const std::string& request) {
  // Three short examples in the house style: the request's own numbers and names become
  // variables and strings, control flow is explicit, and nothing is answered yet. Kept short
  // so small models with small context windows still have room to write the plan.
  static const char* kExamples =
      "Write a short plan, as Python-like pseudo-code, for answering the request. Use def, for, "
      "if/else, return, assignments and calls. Name the request's own numbers and names. Do not "
      "answer the request.\n"
      "\n"
      "Request: Tom has 3 apples and buys 5 more. How many apples does he have now?\n"
      "Plan:\n"
      "```python\n"
      "def solve():\n"
      "    apples = 3\n"
      "    bought = 5\n"
      "    total = apples + bought\n"
      "    return total\n"
      "```\n"
      "\n"
      "Request: Who directed the film in which Leonardo DiCaprio played Jack Dawson?\n"
      "Plan:\n"
      "```python\n"
      "def answer():\n"
      "    film = find_film(actor=\"Leonardo DiCaprio\", role=\"Jack Dawson\")\n"
      "    director = lookup(film, \"director\")\n"
      "    return director\n"
      "```\n"
      "\n"
      "Request: Summarize the report below in at most 3 bullet points.\n"
      "Plan:\n"
      "```python\n"
      "def summarize(report):\n"
      "    points = []\n"
      "    for part in paragraphs(report):\n"
      "        points.append(main_point(part))\n"
      "    if len(points) > 3:\n"
      "        points = top(points, 3)\n"
      "    return as_bullets(points)\n"
      "```\n"
      "\n";
  return std::string(kExamples) + "Request: " + trim_copy(request) + "\nPlan:\n```python\n";
}

engine::SamplingParams plan_sampling_params(const PlanGenerateRequest& request) {
  engine::SamplingParams p;
  p.temperature = request.temperature;
  p.max_tokens = request.max_tokens;
  p.seed = request.seed;
  p.stop = request.stop;
  if (!request.grammar.empty()) {
    static std::mutex mu;
    static std::string text;
    static std::shared_ptr<const engine::GbnfGrammar> compiled;
    std::lock_guard<std::mutex> lock(mu);
    if (!compiled || text != request.grammar) {
      compiled =
          std::make_shared<const engine::GbnfGrammar>(engine::GbnfGrammar::parse(request.grammar));
      text = request.grammar;
    }
    p.grammar = compiled;
  }
  return p;
}

const std::vector<std::string>& lm_plan_stops() {
  static const std::vector<std::string> kStops = {"```", "\nRequest:"};
  return kStops;
}

namespace {

bool is_code_line(const std::string& l) {
  const std::string t = trim_copy(l);
  return !t.empty() && t[0] != '#';
}

// Drops trailing blank and comment lines, and block openers left without a body.
void trim_tail(std::vector<std::string>& lines) {
  for (;;) {
    while (!lines.empty() && !is_code_line(lines.back())) lines.pop_back();
    if (!lines.empty() && trim_copy(lines.back()).back() == ':') {
      lines.pop_back();
      continue;
    }
    return;
  }
}

}  // namespace

PlanCheck fit_and_check_lm_plan(const std::string& raw, int budget_tokens, int max_lines,
                                const TokenCounter& count, std::string& code) {
  std::vector<std::string> lines = split_lines(extract_plan_code(raw));
  trim_tail(lines);
  // Over the budget (a counter other than the model's, or a model that ignored max_tokens):
  // whole lines go from the end.
  while (lines.size() > 1 && count(join_lines(lines)) > budget_tokens) {
    lines.pop_back();
    trim_tail(lines);
  }
  code = join_lines(lines);
  PlanCheck check = check_plan(code, max_lines);
  // A generation stopped by max_tokens ends mid-line; that last line alone is forgiven.
  if (!check.ok && lines.size() > 1 && check.line == static_cast<int>(lines.size())) {
    lines.pop_back();
    trim_tail(lines);
    code = join_lines(lines);
    check = check_plan(code, max_lines);
  }
  if (check.ok && count(code) > budget_tokens) {
    check.ok = false;
    check.error = "plan of " + std::to_string(count(code)) + " tokens exceeds the budget of " +
                  std::to_string(budget_tokens);
  }
  return check;
}

LmPlanResult lm_plan(const std::string& request, const PlanOptions& options,
                     const PlanGenerateFn& generate, const TokenCounter& count) {
  LmPlanResult out;
  PlanGenerateRequest req;
  req.prompt = lm_plan_prompt(request);
  req.max_tokens = options.budget_tokens;
  req.stop = lm_plan_stops();
  if (options.lm_grammar) req.grammar = lm_plan_grammar();
  for (int attempt = 1; attempt <= 2; ++attempt) {
    // The retry runs cooler: a model that rambled at a high temperature often writes a
    // well-formed plan closer to greedy.
    req.temperature = attempt == 1 ? options.temperature : options.temperature * 0.5f;
    req.seed = options.seed + static_cast<uint64_t>(attempt - 1);
    ++out.attempts;
    std::string problem;
    try {
      const std::string raw = generate(req);
      std::string code;
      const PlanCheck check =
          fit_and_check_lm_plan(raw, options.budget_tokens, options.max_lines, count, code);
      if (check.ok) {
        out.ok = true;
        out.code = code;
        out.tokens = count(code);
        out.error.clear();
        return out;
      }
      problem = check.error;
    } catch (const std::exception& e) {
      problem = std::string("generation failed: ") + e.what();
    }
    if (!out.error.empty()) out.error += "; ";
    out.error += "attempt " + std::to_string(attempt) + ": " + problem;
  }
  return out;
}

}  // namespace precis::planner
