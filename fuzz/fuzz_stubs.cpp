// Definitions the fuzzed sources refer to, without the plugin code they live with
// (plugins/plugin_loader.cpp): the plugin helpers only serve PipelineConfig::from_json, which the
// fuzzers never call.
#include <stdexcept>
#include <string>
#include <vector>

#include "plugins/plugin_loader.hpp"
#include "precis/precis.hpp"

namespace precis {

namespace plugins {

std::vector<std::string> builtin_plugin_names() {
  throw std::logic_error("fuzz build: plugins are not linked");
}

std::string default_plugin_name(const PluginConfig&) {
  throw std::logic_error("fuzz build: plugins are not linked");
}

}  // namespace plugins
}  // namespace precis
