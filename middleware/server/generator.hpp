// What the server generates with. The embedded engine (PipelineGenerator) is one; a proxy to
// upstream OpenAI-compatible servers can be another: the HTTP API only talks to this interface.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "precis/precis.hpp"

namespace precis::server {

struct GenerationHandlers {
  // The work left the queue and began (ends the queue-time measurement). Any thread.
  std::function<void()> on_start;
  // A new piece of choice `index`'s text, whole UTF-8 characters only. Any thread; must not
  // block (it may run on the engine's thread).
  ChoiceTextCallback on_text;
  // Exactly one of these two runs, once, on any thread.
  std::function<void(Result)> on_done;
  std::function<void(std::exception_ptr)> on_error;
};

struct GeneratorStats {
  int kv_blocks_used = -1;  // -1: not known (e.g. a remote generator)
  int kv_blocks_total = -1;
  int running_requests = 0;
  int64_t prefix_cache_queried_tokens = -1;  // -1: not known (remote, or prefix caching off)
  int64_t prefix_cache_hit_tokens = -1;
  // Metrics of the pipeline's plugin stages (e.g. precis_cache_hits_total), name -> value.
  std::vector<std::pair<std::string, double>> plugin_metrics;
};

// What a client sent, for a generator that forwards requests (proxy mode): the endpoint and the
// body's other fields (sampling, n, stream, ...). The text the model sees (prompt, messages) is
// NOT here: it travels in the Request, where the plugin stages see and change it.
struct ClientRequest {
  bool chat = false;
  // The client's body without "prompt", "messages", "precis" and the fields the API ignores.
  nlohmann::json fields;
};

class Generator {
 public:
  virtual ~Generator() = default;
  // The model id reported by /v1/models and in responses.
  virtual std::string model_id() const = 0;
  // Whether a request naming `model` is for this generator ("": no name given). Otherwise the
  // API answers 404 model_not_found, as vLLM does.
  virtual bool serves_model(const std::string& model) const {
    return model.empty() || model == model_id();
  }
  // The defaults requests start from (sampling, compression markers) and the server section.
  virtual const PipelineConfig& config() const = 0;
  // Starts `request` without blocking the caller; `cancel` aborts it (it then finishes through
  // on_done with finish_reason "abort", or through on_error).
  // `client` is what the client sent beside the text (null for SDK callers); a forwarding
  // generator needs it.
  virtual void start(Request request, std::shared_ptr<const ClientRequest> client,
                     GenerationHandlers handlers, std::shared_ptr<CancelToken> cancel) = 0;
  virtual GeneratorStats stats() const = 0;
  // Stops taking work and waits for the running work to return; queued work fails.
  virtual void shutdown() = 0;
};

}  // namespace precis::server
