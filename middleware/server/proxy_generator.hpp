// Proxy mode's generator: each request runs the plugins' before(), compress and plan here
// (ProxyPrepare), then is forwarded to an upstream OpenAI-compatible server (UpstreamPool picks
// it, UpstreamCall sends it) with the client's other fields — completions with the final prompt,
// chat with the messages as the stages left them and the last user message replaced by the final
// prompt (nothing of the client's original text is forwarded) — streaming passed through as it
// arrives (through the stages' stream filters). An upstream
// that fails (unreachable, timeout, 5xx, not JSON) is taken out with backoff and the request
// moves to another one, unless text was already streamed; otherwise the client gets 502
// (unreachable, bad answer) or 504 (timeout). A 4xx from the upstream is relayed as is.
// Runs on a pool of worker threads (each upstream call blocks its worker).
#pragma once

#include <memory>
#include <vector>

#include "middleware/server/generation_workers.hpp"
#include "middleware/server/generator.hpp"
#include "middleware/server/proxy_prepare.hpp"
#include "middleware/server/serve_config.hpp"
#include "middleware/server/upstream_pool.hpp"

namespace precis {
class StageRunner;
}

namespace precis::server {

class ProxyGenerator : public Generator {
 public:
  // config.upstream.urls must not be empty. Throws ConfigError / std::invalid_argument.
  ProxyGenerator(ServeConfig config, int max_threads);
  ~ProxyGenerator() override;

  std::string model_id() const override { return model_id_; }
  // Any name: the upstream decides (or upstream.model replaces it).
  bool serves_model(const std::string&) const override { return true; }
  const PipelineConfig& config() const override { return config_; }
  void start(Request request, std::shared_ptr<const ClientRequest> client,
             GenerationHandlers handlers, std::shared_ptr<CancelToken> cancel) override;
  GeneratorStats stats() const override;
  void shutdown() override;

  const UpstreamPool& pool() const { return *pool_; }

 private:
  void run(GenerationJob& job);
  Result forward(const StageRunner& runner, const ClientRequest& client, Request& request,
                 Result prepared, const ChoiceTextCallback& on_text, CancelToken* cancel);

  ServeConfig config_;
  std::unique_ptr<ProxyPrepare> prepare_;
  std::unique_ptr<UpstreamPool> pool_;
  std::vector<std::shared_ptr<Stage>> stages_;
  std::string model_id_;
  GenerationWorkers workers_;  // last: its threads stop before the members they use go
};

}  // namespace precis::server
