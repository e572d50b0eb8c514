// The plugin ABI: how a shared library provides a pipeline Stage (see precis.hpp) to precis.
//
// A plugin is a shared library that exports exactly these two C symbols:
//
//   extern "C" int precis_plugin_abi_version(void);   // returns PRECIS_PLUGIN_ABI_VERSION
//   extern "C" precis_plugin_v1* precis_plugin_create(const char* settings_json,
//                                                     char* error, size_t error_len);
//
// precis dlopen()s the library (RTLD_NOW | RTLD_LOCAL), refuses it unless
// precis_plugin_abi_version() equals the PRECIS_PLUGIN_ABI_VERSION precis was built with, then
// calls precis_plugin_create() with the plugin's "settings" object from the config, serialised as
// JSON text. On success the factory returns an object whose `stage` the pipeline calls; on
// failure it returns NULL and writes a NUL-terminated message (truncated to error_len bytes) into
// `error`. The pipeline calls `destroy` exactly once, before it unloads the library.
//
// Compatibility: the factory's signature is plain C, but the stage it returns is a C++ object
// (precis::Stage, with std::string, std::vector and std::map in its arguments). A plugin must
// therefore be built with the same compiler, C++ standard library and precis headers as the
// precis that loads it; PRECIS_PLUGIN_ABI_VERSION is raised whenever Stage, Request, Result or
// precis_plugin_v1 change layout, so a stale plugin is refused instead of crashing.
//
// Exceptions never cross the C boundary: PRECIS_DEFINE_PLUGIN's factory catches everything and
// reports it through `error`. Exceptions thrown later by the stage's methods are C++ calls
// between objects built by the same toolchain; the pipeline catches them and fails that one
// request with "stage 'NAME' failed: ...".
//
// The easy way to write one (see examples/plugin_example/):
//
//   #include "precis/plugin.hpp"
//   class Shout : public precis::Stage {
//    public:
//     std::string name() const override { return "shout"; }
//     void before(precis::Request& r) override { r.question += "!"; }
//   };
//   PRECIS_DEFINE_PLUGIN([](const std::string& settings_json) {
//     (void)settings_json;
//     return std::make_unique<Shout>();
//   })
//
// Stages are shared by all requests: every method may be called from many threads at once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "precis/precis.hpp"

// Raise on any layout change of precis_plugin_v1, precis::Stage, Request, Result or what they hold.
// 2: Request::messages, Stage::stream_filter. 3: GenerateOptions (inside Request) gained
// response_format and json_schema. 4: GenerateOptions became SamplingParams (gained beam_width).
// 5: Request::planner, Plan::planner_used and Plan::task_kind became enums.
#define PRECIS_PLUGIN_ABI_VERSION 5

extern "C" {

struct precis_plugin_v1 {
  int abi_version;                          // PRECIS_PLUGIN_ABI_VERSION the plugin was built with
  precis::Stage* stage;                     // owned by this object; valid until destroy()
  void (*destroy)(precis_plugin_v1* self);  // frees the stage and this object; never throws
};

typedef int (*precis_plugin_abi_version_fn)(void);
typedef precis_plugin_v1* (*precis_plugin_create_fn)(const char* settings_json, char* error,
                                                     size_t error_len);

}  // extern "C"

namespace precis::plugin_detail {

inline void write_error(char* error, size_t error_len, const char* message) noexcept {
  if (!error || error_len == 0) return;
  const size_t n = std::min(std::strlen(message), error_len - 1);
  std::memcpy(error, message, n);
  error[n] = '\0';
}

inline void destroy(precis_plugin_v1* self) noexcept {
  if (!self) return;
  delete self->stage;
  delete self;
}

// `make` takes the settings JSON text and returns a std::unique_ptr to a Stage (or throws).
template <class Make>
precis_plugin_v1* create(Make&& make, const char* settings_json, char* error,
                         size_t error_len) noexcept {
  try {
    std::unique_ptr<Stage> stage = make(std::string(settings_json ? settings_json : "{}"));
    if (!stage) throw std::runtime_error("the factory returned no stage");
    auto* p = new precis_plugin_v1{PRECIS_PLUGIN_ABI_VERSION, nullptr, &destroy};
    p->stage = stage.release();
    return p;
  } catch (const std::exception& e) {
    write_error(error, error_len, e.what());
  } catch (...) {
    write_error(error, error_len, "unknown exception in the plugin factory");
  }
  return nullptr;
}

}  // namespace precis::plugin_detail

// Defines the two exported symbols. The argument is a callable (a lambda or a function name)
// taking `const std::string& settings_json` and returning std::unique_ptr<T>, T a Stage.
#define PRECIS_DEFINE_PLUGIN(...)                                                                  \
  extern "C" __attribute__((visibility("default"))) int precis_plugin_abi_version(void) {          \
    return PRECIS_PLUGIN_ABI_VERSION;                                                              \
  }                                                                                                \
  extern "C" __attribute__((visibility("default"))) precis_plugin_v1* precis_plugin_create(        \
      const char* settings_json, char* error, size_t error_len) {                                  \
    return ::precis::plugin_detail::create(                                                        \
        [](const std::string& s) -> std::unique_ptr<::precis::Stage> { return (__VA_ARGS__)(s); }, \
        settings_json, error, error_len);                                                          \
  }
