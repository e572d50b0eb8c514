#include "middleware/server/proxy_prepare.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "engine/tokenizer.hpp"

namespace precis::server {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string joined_prompt(const Request& r) {
  std::string text = r.prompt;
  for (const auto& c : r.contexts) text += (text.empty() ? "" : "\n\n") + c;
  if (!r.question.empty()) text += (text.empty() ? "" : "\n\n") + r.question;
  return text;
}

}  // namespace

ProxyPrepare::ProxyPrepare(const PipelineConfig& config) : config_(config) {
  const bool given = !config.model.path.empty();
  const std::string dir = given ? config.model.path : default_model_dir();
  if (!dir.empty()) {
    const std::string path = (std::filesystem::path(dir) / "tokenizer.model").string();
    try {
      tokenizer_ = engine::Tokenizer::load(path);
      tokenizer_dir_ = dir;
    } catch (const std::exception& e) {
      if (given)
        throw ConfigError("/model/path: no usable tokenizer for proxy mode: " +
                          std::string(e.what()));
    }
  }
  if (!tokenizer_ && config.compress_enabled)
    std::fprintf(stderr,
                 "precis proxy: warning: no tokenizer (give a model directory with "
                 "tokenizer.model); compression is disabled\n");
  if (config.compress_enabled && config.compress.scorer == "lm")
    std::fprintf(stderr,
                 "precis proxy: warning: the \"lm\" compression scorer needs a local model; "
                 "using \"stat\"\n");
  if (config.plan_enabled && config.plan.planner == "lm")
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
  const PipelineConfig& cfg = config_;
  res.original_prompt = joined_prompt(request);
  res.original_tokens = count_tokens(res.original_prompt);

  auto t = Clock::now();
  const bool compress_on = tokenizer_ && request.compress.value_or(cfg.compress_enabled);
  if (compress_on) {
    CompressOptions co = cfg.compress;
    if (co.scorer == "lm") co.scorer = "stat";
    if (request.rate) co.rate = *request.rate, co.target_tokens.reset();
    if (request.target_tokens) co.target_tokens = *request.target_tokens, co.rate.reset();
    co.question = request.question;
    co.contexts = request.contexts;
    co.validate();
    res.compression = compress(request.prompt, co, *tokenizer_, nullptr);
    res.compressed_prompt = res.compression.text;
    res.compressed_tokens = res.compression.compressed_tokens;
    res.timings.push_back({"compress", ms_since(t)});
  } else {
    res.compressed_prompt = res.original_prompt;
    res.compressed_tokens = res.original_tokens;
  }

  t = Clock::now();
  std::string planner = request.planner.value_or(cfg.plan_enabled ? cfg.plan.planner : "none");
  if (planner == "lm") planner = "template";
  res.final_prompt = res.compressed_prompt;
  if (planner != "none") {
    PlanOptions po = cfg.plan;
    po.planner = planner;
    PlanContext ctx;
    if (tokenizer_) ctx.count_tokens = tokenizer_counter(*tokenizer_);
    res.plan =
        make_plan(request.question.empty() ? res.original_prompt : request.question, po, ctx);
    res.final_prompt = render_prompt(res.compressed_prompt, res.plan, po.placement);
    res.timings.push_back({"plan", ms_since(t)});
  }
  res.final_prompt_tokens = count_tokens(res.final_prompt);
}

}  // namespace precis::server
