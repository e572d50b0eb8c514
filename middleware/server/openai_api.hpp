// The OpenAI-compatible API on top of a Generator: routing, API keys, admission (concurrency
// limit), request decoding, streaming as server-sent events, cancellation when the client goes
// away, and metrics. Runs on the connections' strands and never blocks them: generation runs
// in the generator, and its output is posted back to the connection's strand.
//
//   POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /metrics, GET /health
//
// Every route but /health needs a valid API key when keys are configured (401 otherwise, before
// anything else happens).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "middleware/server/api_auth.hpp"
#include "middleware/server/exchange.hpp"
#include "middleware/server/generator.hpp"
#include "middleware/server/metrics.hpp"
#include "middleware/server/serve_config.hpp"

namespace precis::server {

class ApiError;

class OpenAiApi {
 public:
  OpenAiApi(const ServerOptions& options, std::shared_ptr<Generator> generator, Metrics& metrics);

  void handle(HttpRequest request, std::shared_ptr<Exchange> exchange);
  // New generation requests get 503 from now on.
  void begin_shutdown() { shutting_down_ = true; }
  // Generation requests admitted and not yet done.
  int in_flight() const { return in_flight_.load(); }

 private:
  struct Call;
  using Clock = std::chrono::steady_clock;

  void generate(const std::string& endpoint, const HttpRequest& request,
                std::shared_ptr<Exchange> exchange, Clock::time_point t0);
  void reply(Exchange& exchange, const std::string& endpoint, int status, std::string body,
             std::string content_type = "application/json");
  void reply_error(Exchange& exchange, const std::string& endpoint, const ApiError& error);
  void method_not_allowed(Exchange& exchange, const std::string& endpoint,
                          const std::string& allow);

  ServerOptions options_;
  std::shared_ptr<Generator> generator_;
  Metrics& metrics_;
  ApiAuth auth_;
  std::atomic<int> in_flight_{0};
  std::atomic<bool> shutting_down_{false};
  std::atomic<uint64_t> next_id_{1};
  int64_t started_at_;
};

}  // namespace precis::server
