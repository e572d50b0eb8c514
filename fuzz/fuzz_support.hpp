// What the fuzzers share: a Generator that never generates (every admitted request fails at
// once, through on_error) and an Exchange that runs posted work inline and drops the reply, so
// the API's routing, admission and request decoding run without a network or a model.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "middleware/server/exchange.hpp"
#include "middleware/server/generator.hpp"

namespace precis::fuzz {

class NullGenerator : public server::Generator {
 public:
  NullGenerator() { config_.generate.max_tokens = 8; }
  std::string model_id() const override { return "fuzz"; }
  const PipelineConfig& config() const override { return config_; }
  void start(Request, std::shared_ptr<const server::ClientRequest>, server::GenerationHandlers h,
             std::shared_ptr<CancelToken>) override {
    if (h.on_start) h.on_start();
    if (h.on_error) h.on_error(std::make_exception_ptr(std::runtime_error("fuzz: no model")));
  }
  server::GeneratorStats stats() const override { return {}; }
  void shutdown() override {}

 private:
  PipelineConfig config_;
};

class NullExchange : public server::Exchange {
 public:
  void respond(server::HttpResponse r) override { status = r.status; }
  void start_stream(const std::string&) override { status = 200; }
  void stream(std::string) override {}
  void end_stream() override {}
  void post(std::function<void()> fn) override { fn(); }
  void on_abort(std::function<void()> fn) override { abort = std::move(fn); }
  int status = 0;
  std::function<void()> abort;
};

}  // namespace precis::fuzz
