// The compress and plan stages of a request, shared by the pipeline (embedded engine) and proxy
// mode (no local model): they differ only in what they can offer the stages, which PromptTools
// says. Fills the prompt fields, token counts, compression, plan and timings of a Result.
#pragma once

#include <functional>
#include <string>

#include "precis/precis.hpp"

namespace precis::engine {
class Tokenizer;
}

namespace precis {

struct PromptTools {
  // Counts and splits tokens. Null: no compression, and token counts are estimates.
  const engine::Tokenizer* tokenizer = nullptr;
  // The "lm" scorer: compresses with the model (on the engine's thread). Null: "stat" serves.
  std::function<CompressResult(const std::string& prompt, const CompressOptions&)> lm_compress;
  // The "lm" planner's generator. Null: the "template" planner serves.
  std::function<std::string(const PlanGenerateRequest&)> lm_generate;
};

// The request's prompt, contexts and question joined with blank lines: what the model would see
// without precis.
std::string joined_prompt(const Request& r);

// The planner a request asks for: its own precis.plan, else the config's (none when planning is
// off). plan.when may still decide against planning.
PlannerKind requested_planner(const PipelineConfig& cfg, const Request& request);

// original_prompt/tokens, compression, compressed_prompt/tokens, plan, final_prompt and the
// "compress" / "plan" timings of `res`, from `request` under `cfg` (the request's own settings
// override the config's). Throws std::invalid_argument for invalid compression settings.
void run_prompt_stages(const PipelineConfig& cfg, const Request& request, const PromptTools& tools,
                       Result& res);

}  // namespace precis
