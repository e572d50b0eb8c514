// Options shared by every command that loads a model into the embedded engine.
#pragma once

#include <boost/program_options.hpp>
#include <string>

#include "engine/engine.hpp"
#include "middleware/device.hpp"
#include "precis/precis.hpp"

namespace precis::cli {

struct EngineFlags {
  std::string model;
  double kv_cache_mb = 0;  // 0: the device's default
  DeviceOptions device;
  int block_size = 16;
  int max_batched_tokens = 512;
  std::string activations = "f32";
  bool no_prefix_caching = false;
  std::string kv_cache_dtype = "f16";
};

void add_engine_flags(boost::program_options::options_description& desc, EngineFlags& f);
// --device and --gpu-memory-fraction, for commands that build their engine another way.
void add_device_flags(boost::program_options::options_description& desc, DeviceOptions& d);
// --device and --gpu-memory-fraction for commands driven by a pipeline config: given flags
// override the config's model.device / model.gpu_memory_fraction.
struct DeviceOverride {
  std::string device;
  double gpu_memory_fraction = -1;
  void apply(ModelOptions& m) const;
};
void add_device_override_flags(boost::program_options::options_description& desc,
                               DeviceOverride& d);
// The --kv-cache-dtype help text.
extern const char* const kKvCacheDtypeHelp;
// The --activations help text.
extern const char* const kActivationsHelp;
// The --kv-cache-mb help text, which depends on the device.
std::string kv_cache_help(double cpu_default_mb);
engine::EngineOptions to_engine_options(const EngineFlags& f);

// Reads --prompt or --prompt-file (exactly one must be given).
std::string read_prompt(const std::string& prompt, const std::string& prompt_file);

}  // namespace precis::cli
