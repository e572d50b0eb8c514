// What `precis serve` reads beyond the SDK's PipelineConfig: the HTTP server's settings and proxy
// mode's upstreams, from the same config file ("server" and "upstream" sections). They are the
// server's business, so they live here and not in the SDK's public header.
#pragma once

#include <string>
#include <vector>

#include "middleware/json_reader.hpp"
#include "precis/precis.hpp"

namespace precis {

// The HTTP server's settings: the config's "server" section (`precis serve` flags override them).
struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                    // 0: any free port
  std::vector<std::string> api_keys;  // "Authorization: Bearer KEY"; empty: no authentication
  size_t max_body_bytes = 1 << 20;    // larger bodies get 413
  size_t max_header_bytes = 8 << 10;  // larger headers get 431
  double read_timeout_s = 30;         // to receive one request's header and body, else 408
  double request_timeout_s = 600;     // whole request, generation included
  int max_concurrent_requests = 64;   // generation requests in flight; more get 429
  int threads = 2;                    // Asio I/O threads
  std::string model_name;          // the id /v1/models reports; empty: the model directory's name
  double shutdown_timeout_s = 30;  // graceful shutdown: how long in-flight requests may finish
};

// Proxy mode: the config's "upstream" section (`precis serve --upstream URL`). With urls, requests
// are compressed and planned here, then forwarded to OpenAI-compatible servers instead of the
// embedded engine (see middleware/server/README.md).
struct UpstreamOptions {
  std::vector<std::string> urls;  // "http[s]://host:port" (optionally a base path); empty: no proxy
  std::string api_key;            // sent as "Authorization: Bearer KEY"; empty: none
  double timeout_s = 60;          // connect, send, and each wait for upstream bytes; else 504
  std::string model;              // replaces the request's "model" when forwarding; empty: keep
  std::string ca_file;  // https: PEM certificates to trust; empty: the system's trusted ones
};

// A whole config file as the server sees it: the pipeline's part (what the SDK reads) and the
// server's. Pass it where a PipelineConfig is wanted and the server's part is left behind.
struct ServeConfig : PipelineConfig {
  ServerOptions server;
  UpstreamOptions upstream;

  ServeConfig() = default;
  explicit ServeConfig(PipelineConfig pipeline) : PipelineConfig(std::move(pipeline)) {}
  // PipelineConfig::from_json's checks, then the server's sections kept; throws ConfigError.
  static ServeConfig from_json(const std::string& json_text);
  static ServeConfig from_file(const std::string& path);
};

// Read the "server" section (its chat_template into `chat_template`: the pipeline renders chat
// with it) and the "upstream" section; unknown keys are errors.
void read_server_options(JsonReader r, ServerOptions& s, std::string& chat_template);
void read_upstream_options(JsonReader r, UpstreamOptions& u);

}  // namespace precis
