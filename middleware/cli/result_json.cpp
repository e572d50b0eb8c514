#include "middleware/cli/result_json.hpp"

namespace precis::cli {

std::string planner_text(const Plan& plan) {
  return plan.planner_used == PlannerKind::none ? "" : std::string(to_string(plan.planner_used));
}

std::string task_kind_text(const Plan& plan) {
  return plan.task_kind ? std::string(to_string(*plan.task_kind)) : "";
}

nlohmann::json result_to_json(const Result& r) {
  nlohmann::json choices = nlohmann::json::array();
  for (const auto& c : r.choices)
    choices.push_back({{"text", c.text},
                       {"finish_reason", c.finish_reason},
                       {"tokens", c.tokens},
                       {"cumulative_logprob", c.cumulative_logprob}});
  nlohmann::json timings = nlohmann::json::object();
  for (const auto& t : r.timings) timings[t.stage] = t.ms;
  return {{"text", r.text},
          {"choices", choices},
          {"compressed_prompt", r.compressed_prompt},
          {"final_prompt", r.final_prompt},
          {"plan",
           {{"code", r.plan.code},
            {"planner", planner_text(r.plan)},
            {"task_kind", task_kind_text(r.plan)},
            {"fell_back", r.plan.fell_back}}},
          {"usage",
           {{"original_prompt_tokens", r.original_tokens},
            {"compressed_prompt_tokens", r.compressed_tokens},
            {"final_prompt_tokens", r.final_prompt_tokens},
            {"completion_tokens", r.completion_tokens}}},
          {"tokens_per_second", r.generation_tokens_per_second},
          {"timings_ms", timings}};
}

}  // namespace precis::cli
