// The precis C++ SDK. A Pipeline runs a request through its stages in order: plugin stages
// (before), compress, plan, generate on the embedded engine, plugin stages (after).
//
//   auto pipeline = precis::Pipeline::from_config_file("precis.json");
//   precis::Request req;
//   req.prompt = long_document;
//   req.question = "Who stayed with Naomi?";
//   precis::Result r = pipeline.run(req);
//   std::cout << r.text << " (" << r.original_tokens << " -> " << r.compressed_tokens << ")\n";
//
// run() is thread-safe: many threads may call it on one Pipeline, and their generations are
// batched together by the engine's scheduler.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "precis/compress.hpp"
#include "precis/errors.hpp"
#include "precis/plan.hpp"
#include "precis/sampling.hpp"

namespace precis {

// Sampling settings (OpenAI's names and meanings): the same type the engine samples with
// (precis/sampling.hpp). Its defaults are the engine's; PipelineConfig's `generate` starts at
// max_tokens 128 and temperature 0.7.
using GenerateOptions = SamplingParams;

struct ModelOptions {
  std::string path;  // Hugging Face Llama directory; empty: the shipped default model
  // KV cache memory (MiB); 0: the device's default (512 on the CPU; on CUDA the rest of
  // gpu_memory_fraction after the weights).
  double kv_cache_mb = 0;
  int block_size = 16;
  int max_batched_tokens = 512;
  std::string device;                // "cpu", "cuda" or "auto"; empty: $PRECIS_DEVICE, else "auto"
  double gpu_memory_fraction = 0.9;  // CUDA: share of the GPU's memory precis may use
  // CPU: quantized weights meet activations quantized to 8 bits per 32, as llama.cpp does (with
  // AVX-512 VNNI an integer GEMM over weights repacked at load: 2-4x faster prefill and LM
  // scoring; log-probs off by a few hundredths to a tenth of a nat, which can change an answer).
  // false: f32 activations, the reference.
  bool int8_activations = false;
  // Automatic prefix caching: requests whose prompts start alike (system prompts, few-shot
  // examples) reuse the KV blocks computed before instead of recomputing them; same outputs.
  bool prefix_caching = true;
  // CPU: what the KV cache stores K and V in, "f16" (half the memory per token) or "f32" (exact).
  // The CUDA backend always keeps f16.
  std::string kv_cache_dtype = "f16";
};

// One entry of the config's "plugins" list: a shared library (`path`) or a plugin compiled into
// precis (`builtin`: "redact" or "cache"), with its settings as JSON text. See plugins/README.md.
struct PluginConfig {
  std::string name;             // used in errors and logs; default: builtin name or file name
  std::string path;             // shared library to dlopen (exactly one of path and builtin)
  std::string builtin;          // name of a built-in plugin
  std::string settings = "{}";  // the "settings" object, as JSON text
};

struct PipelineConfig {
  ModelOptions model;
  bool compress_enabled = true;
  CompressOptions compress;  // rate 0.5 unless the config says otherwise
  bool plan_enabled = true;
  PlanOptions plan;
  GenerateOptions generate;  // max_tokens 128, temperature 0.7 unless the config says otherwise
  std::vector<PluginConfig> plugins;  // loaded in order by Pipeline's constructor
  // How chat messages become the model's prompt: "auto" (the model's own template, or the one
  // its tokenizer_config.json names), "chatml", "llama2", "llama3", "mistral", "phi3", "gemma",
  // "qwen2" or "plain". In the config file it is "server": {"chat_template": ...}.
  std::string chat_template = "auto";

