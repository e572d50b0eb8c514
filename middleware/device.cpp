#include "middleware/device.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#ifdef PRECIS_WITH_CUDA
#include "cuda/cuda_backend.hpp"
#include "engine/cpu_backend.hpp"
#endif

namespace precis {

bool cuda_backend_built() {
#ifdef PRECIS_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::string cuda_unavailable_reason() {
#ifdef PRECIS_WITH_CUDA
  std::string why;
  if (cuda::cuda_device_count(&why) > 0) return "";
  return "no CUDA device (" + why + ")";
#else
  return "this precis was built without the CUDA backend (nvcc was not found when it was "
         "configured; rebuild with the CUDA toolkit and -DPRECIS_CUDA=ON)";
#endif
}

std::string apply_device(engine::EngineOptions& eo, const DeviceOptions& d) {
  std::string device = d.device;
  if (device.empty()) {
    const char* env = std::getenv("PRECIS_DEVICE");
    device = env && *env ? env : "auto";
  }
  if (device != "cpu" && device != "cuda" && device != "auto")
    throw std::invalid_argument("--device must be cpu, cuda or auto, got '" + device + "'");
  const std::string why_no_cuda = device == "cpu" ? "" : cuda_unavailable_reason();
  [[maybe_unused]] const bool chosen_automatically = device == "auto";  // (CUDA builds)
  if (device == "auto") device = why_no_cuda.empty() ? "cuda" : "cpu";
  if (device == "cpu") {
    eo.backend_factory = nullptr;
    if (eo.kv_cache_mb <= 0) eo.kv_cache_mb = kDefaultCpuKvCacheMb;
    return device;
  }
  if (!why_no_cuda.empty()) throw std::invalid_argument("--device cuda: " + why_no_cuda);
  if (eo.kv_cache_dtype != engine::KvCacheDtype::f16)
    throw std::invalid_argument(
        "--kv-cache-dtype f32: the CUDA backend keeps its KV cache in f16; use f16 or --device "
        "cpu");
#ifdef PRECIS_WITH_CUDA
  cuda::CudaBackendOptions co;
  co.kv_cache_mb = eo.kv_cache_mb;
  co.gpu_memory_fraction = d.gpu_memory_fraction;
  co.cuda_graphs = d.cuda_graphs;
  co.fused_decode_rope = d.fused_decode_rope;
  co.fused_gate_silu = d.fused_gate_silu;
  if (!(co.gpu_memory_fraction > 0 && co.gpu_memory_fraction <= 1))
    throw std::invalid_argument("--gpu-memory-fraction must be in (0, 1]");
  const double cpu_kv_mb = eo.kv_cache_mb > 0 ? eo.kv_cache_mb : kDefaultCpuKvCacheMb;
  const engine::KvCacheDtype cpu_kv_dtype = eo.kv_cache_dtype;
  const engine::cpu::Activations cpu_activations =
      eo.int8_activations ? engine::cpu::Activations::int8 : engine::cpu::Activations::f32;
  eo.backend_factory = [co, chosen_automatically, cpu_kv_mb, cpu_kv_dtype, cpu_activations](
                           const engine::ModelWeights& w,
                           int block_size) -> std::unique_ptr<engine::Backend> {
    // "auto" runs what the CUDA backend cannot (GGUF, Qwen2) on the CPU instead of failing.
    if (const std::string why = cuda::cuda_unsupported_reason(w);
        chosen_automatically && !why.empty()) {
      std::fprintf(stderr, "precis: running on the CPU: %s\n", why.c_str());
      return std::make_unique<engine::CpuBackend>(
          w, engine::kv_blocks_for_budget(w.config, block_size, cpu_kv_mb, cpu_kv_dtype),
          block_size, cpu_activations, cpu_kv_dtype);
    }
    return cuda::make_cuda_backend(w, block_size, co);
  };
#endif
  return device;
}

bool int8_activations_option(const std::string& name, const std::string& what) {
  if (name == "int8") return true;
  if (name == "f32") return false;
  throw std::invalid_argument(what + " must be int8 or f32, got '" + name + "'");
}

engine::KvCacheDtype kv_cache_dtype_option(const std::string& name, const std::string& what) {
  if (auto d = engine::parse_kv_cache_dtype(name)) return *d;
  throw std::invalid_argument(what + " must be f16 or f32, got '" + name + "'");
}

}  // namespace precis
