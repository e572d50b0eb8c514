#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/engine.hpp"
#include "engine/gguf_model.hpp"
#include "engine/tokenizer.hpp"
#include "middleware/cli/commands.hpp"
#include "middleware/cli/engine_options.hpp"
#include "middleware/cli/parse.hpp"
#include "middleware/cli/result_json.hpp"
#include "precis/plan.hpp"

namespace po = boost::program_options;

namespace precis::cli {

int cmd_plan(const Args& args) {
  EngineFlags ef;
  ef.kv_cache_mb = 64;  // a plan is a few hundred tokens
  std::string prompt, prompt_file, placement_out;
  PlanOptions o;
  std::string planner(to_string(o.planner));
  int64_t seed = 0;
  bool json = false;
  po::options_description desc("options");
  desc.add_options()("prompt", po::value(&prompt), "the request to plan for")(
      "prompt-file", po::value(&prompt_file), "read the request from this file")(
      "planner", po::value(&planner)->default_value(planner),
      "template (no model) or lm (asks the model, falls back to template)")(
      "model", po::value(&ef.model),
      "model directory; needed by --planner lm, and counts plan tokens with its tokenizer")(
      "budget-tokens", po::value(&o.budget_tokens)->default_value(o.budget_tokens),
      "the plan's size limit in tokens")(
      "temperature", po::value(&o.temperature)->default_value(o.temperature),
      "lm planner: first attempt's temperature (the retry uses half)")(
      "seed", po::value(&seed)->default_value(0), "lm planner: random seed")(
      "kv-cache-mb", po::value(&ef.kv_cache_mb)->default_value(ef.kv_cache_mb),
      "lm planner: KV cache memory (MiB)")(
      "render", po::value(&placement_out),
      "also print the final prompt with the plan placed: before_question, system or "
      "answer_prefix")("json", po::bool_switch(&json),
                       "print {plan, planner, task_kind, fell_back, fallback_reason, tokens}");
  add_device_flags(desc, ef.device);
  if (auto rc = parse_args("plan", "Writes a code-form plan for a request.", args, desc))
    return *rc;
  if (seed < 0) throw std::invalid_argument("--seed must be non-negative");
  o.seed = static_cast<uint64_t>(seed);
  o.planner = planner_flag(planner);
  if (!placement_out.empty()) o.placement = placement_out;
  o.validate();
  const std::string request = read_prompt(prompt, prompt_file);

  // The default model serves when --model is not given.
  const bool lm = o.planner == PlannerKind::lm;
  if (ef.model.empty() && lm) ef.model = default_model_path();
  if (lm && ef.model.empty())
    throw std::invalid_argument("--planner lm needs --model DIR (the model that writes the plan)");

  PlanContext ctx;
  std::unique_ptr<engine::Engine> eng;
  std::unique_ptr<engine::Tokenizer> tok;
  if (lm) {
    eng = std::make_unique<engine::Engine>(to_engine_options(ef));
    ctx = engine_plan_context(*eng);
  } else if (!ef.model.empty()) {
    // The template planner needs only the tokenizer to count.
    tok = engine::load_model_tokenizer(ef.model);
    ctx.count_tokens = tokenizer_counter(*tok);
  }
  const Plan plan = make_plan(request, o, ctx);

  if (json) {
    nlohmann::json out = {{"plan", plan.code},
                          {"planner", planner_text(plan)},
                          {"task_kind", task_kind_text(plan)},
                          {"fell_back", plan.fell_back},
                          {"fallback_reason", plan.fallback_reason},
                          {"tokens", plan.tokens}};
    if (!plan.note.empty()) out["note"] = plan.note;
    if (!placement_out.empty()) out["prompt"] = render_prompt(request, plan, placement_out);
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::printf("%s\n", plan.code.c_str());
  if (!placement_out.empty())
    std::printf("\n--- prompt (%s)\n%s\n", placement_out.c_str(),
                render_prompt(request, plan, placement_out).c_str());
  std::fprintf(stderr, "[planner %s, task %s, %d tokens%s%s%s%s]\n", planner_text(plan).c_str(),
               task_kind_text(plan).c_str(), plan.tokens, plan.fell_back ? "; fell back: " : "",
               plan.fallback_reason.c_str(), plan.note.empty() ? "" : "; ", plan.note.c_str());
  return 0;
}

}  // namespace precis::cli