  PipelineConfig();
  // Parses and validates a JSON config (the "server" and "upstream" sections too, which the HTTP
  // server reads: middleware/server/serve_config.hpp); throws ConfigError (std::runtime_error)
  // whose message starts with the JSON path of the bad field, e.g. "/compress/rate: must be in (0,
  // 1], got 0".
  static PipelineConfig from_json(const std::string& json_text);
  static PipelineConfig from_file(const std::string& path);
};

// One message of a chat request. Roles as OpenAI names them: "system", "user", "assistant".
struct Message {
  std::string role;
  std::string content;
};

struct Request {
  std::string prompt;  // the text to work on (documents, instructions, ...)
  // Optional: protected, planned for, placed last. Where the prompt (or a chat request's final
  // user message) holds it, it is taken out there after the before() stages, so it appears once.
  std::string question;
  std::vector<std::string> contexts;  // optional: explicit documents instead of blank-line split
  // A chat request: every message the model will see, system and history included. Stages'
  // before() must treat each message's content as model input (the redact plugin masks them
  // all). After the before() stages, the embedded pipeline renders the messages with the model's
  // chat template into prompt (system + history) and question (the final turn); proxy mode
  // forwards them as they stand then, the last user message compressed and planned.
  std::vector<Message> messages;
  // Per-request overrides of the pipeline's configuration.
  std::optional<bool> compress;
  std::optional<double> rate;
  std::optional<int> target_tokens;
  std::optional<PlannerKind> planner;
  std::optional<GenerateOptions> generate;
  // Per-request scratch space for stages (e.g. redact's placeholder -> original mapping), kept
  // from before() to after(); never sent to the model. Stages prefix their keys with their name.
  std::map<std::string, std::string> metadata;
};

struct StageTiming {
  std::string stage;
  double ms = 0.0;
};

struct TokenAlternative {
  std::string token;  // the token's text (may be a partial UTF-8 character)
  float logprob = 0.0f;
};

struct Choice {
  std::string text;
  std::string finish_reason;  // "stop", "length" or "abort"
  int tokens = 0;
  double cumulative_logprob = 0.0;
  // Per generated token, filled when GenerateOptions::logprobs > 0 (OpenAI's logprobs shape).
  std::vector<std::string> token_texts;
  std::vector<float> token_logprobs;
  std::vector<std::vector<TokenAlternative>> top_logprobs;
};

struct Result {
  std::string text;  // choices[0].text
  std::vector<Choice> choices;
  std::string original_prompt;    // prompt (+ question), as given
  std::string compressed_prompt;  // after compression (the original when compression is off)
  std::string final_prompt;       // what the model was given, plan included
  Plan plan;                      // empty code when planning is off
  CompressResult compression;     // details of the compress stage (kept mask, ...)
  int original_tokens = 0;        // prompt tokens before compression
  int compressed_tokens = 0;      // after compression
  int final_prompt_tokens = 0;    // with the plan, as generated from
  int completion_tokens = 0;
  double generation_tokens_per_second = 0.0;
  std::vector<StageTiming> timings;
};

// A stage's view of one choice's streamed text: push() takes each new delta and returns what may
// go to the client now; finish() returns whatever was held back, once the choice has ended. A
// filter may hold text back (e.g. the start of what may be a placeholder) but must not lose any.
class StreamFilter {
 public:
  virtual ~StreamFilter() = default;
  virtual std::string push(const std::string& delta) = 0;
  virtual std::string finish() = 0;
};

// A pipeline stage provided by a plugin or by application code: it may read and change the
// request before the pipeline and the result after it. Throwing fails the request with the
// stage's name in the message. One Stage serves all requests: its methods may be called from
// many threads at once. Order: before() of each stage in order, compress, plan,
// before_generate() of each stage in order (until one returns true), generate (skipped when one
// returned true), after_generate() (only when generation ran), after() in reverse order.
class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string name() const = 0;
  virtual void before(Request& request) { (void)request; }
  virtual void after(const Request& request, Result& result) {
    (void)request;
    (void)result;
  }
  // Just before generation, with the final prompt (after compression and planning; in proxy
  // mode, the canonical JSON of exactly what is sent upstream: messages or prompt, model and
  // sampling fields) and the effective sampling options. Return true after filling result.choices
  // to skip generation (a cache hit); the pipeline then fills result.text and completion_tokens
  // from the choices.
  virtual bool before_generate(const Request& request, const std::string& final_prompt,
                               const GenerateOptions& options, Result& result) {
    (void)request;
    (void)final_prompt;
    (void)options;
    (void)result;
    return false;
  }
  // Just after generation (before any after()), e.g. to store the result in a cache.
  virtual void after_generate(const Request& request, const std::string& final_prompt,
                              const GenerateOptions& options, const Result& result) {
    (void)request;
    (void)final_prompt;
    (void)options;
    (void)result;
  }
  // A filter for one choice's streamed deltas (called once per choice that streams, after
  // before()), so that what after() does to the final text also happens to the stream (e.g.
  // redact's restore). nullptr: deltas pass unchanged. Filters run in reverse stage order, like
  // after().
  virtual std::unique_ptr<StreamFilter> stream_filter(const Request& request) const {
    (void)request;
    return nullptr;
  }
  // Prometheus-style samples (full metric name -> value) for /metrics; names ending in _total
  // are counters, others gauges. See plugins/README.md for the built-in plugins' names.
  virtual std::vector<std::pair<std::string, double>> metrics() const { return {}; }
};

// Called with each new piece of the first choice's text as it is generated.
using TextCallback = std::function<void(const std::string& delta)>;
// Called with each new piece of any choice's text (choice index, delta), for n > 1 streaming.
using ChoiceTextCallback = std::function<void(int index, const std::string& delta)>;

// Lets another thread abort a running request (e.g. its HTTP client went away): generation
// stops, its KV blocks are freed at once, and run() returns with finish_reason "abort".
class CancelToken {
 public:
  void cancel();
  bool cancelled() const;
  // Used by the pipeline: `fn` runs at once if already cancelled, else on cancel().
  void on_cancel(std::function<void()> fn);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::function<void()> fn_;
};

// A snapshot of the embedded engine's load (for /metrics).
struct PipelineStats {
  int kv_blocks_used = 0;
  int kv_blocks_total = 0;
  int running_requests = 0;
  // Prefix caching: prompt tokens looked up since start, and those found cached.
  uint64_t prefix_cache_queried_tokens = 0;
  uint64_t prefix_cache_hit_tokens = 0;
};

class Pipeline {
 public:
  explicit Pipeline(PipelineConfig config);
  static Pipeline from_config_file(const std::string& path);
  ~Pipeline();
  Pipeline(Pipeline&&) noexcept;
  Pipeline& operator=(Pipeline&&) noexcept;

  void add_stage(std::shared_ptr<Stage> stage);
  Result run(Request request, const TextCallback& on_text = {});
  // Throws ShuttingDown when the engine stops before the request is served.
  Result run(Request request, const ChoiceTextCallback& on_text, CancelToken* cancel);

  const PipelineConfig& config() const;
  PipelineStats stats() const;
  // Every stage's metrics(), in stage order (e.g. precis_cache_hits_total from the cache plugin).
  std::vector<std::pair<std::string, double>> plugin_metrics() const;

 private:
  Result run_request(Request request, const ChoiceTextCallback& on_text, CancelToken* cancel);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The default model: SmolLM2-135M-Instruct (models/SmolLM2-135M-Instruct.Q4_1.gguf, fetched by
// scripts/fetch-default-model.sh) when it is there; otherwise the shipped KJV model (once per
// process a note on stderr says so); "" when neither is.
std::string default_model_path();
// The shipped KJV model's directory (models/default in the source tree), or "" if absent.
std::string kjv_model_dir();

}  // namespace precis
