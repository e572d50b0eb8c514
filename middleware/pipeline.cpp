// Pipeline::run: plugin stages, compress, plan, generate, plugin stages; with per-stage timings.
#include <chrono>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "engine/engine_service.hpp"
#include "engine/load_error.hpp"
#include "middleware/device.hpp"
#include "middleware/prompt_stages.hpp"
#include "middleware/server/chat_template.hpp"
#include "middleware/stage_runner.hpp"
#include "plugins/plugin_loader.hpp"
#include "precis/precis.hpp"

namespace precis {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

engine::SamplingParams to_sampling(const GenerateOptions& g) {
  engine::SamplingParams p;
  p.max_tokens = g.max_tokens;
  p.temperature = g.temperature;
  p.top_k = g.top_k;
  p.top_p = g.top_p;
  p.min_p = g.min_p;
  p.repetition_penalty = g.repetition_penalty;
  p.presence_penalty = g.presence_penalty;
  p.frequency_penalty = g.frequency_penalty;
  p.seed = g.seed;
  p.stop = g.stop;
  p.n = g.n;
  p.best_of = g.best_of;
  p.logprobs = g.logprobs;
  p.ignore_eos = g.ignore_eos;
  return p;
}

}  // namespace

std::string default_model_dir() {
  const std::filesystem::path dir = std::filesystem::path(PRECIS_SOURCE_DIR) / "models" / "default";
  return std::filesystem::exists(dir / "config.json") ? dir.string() : std::string();
}

struct Pipeline::Impl {
  PipelineConfig config;
  server::ChatTemplate chat_template = server::ChatTemplate::kPlain;
  std::unique_ptr<engine::EngineService> service;
  std::mutex stages_mu;
  std::vector<std::shared_ptr<Stage>> stages;
};

Pipeline::Pipeline(PipelineConfig config) : impl_(std::make_unique<Impl>()) {
  if (config.model.path.empty()) config.model.path = default_model_dir();
  if (config.model.path.empty())
    throw ConfigError(
        "/model/path: no model given and no default model is installed in models/default");
  if (config.compress_enabled) config.compress.validate();
  if (config.plan_enabled) config.plan.validate();
  to_sampling(config.generate).validate();
  // Plugins first (in config order, before any stage added later): a bad one fails fast,
  // before the model is loaded.
  for (size_t i = 0; i < config.plugins.size(); ++i) {
    try {
      impl_->stages.push_back(plugins::load_plugin(config.plugins[i]));
    } catch (const ConfigError& e) {
      throw ConfigError("/plugins/" + std::to_string(i) + ": " + e.what());
    }
  }
  engine::EngineOptions eo;
  eo.model_dir = config.model.path;
  eo.kv_cache_mb = config.model.kv_cache_mb;
  eo.block_size = config.model.block_size;
  eo.scheduler.max_batched_tokens = config.model.max_batched_tokens;
  DeviceOptions device;
  device.device = config.model.device;
  device.gpu_memory_fraction = config.model.gpu_memory_fraction;
  apply_device(eo, device);
  impl_->service = std::make_unique<engine::EngineService>(eo);
  impl_->chat_template =
      server::resolve_chat_template(config.server.chat_template, config.model.path);
  impl_->config = std::move(config);
}

Pipeline Pipeline::from_config_file(const std::string& path) {
  return Pipeline(PipelineConfig::from_file(path));
}

Pipeline::~Pipeline() = default;
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;

const PipelineConfig& Pipeline::config() const {
  return impl_->config;
}

PipelineStats Pipeline::stats() const {
  const engine::EngineService::Stats s = impl_->service->stats();
  return {s.kv.blocks_used, s.kv.blocks_total, s.running_requests};
}

void Pipeline::add_stage(std::shared_ptr<Stage> stage) {
  std::lock_guard<std::mutex> lock(impl_->stages_mu);
  impl_->stages.push_back(std::move(stage));
}

std::vector<std::pair<std::string, double>> Pipeline::plugin_metrics() const {
  std::vector<std::shared_ptr<Stage>> stages;
  {
    std::lock_guard<std::mutex> lock(impl_->stages_mu);
    stages = impl_->stages;
  }
  std::vector<std::pair<std::string, double>> out;
  for (const auto& s : stages)
    for (auto& m : s->metrics()) out.push_back(std::move(m));
  return out;
}

Result Pipeline::run(Request request, const TextCallback& on_text) {
  ChoiceTextCallback cb;
  if (on_text)
    cb = [&on_text](int index, const std::string& delta) {
      if (index == 0) on_text(delta);
    };
  return run(std::move(request), cb, nullptr);
}

