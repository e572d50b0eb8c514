// dlopen-based plugin loading and the wrapper stage that owns a loaded plugin.
#include "plugins/plugin_loader.hpp"

#include <dlfcn.h>

#include <filesystem>

#include "plugins/cache.hpp"
#include "plugins/redact.hpp"
#include "precis/plugin.hpp"

namespace precis::plugins {

namespace {

// Runs `fn`, turning anything that is not a std::exception into one (the pipeline only catches
// std::exception, and a stray `throw 42;` must fail one request, not the process).
template <class Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception&) {
    throw;
  } catch (...) {
    throw std::runtime_error("threw an exception that is not a std::exception");
  }
}

// Wraps a plugin's stage: reports the configured name, owns the plugin object and (for shared
// libraries) keeps the library loaded until the stage is gone.
class PluginStage : public Stage {
 public:
  PluginStage(std::string name, std::shared_ptr<void> library, precis_plugin_v1* object)
      : name_(std::move(name)),
        library_(std::move(library)),
        object_(object),
        stage_(object->stage) {}
  PluginStage(std::string name, std::unique_ptr<Stage> stage)
      : name_(std::move(name)), owned_(std::move(stage)), stage_(owned_.get()) {}
  ~PluginStage() override {
    owned_.reset();
    if (object_) object_->destroy(object_);
    // library_ (declared first) is released last: after the plugin's code is done with.
  }
  PluginStage(const PluginStage&) = delete;
  PluginStage& operator=(const PluginStage&) = delete;

  std::string name() const override { return name_; }
  void before(Request& request) override {
    guarded([&] { stage_->before(request); });
  }
  void after(const Request& request, Result& result) override {
    guarded([&] { stage_->after(request, result); });
  }
  bool before_generate(const Request& request, const std::string& final_prompt,
                       const GenerateOptions& options, Result& result) override {
    return guarded([&] { return stage_->before_generate(request, final_prompt, options, result); });
  }
  void after_generate(const Request& request, const std::string& final_prompt,
                      const GenerateOptions& options, const Result& result) override {
    guarded([&] { stage_->after_generate(request, final_prompt, options, result); });
  }
  std::unique_ptr<StreamFilter> stream_filter(const Request& request) const override {
    return guarded([&] { return stage_->stream_filter(request); });
  }
  std::vector<std::pair<std::string, double>> metrics() const override {
    try {
      return stage_->metrics();
    } catch (...) {
      return {};  // metrics must never fail a /metrics scrape
    }
  }

 private:
  std::string name_;
  std::shared_ptr<void> library_;
  precis_plugin_v1* object_ = nullptr;
  std::unique_ptr<Stage> owned_;
  Stage* stage_ = nullptr;
};

std::string dl_error() {
  const char* e = dlerror();
  return e ? e : "unknown dlerror";
}

std::shared_ptr<Stage> load_library(const PluginConfig& config) {
  const std::string& path = config.path;
  auto fail = [&](const std::string& message) -> ConfigError {
    return ConfigError("plugin '" + config.name + "': " + message);
  };
  if (path.find('/') != std::string::npos && !std::filesystem::exists(path))
    throw fail("shared library not found: " + path);
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw fail("cannot load " + path + ": " + dl_error());
  std::shared_ptr<void> library(handle, [](void* h) { dlclose(h); });

  auto symbol = [&](const char* name) {
    dlerror();
    void* sym = dlsym(handle, name);
    if (!sym)
      throw fail(path + " does not export " + name +
                 " (is it a precis plugin? see precis/plugin.hpp)");
    return sym;
  };
  auto abi_version =
      reinterpret_cast<precis_plugin_abi_version_fn>(symbol("precis_plugin_abi_version"));
  auto create = reinterpret_cast<precis_plugin_create_fn>(symbol("precis_plugin_create"));
  const int version = abi_version();
  if (version != PRECIS_PLUGIN_ABI_VERSION)
    throw fail(path + " was built for plugin ABI version " + std::to_string(version) +
               ", this precis needs version " + std::to_string(PRECIS_PLUGIN_ABI_VERSION) +
               " (rebuild the plugin against this precis's headers)");

  char error[1024] = {0};
  precis_plugin_v1* object = create(config.settings.c_str(), error, sizeof error);
  if (!object) throw fail("factory failed: " + std::string(error[0] ? error : "no message given"));
  if (object->abi_version != PRECIS_PLUGIN_ABI_VERSION || !object->stage || !object->destroy) {
    if (object->destroy) object->destroy(object);
    throw fail(path + " returned a malformed plugin object (wrong ABI version or null members)");
  }
  return std::make_shared<PluginStage>(config.name, std::move(library), object);
}

}  // namespace

const std::vector<std::pair<std::string, StageFactory>>& builtin_plugins() {
  static const std::vector<std::pair<std::string, StageFactory>> kBuiltins = {
      {"cache", &make_cache_stage},
      {"redact", &make_redact_stage},
  };
  return kBuiltins;
}

std::vector<std::string> builtin_plugin_names() {
  std::vector<std::string> names;
  for (const auto& b : builtin_plugins()) names.push_back(b.first);
  return names;
}

std::string default_plugin_name(const PluginConfig& config) {
  if (!config.builtin.empty()) return config.builtin;
  std::string stem = std::filesystem::path(config.path).filename().string();
  stem = stem.substr(0, stem.find('.'));
  for (const std::string prefix : {"lib", "precis_"})
    if (stem.rfind(prefix, 0) == 0 && stem.size() > prefix.size())
      stem = stem.substr(prefix.size());
  return stem;
}

std::shared_ptr<Stage> load_plugin(const PluginConfig& in) {
  PluginConfig config = in;
  if (config.name.empty()) config.name = default_plugin_name(config);
  const std::string prefix = "plugin '" + config.name + "': ";
  if (config.path.empty() == config.builtin.empty())
    throw ConfigError(prefix + "give exactly one of \"path\" and \"builtin\"");
  if (!config.path.empty()) return load_library(config);
  for (const auto& [name, factory] : builtin_plugins()) {
    if (name != config.builtin) continue;
    std::unique_ptr<Stage> stage;
    try {
      stage = factory(config.settings);
    } catch (const std::exception& e) {
      throw ConfigError(prefix + "settings" + e.what());
    }
    return std::make_shared<PluginStage>(config.name, std::move(stage));
  }
  std::string known;
  for (const auto& n : builtin_plugin_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError(prefix + "no built-in plugin \"" + config.builtin + "\" (built in: " + known +
                    ")");
}

}  // namespace precis::plugins
