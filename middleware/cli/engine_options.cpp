#include "middleware/cli/engine_options.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace po = boost::program_options;

namespace precis::cli {

void add_engine_flags(po::options_description& desc, EngineFlags& f) {
  desc.add_options()("model", po::value(&f.model)->required(),
                     "model directory: config.json, *.safetensors, tokenizer.model")(
      "kv-cache-mb", po::value(&f.kv_cache_mb)->default_value(f.kv_cache_mb),
      "KV cache memory, allocated up front (MiB)")(
      "block-size", po::value(&f.block_size)->default_value(f.block_size),
      "tokens per KV cache block")(
      "max-batched-tokens", po::value(&f.max_batched_tokens)->default_value(f.max_batched_tokens),
      "tokens per scheduler step; longer prompts are prefilled in chunks of this size");
}

engine::EngineOptions to_engine_options(const EngineFlags& f) {
  engine::EngineOptions o;
  o.model_dir = f.model;
  o.kv_cache_mb = f.kv_cache_mb;
  o.block_size = f.block_size;
  o.scheduler.max_batched_tokens = f.max_batched_tokens;
  if (f.block_size <= 0) throw std::invalid_argument("--block-size must be positive");
  if (f.max_batched_tokens <= 0)
    throw std::invalid_argument("--max-batched-tokens must be positive");
  return o;
}

std::string read_prompt(const std::string& prompt, const std::string& prompt_file) {
  if (!prompt.empty() && !prompt_file.empty())
    throw std::invalid_argument("give either --prompt or --prompt-file, not both");
  if (!prompt_file.empty()) {
    std::ifstream in(prompt_file, std::ios::binary);
    if (!in) throw std::invalid_argument("cannot read --prompt-file " + prompt_file);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  if (prompt.empty()) throw std::invalid_argument("--prompt (or --prompt-file) is required");
  return prompt;
}

}  // namespace precis::cli
