#include "middleware/server/proxy_prepare.hpp"

#include <cstdio>
#include <filesystem>

#include "engine/gguf_model.hpp"
#include "engine/tokenizer.hpp"
#include "middleware/prompt_stages.hpp"

namespace precis::server {

ProxyPrepare::ProxyPrepare(const PipelineConfig& config) : config_(config) {
  const bool given = !config.model.path.empty();
  const std::string dir = given ? config.model.path : default_model_path();
  if (!dir.empty()) {
    try {
      tokenizer_ = engine::load_model_tokenizer(dir);
      tokenizer_dir_ = dir;
    } catch (const std::exception& e) {
      if (given)
        throw ConfigError("/model/path: no usable tokenizer for proxy mode: " +
                          std::string(e.what()));
    }
  }
  if (!tokenizer_ && config.compress_enabled)
    std::fprintf(stderr,
                 "precis proxy: warning: no tokenizer (give a GGUF file or a model directory); "
                 "compression is disabled\n");
  if (config.compress_enabled && config.compress.scorer == ScorerKind::lm)
    std::fprintf(stderr,
                 "precis proxy: warning: the \"lm\" compression scorer needs a local model; "
                 "using \"stat\"\n");
  if (config.plan_enabled && config.plan.planner == PlannerKind::lm)
    std::fprintf(stderr,
                 "precis proxy: warning: the \"lm\" planner needs a local model; using "
                 "\"template\"\n");
}

ProxyPrepare::~ProxyPrepare() = default;

int ProxyPrepare::count_tokens(const std::string& text) const {
  return tokenizer_ ? static_cast<int>(tokenizer_->encode(text, false).size())
                    : estimate_plan_tokens(text);
}

void ProxyPrepare::prepare(const Request& request, Result& res) const {
  // No local model: the "lm" scorer and planner fall back to "stat" and "template".
  PromptTools tools;
  tools.tokenizer = tokenizer_.get();
  run_prompt_stages(config_, request, tools, res);
  res.final_prompt_tokens = count_tokens(res.final_prompt);
}

}  // namespace precis::server
