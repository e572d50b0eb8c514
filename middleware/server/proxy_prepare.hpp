// Proxy mode's local stages before forwarding: compress and plan, as Pipeline::run does them,
// but without an engine. A tokenizer (the config's model directory's, else the shipped default
// model's) counts and splits tokens; without one, compression is off (a warning says so) and
// counts are estimates. The "lm" scorer and planner need a model, so the model-free ones serve.
#pragma once

#include <memory>
#include <string>

#include "precis/precis.hpp"

namespace precis::engine {
class Tokenizer;
}

namespace precis::server {

class ProxyPrepare {
 public:
  // Throws ConfigError when the config's model directory has no usable tokenizer.
  explicit ProxyPrepare(const PipelineConfig& config);
  ~ProxyPrepare();

  // Fills original/compressed/final prompt, their token counts, compression and plan of
  // `result` from `request` (after the plugins' before()), with per-stage timings.
  void prepare(const Request& request, Result& result) const;
  // The model directory whose tokenizer is used ("" when none).
  const std::string& tokenizer_dir() const { return tokenizer_dir_; }
  int count_tokens(const std::string& text) const;

 private:
  const PipelineConfig& config_;
  std::string tokenizer_dir_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
};

}  // namespace precis::server
