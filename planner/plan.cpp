// make_plan (planner choice and fallback), prompt assembly and the token counters.
#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "engine/engine.hpp"
#include "engine/tokenizer.hpp"
#include "planner/lm_planner.hpp"
#include "planner/plan_text.hpp"
#include "planner/request_analysis.hpp"
#include "planner/template_planner.hpp"
#include "precis/plan.hpp"

namespace precis {

namespace {

const std::vector<std::string>& placements() {
  static const std::vector<std::string> kPlacements = {"before_question", "system",
                                                       "answer_prefix"};
  return kPlacements;
}

// Single-pass substitution of {plan} and {prompt}.
std::string fill(const std::string& tmpl, const std::string& plan, const std::string& prompt) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.compare(i, 6, "{plan}") == 0) {
      out += plan;
      i += 6;
    } else if (tmpl.compare(i, 8, "{prompt}") == 0) {
      out += prompt;
      i += 8;
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

}  // namespace

void PlanOptions::validate() const {
  if (planner != PlannerKind::templated && planner != PlannerKind::lm)
    throw std::invalid_argument("planner: '" + std::string(to_string(planner)) +
                                "' is not one of template, lm");
  if (budget_tokens <= 0)
    throw std::invalid_argument("budget_tokens: must be positive, got " +
                                std::to_string(budget_tokens));
  if (std::find(placements().begin(), placements().end(), placement) == placements().end())
    throw std::invalid_argument("placement: '" + placement +
                                "' is not one of before_question, system, answer_prefix");
  if (!(temperature >= 0.0f) || temperature > 5.0f)
    throw std::invalid_argument("temperature: must be in [0, 5], got " +
                                std::to_string(temperature));
  if (max_lines < 2)
    throw std::invalid_argument("max_lines: must be at least 2, got " + std::to_string(max_lines));
  if (when != "auto" && when != "always" && when != "never")
    throw std::invalid_argument("when: '" + when + "' is not one of auto, always, never");
  if (min_request_tokens < 0)
    throw std::invalid_argument("min_request_tokens: must be >= 0, got " +
                                std::to_string(min_request_tokens));
}

Plan make_plan(const std::string& request, const PlanOptions& options, const PlanContext& context) {
  options.validate();
  if (options.planner == PlannerKind::lm && !context.generate)
    throw std::invalid_argument("planner 'lm' needs a generate callback (PlanContext::generate)");
  const TokenCounter count = context.count_tokens ? context.count_tokens : estimate_plan_tokens;
  const planner::RequestAnalysis analysis = planner::analyse_request(request);

  Plan plan;
  plan.task_kind = analysis.kind;
  if (options.planner == PlannerKind::lm) {
    const planner::LmPlanResult lm = planner::lm_plan(request, options, context.generate, count);
    plan.attempts = lm.attempts;
    if (lm.ok) {
      plan.code = lm.code;
      plan.tokens = lm.tokens;
      plan.planner_used = PlannerKind::lm;
      return plan;
    }
    plan.fell_back = true;
    plan.fallback_reason = "no usable plan from the model (" + lm.error + "); used the template";
  }
  const planner::TemplatePlan t =
      planner::template_plan(analysis, options.budget_tokens, options.max_lines, count);
  plan.code = t.code;
  plan.tokens = t.tokens;
  plan.note = t.note;
  plan.planner_used = PlannerKind::templated;
  return plan;
}

std::string RenderedPrompt::text() const {
  std::string out;
  for (const std::string* part : {&system, &user, &answer_prefix}) {
    if (part->empty()) continue;
    if (!out.empty()) out += "\n\n";
    out += *part;
  }
  return out;
}

RenderedPrompt render_plan(const std::string& prompt, const Plan& plan,
                           const std::string& placement, const PlanTemplates& templates) {
  const std::string* tmpl = placement == "before_question" ? &templates.before_question
                            : placement == "system"        ? &templates.system
                            : placement == "answer_prefix" ? &templates.answer_prefix
                                                           : nullptr;
  if (!tmpl)
    throw std::invalid_argument("placement: '" + placement +
                                "' is not one of before_question, system, answer_prefix");
  if (tmpl->find("{plan}") == std::string::npos)
    throw std::invalid_argument("the " + placement + " template has no {plan}");
  if (placement == "before_question" && tmpl->find("{prompt}") == std::string::npos)
    throw std::invalid_argument("the before_question template has no {prompt}");
  RenderedPrompt r;
  if (plan.code.empty()) {
    r.user = prompt;
    return r;
  }
  const std::string filled = fill(*tmpl, plan.code, prompt);
  if (placement == "before_question") {
    r.user = filled;
  } else if (placement == "system") {
    r.system = filled;
    r.user = prompt;
  } else {
    r.user = prompt;
    r.answer_prefix = filled;
  }
  return r;
}

std::string render_prompt(const std::string& prompt, const Plan& plan, const std::string& placement,
                          const PlanTemplates& templates) {
  return render_plan(prompt, plan, placement, templates).text();
}

int estimate_plan_tokens(const std::string& text) {
  int tokens = 0;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (std::isalnum(c) || c == '_' || c >= 0x80) {
      size_t j = i;
      while (j < text.size()) {
        const unsigned char d = static_cast<unsigned char>(text[j]);
        if (!(std::isalnum(d) || d >= 0x80)) break;
        ++j;
      }
      if (j == i) j = i + 1;  // '_' alone
      tokens += static_cast<int>((j - i + 3) / 4);
      i = j;
      continue;
    }
    ++tokens;  // punctuation and line breaks
    ++i;
  }
  return tokens;
}

TokenCounter tokenizer_counter(const engine::Tokenizer& tokenizer) {
  return [&tokenizer](const std::string& text) {
    return static_cast<int>(tokenizer.encode(text, /*add_bos=*/false).size());
  };
}

PlanContext engine_plan_context(engine::Engine& engine) {
  PlanContext ctx;
  ctx.count_tokens = tokenizer_counter(engine.tokenizer());
  ctx.generate = [&engine](const PlanGenerateRequest& r) {
    std::vector<int> ids = engine.tokenizer().encode(r.prompt, /*add_bos=*/true);
    const int room = engine.config().max_position_embeddings - static_cast<int>(ids.size());
    if (room <= 0)
      throw std::invalid_argument("the planner prompt has " + std::to_string(ids.size()) +
                                  " tokens; the model's context window is " +
                                  std::to_string(engine.config().max_position_embeddings));
    engine::SamplingParams p = planner::plan_sampling_params(r);
    p.max_tokens = std::max(1, std::min(r.max_tokens, room));
    engine::GenerationResult g = engine.generate_tokens(std::move(ids), p);
    return g.completions.empty() ? std::string() : g.completions.front().text;
  };
  return ctx;
}

}  // namespace precis
