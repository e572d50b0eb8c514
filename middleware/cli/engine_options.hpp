// Options shared by every command that loads a model into the embedded engine.
#pragma once

#include <boost/program_options.hpp>
#include <string>

#include "engine/engine.hpp"

namespace precis::cli {

struct EngineFlags {
  std::string model;
  double kv_cache_mb = 512;
  int block_size = 16;
  int max_batched_tokens = 512;
};

void add_engine_flags(boost::program_options::options_description& desc, EngineFlags& f);
engine::EngineOptions to_engine_options(const EngineFlags& f);

// Reads --prompt or --prompt-file (exactly one must be given).
std::string read_prompt(const std::string& prompt, const std::string& prompt_file);

}  // namespace precis::cli
