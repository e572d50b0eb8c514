#include "middleware/prompt_stages.hpp"

#include <algorithm>
#include <chrono>

#include "engine/tokenizer.hpp"

namespace precis {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

int count_tokens(const PromptTools& tools, const std::string& text) {
  return tools.tokenizer ? static_cast<int>(tools.tokenizer->encode(text, false).size())
                         : estimate_plan_tokens(text);
}

}  // namespace

std::string joined_prompt(const Request& r) {
  std::string text = r.prompt;
  for (const auto& c : r.contexts) text += (text.empty() ? "" : "\n\n") + c;
  if (!r.question.empty()) text += (text.empty() ? "" : "\n\n") + r.question;
  return text;
}

PlannerKind requested_planner(const PipelineConfig& cfg, const Request& request) {
  return request.planner.value_or(cfg.plan_enabled ? cfg.plan.planner : PlannerKind::none);
}

void run_prompt_stages(const PipelineConfig& cfg, const Request& request, const PromptTools& tools,
                       Result& res) {
  res.original_prompt = joined_prompt(request);
  res.original_tokens = count_tokens(tools, res.original_prompt);

  auto t = Clock::now();
  // Compressing a few tokens saves nothing and can drop the whole request ("hi" at rate 0.5).
  constexpr int kMinTokensToCompress = 16;
  if (tools.tokenizer && request.compress.value_or(cfg.compress_enabled) &&
      res.original_tokens >= kMinTokensToCompress) {
    CompressOptions co = cfg.compress;
    if (co.scorer == ScorerKind::lm && !tools.lm_compress) co.scorer = ScorerKind::stat;
    if (request.rate) co.rate = *request.rate, co.target_tokens.reset();
    if (request.target_tokens) co.target_tokens = *request.target_tokens, co.rate.reset();
    co.question = request.question;
    co.contexts = request.contexts;
    co.validate();
    res.compression = co.scorer == ScorerKind::lm
                          ? tools.lm_compress(request.prompt, co)
                          : compress(request.prompt, co, *tools.tokenizer, nullptr);
    res.compressed_prompt = res.compression.text;
    res.compressed_tokens = res.compression.compressed_tokens;
    res.timings.push_back({"compress", ms_since(t)});
  } else {
    res.compressed_prompt = res.original_prompt;
    res.compressed_tokens = res.original_tokens;
  }

  // Plan: from the question when there is one, else from the whole request.
  t = Clock::now();
  PlannerKind planner = requested_planner(cfg, request);
  if (planner == PlannerKind::lm && !tools.lm_generate) planner = PlannerKind::templated;
  res.final_prompt = res.compressed_prompt;
  const std::string source = request.question.empty() ? res.original_prompt : request.question;
  PlanContext ctx;
  if (tools.tokenizer) ctx.count_tokens = tokenizer_counter(*tools.tokenizer);
  // The config's plan.when (a request's own precis.plan forces its choice).
  if (planner != PlannerKind::none && !request.planner) {
    if (cfg.plan.when == "never") {
      planner = PlannerKind::none;
    } else if (cfg.plan.when == "auto") {
      PlanOptions probe = cfg.plan;
      probe.planner = PlannerKind::templated;  // the task kind, without a model call
      const TaskKind kind = make_plan(source, probe, ctx).task_kind.value_or(TaskKind::general);
      if (!plan_helps(kind) || res.original_tokens < cfg.plan.min_request_tokens) {
        planner = PlannerKind::none;
        res.plan.task_kind = kind;
        res.plan.note = "not planned (plan.when auto: task kind " + std::string(to_string(kind)) +
                        ", " + std::to_string(res.original_tokens) + " tokens)";
      }
    }
  }
  if (planner != PlannerKind::none) {
    PlanOptions po = cfg.plan;
    po.planner = planner;
    // A plan is bounded by the request it serves: at most half its tokens (at least 32).
    po.budget_tokens = std::min(po.budget_tokens, std::max(32, res.original_tokens / 2));
    if (planner == PlannerKind::lm) ctx.generate = tools.lm_generate;
    res.plan = make_plan(source, po, ctx);
    res.final_prompt = render_prompt(res.compressed_prompt, res.plan, po.placement);
    res.timings.push_back({"plan", ms_since(t)});
  }
}

}  // namespace precis
