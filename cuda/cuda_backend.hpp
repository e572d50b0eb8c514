// The engine on an NVIDIA GPU: weights uploaded once (cuda/device_weights), linear layers through
// cuBLAS, the rest in the kernels of cuda/kernels/, the paged KV cache (f16) in one device
// allocation, and sampling on the device so only token ids and log-probs cross back. Checked
// against the CPU backend by tests/gpu/.
#pragma once

#include <memory>
#include <string>

#include "engine/backend.hpp"
#include "engine/model_weights.hpp"

namespace precis::cuda {

struct CudaBackendOptions {
  int device = 0;
  // KV cache size in MiB; <= 0: gpu_memory_fraction of the device's memory, less what is in
  // use after the weights are loaded and an activation reserve.
  double kv_cache_mb = 0;
  double gpu_memory_fraction = 0.9;
  // Decode steps of up to 256 sequences replayed as CUDA graphs (one launch per step instead of
  // ~10 per layer). Off: every step launches its kernels one by one.
  bool cuda_graphs = true;
};

// Number of usable CUDA devices; 0 with the reason in `why` when there is none (no driver, no
// device, or a runtime error).
int cuda_device_count(std::string* why = nullptr);

// Throws CudaError (no device, out of memory) or std::invalid_argument (bad options, model
// shapes the kernels do not support).
// Why the CUDA backend cannot run this model ("" when it can): it computes with f32/f16/bf16
// weights, Hugging Face's rotary layout and no q/k/v biases. GGUF files (quantized blocks,
// adjacent-pair rotary) and Qwen2 run on the CPU backend.
std::string cuda_unsupported_reason(const engine::ModelWeights& weights);

std::unique_ptr<engine::Backend> make_cuda_backend(const engine::ModelWeights& weights,
                                                   int block_size,
                                                   const CudaBackendOptions& options);

}  // namespace precis::cuda
