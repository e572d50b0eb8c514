// Pipeline::run: plugin stages, compress, plan, generate, plugin stages; with per-stage timings.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "engine/data_root.hpp"
#include "engine/engine_service.hpp"
#include "engine/load_error.hpp"
#include "middleware/chat_prompt.hpp"
#include "middleware/device.hpp"
#include "middleware/prompt_stages.hpp"
#include "middleware/stage_runner.hpp"
#include "planner/lm_planner.hpp"
#include "plugins/plugin_loader.hpp"
#include "precis/precis.hpp"

namespace precis {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

std::string kjv_model_dir() {
  const std::filesystem::path dir = engine::data_root() / "models" / "default";
  return std::filesystem::exists(dir / "config.json") ? dir.string() : std::string();
}

std::string default_model_path() {
  const std::filesystem::path gguf =
      engine::data_root() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (std::filesystem::exists(gguf)) return gguf.string();
  const std::string kjv = kjv_model_dir();
  static std::once_flag said;
  if (!kjv.empty())
    std::call_once(said, [&] {
      std::fprintf(stderr,
                   "precis: the default model (SmolLM2-135M-Instruct) is not fetched "
                   "(bash scripts/fetch-default-model.sh); using the small KJV model %s\n",
                   kjv.c_str());
    });
  return kjv;
}

struct Pipeline::Impl {
  PipelineConfig config;
  engine::ChatTemplateInfo chat_template;
  std::unique_ptr<engine::EngineService> service;
  std::mutex stages_mu;
  std::vector<std::shared_ptr<Stage>> stages;
};

Pipeline::Pipeline(PipelineConfig config) : impl_(std::make_unique<Impl>()) {
  if (config.model.path.empty()) config.model.path = default_model_path();
  if (config.model.path.empty())
    throw ConfigError(
        "/model/path: no model given, the default model is not fetched "
        "(bash scripts/fetch-default-model.sh) and models/default is missing");
  if (config.compress_enabled) config.compress.validate();
  if (config.plan_enabled) config.plan.validate();
  engine::compile_sampling(config.generate);  // validates, and compiles any response format
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
  eo.int8_activations = config.model.int8_activations;
  eo.prefix_caching = config.model.prefix_caching;
  eo.kv_cache_dtype = kv_cache_dtype_option(config.model.kv_cache_dtype, "model.kv_cache_dtype");
  DeviceOptions device;
  device.device = config.model.device;
  device.gpu_memory_fraction = config.model.gpu_memory_fraction;
  apply_device(eo, device);
  impl_->service = std::make_unique<engine::EngineService>(eo);
  impl_->chat_template =
      chat_template_for(config.chat_template, config.model.path, impl_->service->chat_template());
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
  return {s.kv.blocks_used, s.kv.blocks_total, s.running_requests, s.kv.prefix_queried_tokens,
          s.kv.prefix_hit_tokens};
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

// How a chat request's rendering joins the pipeline.
struct ChatPrompt {
  bool has_bos = false;  // the text starts with the template's BOS token
  std::string suffix;    // template text that follows the final prompt (end of turn, ...)
};

// A chat request's messages (as the before() stages left them) rendered with the chat template:
// the history (system prompt, earlier turns; the template's text protected by keep markers when
// compressing) becomes the prompt, a long final message's documents the contexts, its question
// the question, and the template's text after it the suffix of the final prompt. Without
// compression or a plan, the whole rendering is the question: the model gets the template's text
// byte for byte.
ChatPrompt render_messages(const PipelineConfig& cfg, const engine::ChatTemplateInfo& t,
                           Request& request) {
  if (request.messages.empty()) return {};
  const bool compress_on = request.compress.value_or(cfg.compress_enabled);
  const bool plan_on = requested_planner(cfg, request) != PlannerKind::none;
  // An explicit question (Request::question) is the final message's question; one the message
  // does not contain is placed after its documents, so the model sees it in every mode.
  const std::string explicit_question = request.question;
  bool question_outside = !explicit_question.empty();
  for (auto m = request.messages.rbegin(); question_outside && m != request.messages.rend(); ++m)
    if (m->role == "user") {
      question_outside = m->content.find(explicit_question) == std::string::npos;
      break;
    }
  RenderedChat chat = compress_on
                          ? render_chat_messages(t, request.messages, cfg.compress.keep_open,
                                                 cfg.compress.keep_close, explicit_question)
                          : render_chat_messages(t, request.messages, "", "", explicit_question);
  ChatPrompt out{chat.has_bos, ""};
  request.contexts.clear();
  if (!compress_on && !plan_on && !question_outside) {
    request.prompt.clear();
    request.question = std::move(chat.full);
    return out;
  }
  request.prompt = std::move(chat.history);
  request.contexts = std::move(chat.documents);
  request.question = std::move(chat.question);
  out.suffix = std::move(chat.suffix);
  return out;
}

}  // namespace

Result Pipeline::run(Request request, const ChoiceTextCallback& on_text, CancelToken* cancel) {
  try {
    return run_request(std::move(request), on_text, cancel);
  } catch (const engine::EngineStopped& e) {
    throw ShuttingDown(std::string("the pipeline is shutting down: ") + e.what());
  }
}

Result Pipeline::run_request(Request request, const ChoiceTextCallback& on_text,
                             CancelToken* cancel) {
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
  const bool chat = !request.messages.empty();
  if (!chat) take_question_out_of_prompt(request);
  const ChatPrompt chat_prompt = render_messages(cfg, impl_->chat_template, request);

  PromptTools tools;
  tools.tokenizer = &tok;
  tools.lm_compress = [&svc](const std::string& prompt, const CompressOptions& co) {
    // The engine is single-threaded: the LM scorer runs on its thread, between steps.
    return svc.call([&](engine::Engine& e) { return compress(prompt, co, e.tokenizer(), &e); })
        .get();
  };
  tools.lm_generate = [&svc](const PlanGenerateRequest& g) {
    return svc.submit(svc.tokenizer().encode(g.prompt, true), planner::plan_sampling_params(g))
        .result.get()
        .completions.at(0)
        .text;
  };
  run_prompt_stages(cfg, request, tools, res);
  res.final_prompt += chat_prompt.suffix;
  const std::string final_prompt = res.final_prompt;

  // Generate, unless a stage (e.g. the cache plugin) answers from the final prompt. Streamed
  // text goes through the stages' stream filters (e.g. redact's restore).
  FilteredStream stream(runner.stages(), request, on_text);
  const ChoiceTextCallback stream_cb = stream.callback();
  const auto t = Clock::now();
  const GenerateOptions gen = request.generate.value_or(cfg.generate);
  engine::SamplingParams sp = engine::compile_sampling(gen);
  if (chat)  // the template's end-of-turn text ends the answer, whatever the tokenizer
    for (const std::string& s : impl_->chat_template.stop_strings)
      if (std::find(sp.stop.begin(), sp.stop.end(), s) == sp.stop.end()) sp.stop.push_back(s);
  // A chat prompt holds the template's special tokens as text: they become their ids.
  std::vector<int> ids =
      tok.encode(final_prompt, /*add_bos=*/!chat_prompt.has_bos, /*parse_special=*/chat);
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
  if (!g.error.empty()) throw std::runtime_error(g.error);
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
