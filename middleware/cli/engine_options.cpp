#include "middleware/cli/engine_options.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace po = boost::program_options;

namespace precis::cli {

const char* const kKvCacheDtypeHelp =
    "what the KV cache stores K and V in on the CPU: f16 (half the memory per token, so twice "
    "the tokens in --kv-cache-mb; attention still sums in f32) or f32 (exact). CUDA keeps f16";

const char* const kActivationsHelp =
    "CPU: what quantized weights meet: f32 (the reference) or int8 (activations quantized to 8 "
    "bits per 32, as llama.cpp does; with AVX-512 VNNI the weights are repacked at load for an "
    "integer GEMM: 2-4x faster prefill and LM scoring, log-probs off by a few hundredths to a "
    "tenth of a nat, which can change an answer). Dense weights always meet f32";

std::string kv_cache_help(double cpu_default_mb) {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "KV cache memory, allocated up front (MiB); default: %g on the CPU, the rest of "
                "--gpu-memory-fraction after the weights on CUDA",
                cpu_default_mb);
  return buf;
}

void add_device_flags(po::options_description& desc, DeviceOptions& d) {
  desc.add_options()("device", po::value(&d.device),
                     "cpu, cuda or auto (CUDA when this build has it and a GPU is present); "
                     "default: $PRECIS_DEVICE, else auto")(
      "gpu-memory-fraction",
      po::value(&d.gpu_memory_fraction)->default_value(d.gpu_memory_fraction, "0.9"),
      "CUDA: share of the GPU's memory precis may use (weights + KV cache + activations)");
}

void add_device_override_flags(po::options_description& desc, DeviceOverride& d) {
  desc.add_options()("device", po::value(&d.device),
                     "cpu, cuda or auto (CUDA when this build has it and a GPU is present); "
                     "default: the config's model.device, else $PRECIS_DEVICE, else auto")(
      "gpu-memory-fraction", po::value(&d.gpu_memory_fraction),
      "CUDA: share of the GPU's memory precis may use (default: the config's, else 0.9)");
}

void DeviceOverride::apply(ModelOptions& m) const {
  if (!device.empty()) m.device = device;
  if (gpu_memory_fraction != -1) m.gpu_memory_fraction = gpu_memory_fraction;
}

void add_engine_flags(po::options_description& desc, EngineFlags& f) {
  desc.add_options()("model", po::value(&f.model)->required(),
                     "a GGUF file, or a Hugging Face directory (config.json, *.safetensors, "
                     "tokenizer.model or tokenizer.json)")(
      "kv-cache-mb", po::value(&f.kv_cache_mb),
      kv_cache_help(f.kv_cache_mb > 0 ? f.kv_cache_mb : kDefaultCpuKvCacheMb).c_str())(
      "kv-cache-dtype", po::value(&f.kv_cache_dtype)->default_value(f.kv_cache_dtype),
      kKvCacheDtypeHelp)("block-size", po::value(&f.block_size)->default_value(f.block_size),
                         "tokens per KV cache block")(
      "max-batched-tokens", po::value(&f.max_batched_tokens)->default_value(f.max_batched_tokens),
      "tokens per scheduler step; longer prompts are prefilled in chunks of this size")(
      "activations", po::value(&f.activations)->default_value(f.activations), kActivationsHelp)(
      "no-prefix-caching", po::bool_switch(&f.no_prefix_caching),
      "recompute every prompt in full instead of reusing the KV blocks of prefixes seen before "
      "(same outputs, slower)");
  add_device_flags(desc, f.device);
}

engine::EngineOptions to_engine_options(const EngineFlags& f) {
  engine::EngineOptions o;
  o.model_dir = f.model;
  o.kv_cache_mb = f.kv_cache_mb;
  o.block_size = f.block_size;
  o.scheduler.max_batched_tokens = f.max_batched_tokens;
  o.int8_activations = int8_activations_option(f.activations, "--activations");
  o.prefix_caching = !f.no_prefix_caching;
  o.kv_cache_dtype = kv_cache_dtype_option(f.kv_cache_dtype, "--kv-cache-dtype");
  if (f.block_size <= 0) throw std::invalid_argument("--block-size must be positive");
  if (f.max_batched_tokens <= 0)
    throw std::invalid_argument("--max-batched-tokens must be positive");
  apply_device(o, f.device);
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
