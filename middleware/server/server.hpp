// `precis serve` as a library: the OpenAI-compatible API over HTTP on top of a Generator (the
// embedded engine through the Pipeline, or upstream servers through a ProxyGenerator).
//
//   auto pipeline = std::make_shared<precis::Pipeline>(config);
//   precis::server::Server server(config.server,
//       std::make_shared<precis::server::PipelineGenerator>(pipeline, 64));
//   uint16_t port = server.start();
//   ...
//   server.stop();  // graceful: in-flight requests finish first
#pragma once

#include <memory>
#include <optional>

#include "middleware/server/generator.hpp"
#include "middleware/server/metrics.hpp"
#include "middleware/server/serve_config.hpp"

namespace precis::server {

class HttpServer;
class OpenAiApi;

class Server {
 public:
  Server(ServerOptions options, std::shared_ptr<Generator> generator);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds options.host:options.port and serves on background threads; returns the port (the
  // one picked when the port is 0). Throws when it cannot bind.
  uint16_t start();
  // Graceful: stops accepting, answers new requests with 503, lets in-flight requests finish
  // for up to `grace_s` (default options.shutdown_timeout_s), then aborts what is left and
  // closes everything. Idempotent.
  void stop(std::optional<double> grace_s = std::nullopt);

  const Metrics& metrics() const { return metrics_; }
  int in_flight() const;

 private:
  ServerOptions options_;
  std::shared_ptr<Generator> generator_;
  Metrics metrics_;
  std::unique_ptr<OpenAiApi> api_;
  std::unique_ptr<HttpServer> http_;
  bool stopped_ = false;
};

}  // namespace precis::server
