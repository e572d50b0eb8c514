// Definitions the fuzzed sources refer to, without the engine and plugin code they live with
// (middleware/pipeline.cpp, plugins/plugin_loader.cpp). CancelToken is the same as the real one;
// the plugin helpers only serve PipelineConfig::from_json, which the fuzzers never call.
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "plugins/plugin_loader.hpp"
#include "precis/precis.hpp"

namespace precis {

void CancelToken::cancel() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    fn = std::move(fn_);
  }
  if (fn) fn();
}

bool CancelToken::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void CancelToken::on_cancel(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cancelled_) {
      fn_ = std::move(fn);
      return;
    }
  }
  fn();
}

namespace plugins {

std::vector<std::string> builtin_plugin_names() {
  throw std::logic_error("fuzz build: plugins are not linked");
}

std::string default_plugin_name(const PluginConfig&) {
  throw std::logic_error("fuzz build: plugins are not linked");
}

}  // namespace plugins
}  // namespace precis
