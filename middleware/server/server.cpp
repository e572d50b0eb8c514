#include "middleware/server/server.hpp"

#include <chrono>
#include <thread>

#include "middleware/server/http_server.hpp"
#include "middleware/server/openai_api.hpp"

namespace precis::server {

namespace {

// Polls `done` until it holds or `seconds` pass; returns whether it held.
template <class Pred>
bool wait_for(Pred done, double seconds) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(seconds));
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

Server::Server(ServerOptions options, std::shared_ptr<Generator> generator)
    : options_(std::move(options)), generator_(std::move(generator)) {
  api_ = std::make_unique<OpenAiApi>(options_, generator_, metrics_);
  HttpLimits limits;
  limits.max_body_bytes = options_.max_body_bytes;
  limits.max_header_bytes = options_.max_header_bytes;
  limits.read_timeout_s = options_.read_timeout_s;
  limits.request_timeout_s = options_.request_timeout_s;
  OpenAiApi* api = api_.get();
  Metrics* metrics = &metrics_;
  http_ = std::make_unique<HttpServer>(
      limits, [api](HttpRequest r, std::shared_ptr<Exchange> ex) { api->handle(std::move(r), ex); },
      options_.threads, [metrics](int status) { metrics->count_request("http", status); });
}

Server::~Server() {
  stop(0.0);
}

uint16_t Server::start() {
  const uint16_t port = http_->listen(options_.host, static_cast<uint16_t>(options_.port));
  http_->start();
  return port;
}

int Server::in_flight() const {
  return api_->in_flight();
}

void Server::stop(std::optional<double> grace_s) {
  if (stopped_) return;
  stopped_ = true;
  http_->stop_accepting();
  api_->begin_shutdown();
  wait_for([&] { return api_->in_flight() == 0 && http_->active_exchanges() == 0; },
           grace_s.value_or(options_.shutdown_timeout_s));
  // What is left is aborted: closing its connection cancels its generation.
  http_->close_connections();
  wait_for([&] { return api_->in_flight() == 0; }, 5.0);
  http_->stop();
  generator_->shutdown();
  // The I/O context (and handlers still queued in it) goes with http_, before api_.
  http_.reset();
}

}  // namespace precis::server
