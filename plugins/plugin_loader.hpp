// Loading the config's plugins: shared libraries through dlopen (see precis/plugin.hpp for the
// ABI) and the plugins compiled into precis ("builtin": "redact" or "cache").
//
// Library layout (no cycle): precis_plugins holds this loader and the built-in plugins; it needs
// only the public headers (include/precis/, for the Stage interface), nlohmann_json and libdl.
// precis_middleware links precis_plugins and its Pipeline constructor calls load_plugin() for
// each PipelineConfig::plugins entry. The plugin shared libraries themselves are built from the
// public headers alone and link nothing of precis.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "precis/precis.hpp"

namespace precis::plugins {

using StageFactory = std::unique_ptr<Stage> (*)(const std::string& settings_json);

// The built-in plugins, by name.
const std::vector<std::pair<std::string, StageFactory>>& builtin_plugins();
std::vector<std::string> builtin_plugin_names();

// The name a config entry gets when it gives none: the builtin's name, or the library's file
// name without "lib", "precis_" and the extension ("/x/libprecis_redact.so" -> "redact").
std::string default_plugin_name(const PluginConfig& config);

// Loads one plugin. The returned stage reports config.name as its name() (so every runtime
// error names it), keeps its library loaded as long as it lives, and turns exceptions that are
// not std::exception into std::runtime_error. Throws ConfigError "plugin 'NAME': ..." when the
// library cannot be opened, lacks a symbol, has another ABI version, or its factory fails.
std::shared_ptr<Stage> load_plugin(const PluginConfig& config);

}  // namespace precis::plugins
