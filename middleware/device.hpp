// Which backend runs the embedded engine: `--device cpu|cuda|auto` (CLI) or model.device
// (config). auto picks CUDA when this build has the CUDA backend and a device is present.
#pragma once

#include <string>

#include "engine/engine.hpp"

namespace precis {

struct DeviceOptions {
  std::string device;                // "cpu", "cuda" or "auto"; empty: $PRECIS_DEVICE, else "auto"
  double gpu_memory_fraction = 0.9;  // CUDA: share of device memory precis may use
  bool cuda_graphs = true;           // CUDA: replay decode steps as captured graphs
  bool fused_decode_rope = false;    // CUDA: RoPE + KV store inside decode attention
  bool fused_gate_silu = false;      // CUDA: SiLU gate inside the one-row gate/up GEMV
};

// Points `eo` at the chosen device. eo.kv_cache_mb <= 0 means the device's default: 512 MiB on
// the CPU, the rest of gpu_memory_fraction after the weights on CUDA. Returns "cpu" or "cuda".
// Throws std::invalid_argument for an unknown device name, or for `cuda` when this build has no
// CUDA backend or the machine has no usable device (the message says which), and for an f32 KV
// cache on CUDA, which keeps f16 only.
std::string apply_device(engine::EngineOptions& eo, const DeviceOptions& d);

// Empty when `--device cuda` can work here; otherwise why not (no CUDA backend in this build, no
// driver, no device).
std::string cuda_unavailable_reason();

// True when this build includes the CUDA backend (nvcc was found when it was configured).
bool cuda_backend_built();

// "f16" or "f32" as a KV cache dtype; otherwise throws std::invalid_argument naming `what` (the
// flag or config key) and the bad value.
// "int8" or "f32" as EngineOptions::int8_activations; throws std::invalid_argument naming `what`.
bool int8_activations_option(const std::string& name, const std::string& what);
engine::KvCacheDtype kv_cache_dtype_option(const std::string& name, const std::string& what);

// The CPU's KV cache when none is given.
constexpr double kDefaultCpuKvCacheMb = 512;

}  // namespace precis
