// precis serve: the OpenAI-compatible HTTP server on the embedded engine. Stops gracefully on
// SIGTERM or SIGINT: no new connections, in-flight requests finish (bounded), exit status 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "middleware/cli/commands.hpp"
#include "middleware/cli/engine_options.hpp"
#include "middleware/cli/parse.hpp"
#include "middleware/server/pipeline_generator.hpp"
#include "middleware/server/proxy_generator.hpp"
#include "middleware/server/server.hpp"
#include "precis/precis.hpp"

namespace po = boost::program_options;

namespace precis::cli {

int cmd_serve(const Args& args) {
  // Flags left at these values keep the config's (or the default) setting.
  std::string config, model, host, chat_template, model_name;
  std::vector<std::string> api_keys, upstreams;
  std::string upstream_key, upstream_model, upstream_ca;
  double upstream_timeout = -1;
  bool no_prefix_caching = false;
  std::string kv_cache_dtype;
  int port = -1, max_concurrent = -1, threads = -1;
  int64_t max_body = -1, max_header = -1;
  double request_timeout = -1, read_timeout = -1, shutdown_timeout = -1, kv_cache_mb = -1;
  po::options_description desc("options");
  desc.add_options()("config", po::value(&config),
                     "pipeline config (JSON) with a \"server\" section")(
      "model", po::value(&model),
      "GGUF file or model directory (overrides the config's model.path; default: the default "
      "model)")("kv-cache-mb", po::value(&kv_cache_mb), "KV cache memory (MiB)")(
      "kv-cache-dtype", po::value(&kv_cache_dtype),
      (std::string(kKvCacheDtypeHelp) + " (overrides the config's model.kv_cache_dtype; "
                                        "default f16)")
          .c_str())("no-prefix-caching", po::bool_switch(&no_prefix_caching),
                    "recompute every prompt in full (overrides the config's model.prefix_caching)")(
      "host", po::value(&host), "address to listen on (default 127.0.0.1)")(
      "port", po::value(&port), "port (default 8000; 0: any free port, printed)")(
      "api-key", po::value(&api_keys)->composing(),
      "accepted API key (Authorization: Bearer KEY); repeatable. A flag shows in ps: prefer "
      "PRECIS_API_KEY in the environment or server.api_keys in the config")(
      "max-body-bytes", po::value(&max_body), "largest request body (default 1 MiB; else 413)")(
      "max-header-bytes", po::value(&max_header),
      "largest request header (default 8 KiB; else 431)")(
      "read-timeout-s", po::value(&read_timeout),
      "time to receive a request's header and body (default 30; else 408)")(
      "request-timeout-s", po::value(&request_timeout),
      "time to handle a request, generation included (default 600)")(
      "max-concurrent-requests", po::value(&max_concurrent),
      "generation requests in flight (default 64; more get 429)")("threads", po::value(&threads),
                                                                  "I/O threads (default 2)")(
      "chat-template", po::value(&chat_template), "auto, llama2, chatml or plain (default auto)")(
      "model-name", po::value(&model_name), "model id reported by /v1/models")(
      "shutdown-timeout-s", po::value(&shutdown_timeout),
      "on SIGTERM, how long in-flight requests may finish (default 30)")(
      "upstream", po::value(&upstreams)->composing(),
      "proxy mode: forward to this OpenAI-compatible server (http[s]://host:port); repeatable")(
      "upstream-api-key", po::value(&upstream_key),
      "API key sent to the upstreams. A flag shows in ps: prefer PRECIS_UPSTREAM_API_KEY in the "
      "environment or upstream.api_key in the config")(
      "upstream-timeout-s", po::value(&upstream_timeout),
      "upstream connect/answer timeout (default 60; else 504)")(
      "upstream-model", po::value(&upstream_model), "the \"model\" sent to the upstreams")(
      "upstream-ca-file", po::value(&upstream_ca),
      "https upstreams: PEM certificates to trust (default: the system's)");
  DeviceOverride device;
  add_device_override_flags(desc, device);
  if (auto rc = parse_args("serve",
                           "Serves the OpenAI-compatible API (/v1/completions, "
                           "/v1/chat/completions, /v1/models, /metrics, /health) on the pipeline.",
                           args, desc))
    return *rc;
  ServeConfig cfg = config.empty() ? ServeConfig() : ServeConfig::from_file(config);
  if (!model.empty()) cfg.model.path = model;
  if (kv_cache_mb > 0) cfg.model.kv_cache_mb = kv_cache_mb;
  if (no_prefix_caching) cfg.model.prefix_caching = false;
  if (!kv_cache_dtype.empty()) {
    kv_cache_dtype_option(kv_cache_dtype, "--kv-cache-dtype");  // a clear error before loading
    cfg.model.kv_cache_dtype = kv_cache_dtype;
  }
  device.apply(cfg.model);
  ServerOptions& s = cfg.server;
  if (!host.empty()) s.host = host;
  if (port >= 0) s.port = port;
  // Flag, else environment, else config.
  if (api_keys.empty())
    if (const char* env = std::getenv("PRECIS_API_KEY"); env && *env) api_keys = {env};
  if (upstream_key.empty())
    if (const char* env = std::getenv("PRECIS_UPSTREAM_API_KEY"); env && *env) upstream_key = env;
  if (!api_keys.empty()) s.api_keys = api_keys;
  if (max_body > 0) s.max_body_bytes = static_cast<size_t>(max_body);
  if (max_header > 0) s.max_header_bytes = static_cast<size_t>(max_header);
  if (read_timeout > 0) s.read_timeout_s = read_timeout;
  if (request_timeout > 0) s.request_timeout_s = request_timeout;
  if (max_concurrent > 0) s.max_concurrent_requests = max_concurrent;
  if (threads > 0) s.threads = threads;
  if (!chat_template.empty()) cfg.chat_template = chat_template;
  if (!model_name.empty()) s.model_name = model_name;
  if (shutdown_timeout >= 0) s.shutdown_timeout_s = shutdown_timeout;
  if (!upstreams.empty()) cfg.upstream.urls = upstreams;
  if (!upstream_key.empty()) cfg.upstream.api_key = upstream_key;
  if (upstream_timeout > 0) cfg.upstream.timeout_s = upstream_timeout;
  if (!upstream_model.empty()) cfg.upstream.model = upstream_model;
  if (!upstream_ca.empty()) cfg.upstream.ca_file = upstream_ca;
  if (s.port > 65535) throw std::invalid_argument("--port must be in [0, 65535]");

  // Every thread started from here on inherits the blocked signals; this one waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::shared_ptr<server::Generator> generator;
  if (!cfg.upstream.urls.empty())  // proxy mode: no local model needed
    generator = std::make_shared<server::ProxyGenerator>(cfg, s.max_concurrent_requests);
  else
    generator = std::make_shared<server::PipelineGenerator>(
        std::make_shared<Pipeline>(static_cast<const PipelineConfig&>(cfg)),
        s.max_concurrent_requests, s.model_name);
  server::Server srv(s, generator);
  const uint16_t bound = srv.start();
  std::printf("listening on http://%s:%u\n", s.host.c_str(), static_cast<unsigned>(bound));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "precis serve: %s received, finishing in-flight requests\n",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  srv.stop();
  return 0;
}

}  // namespace precis::cli