namespace {

// A chat request's messages (as the before() stages left them) rendered with the chat template:
// system prompt and history become the prompt, the final turn the question. With compression on,
// the role markers of the history are protected by the compressor's keep markers.
void render_messages(const PipelineConfig& cfg, server::ChatTemplate t, Request& request) {
  if (request.messages.empty()) return;
  std::vector<server::ChatMessage> msgs;
  for (const Message& m : request.messages) msgs.push_back({m.role, m.content});
  const bool compress_on = request.compress.value_or(cfg.compress_enabled);
  server::RenderedChat chat =
      compress_on ? server::render_chat(msgs, t, cfg.compress.keep_open, cfg.compress.keep_close)
                  : server::render_chat(msgs, t);
  request.prompt = std::move(chat.history);
  request.question = std::move(chat.final);
  request.contexts.clear();
}

}  // namespace

Result Pipeline::run(Request request, const ChoiceTextCallback& on_text, CancelToken* cancel) {
  const PipelineConfig& cfg = impl_->config;
  engine::EngineService& svc = *impl_->service;
  const engine::Tokenizer& tok = svc.tokenizer();
  Result res;
  std::vector<std::shared_ptr<Stage>> stages;
  {
    std::lock_guard<std::mutex> lock(impl_->stages_mu);
    stages = impl_->stages;
  }
  const StageRunner runner(std::move(stages));
  runner.before(request, res);
  render_messages(cfg, impl_->chat_template, request);

  PromptTools tools;
  tools.tokenizer = &tok;
  tools.lm_compress = [&svc](const std::string& prompt, const CompressOptions& co) {
    // The engine is single-threaded: the LM scorer runs on its thread, between steps.
    return svc.call([&](engine::Engine& e) { return compress(prompt, co, e.tokenizer(), &e); })
        .get();
  };
  tools.lm_generate = [&svc](const PlanGenerateRequest& g) {
    engine::SamplingParams p;
    p.temperature = g.temperature;
    p.max_tokens = g.max_tokens;
    p.seed = g.seed;
    p.stop = g.stop;
    return svc.submit(svc.tokenizer().encode(g.prompt, true), p)
        .result.get()
        .completions.at(0)
        .text;
  };
  run_prompt_stages(cfg, request, tools, res);
  const std::string final_prompt = res.final_prompt;

  // Generate, unless a stage (e.g. the cache plugin) answers from the final prompt. Streamed
  // text goes through the stages' stream filters (e.g. redact's restore).
  FilteredStream stream(runner.stages(), request, on_text);
  const ChoiceTextCallback stream_cb = stream.callback();
  const auto t = Clock::now();
  const GenerateOptions gen = request.generate.value_or(cfg.generate);
  engine::SamplingParams sp = to_sampling(gen);
  std::vector<int> ids = tok.encode(final_prompt, true);
  res.final_prompt_tokens = static_cast<int>(ids.size());
  if (runner.answer(request, final_prompt, gen, res, stream_cb)) {
    stream.finish();
    runner.after(request, res);
    return res;
  }
  engine::StreamCallback cb;
  if (stream_cb) cb = stream_cb;
  engine::Submission sub = svc.submit(std::move(ids), sp, cb);
  if (cancel) cancel->on_cancel(sub.cancel);
  engine::GenerationResult g = sub.result.get();
  for (const auto& c : g.completions) {
    Choice ch;
    ch.text = c.text;
    ch.finish_reason = c.finish_reason;
    ch.tokens = static_cast<int>(c.tokens.size());
    ch.cumulative_logprob = c.cumulative_logprob;
    if (gen.logprobs > 0) {
      for (size_t i = 0; i < c.tokens.size(); ++i) {
        ch.token_texts.push_back(tok.token_bytes(c.tokens[i]));
        ch.token_logprobs.push_back(i < c.logprobs.size() ? c.logprobs[i] : 0.0f);
        std::vector<TokenAlternative> alts;
        if (i < c.top_logprobs.size())
          for (const auto& a : c.top_logprobs[i])
            alts.push_back({tok.token_bytes(a.token), a.logprob});
        ch.top_logprobs.push_back(std::move(alts));
      }
    }
    res.completion_tokens += ch.tokens;
    res.choices.push_back(std::move(ch));
  }
  if (!res.choices.empty()) res.text = res.choices[0].text;
  res.generation_tokens_per_second = g.seconds > 0 ? res.completion_tokens / g.seconds : 0.0;
  res.timings.push_back({"generate", ms_since(t)});
  stream.finish();
  runner.after_generate(request, final_prompt, gen, res);
  runner.after(request, res);
  return res;
}

}  // namespace precis
