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
  // Decode steps rotate q and k and store the new token's K/V inside the decode attention kernel
  // (AttentionArgs::rope) instead of in rope_and_store_kv: one launch per layer fewer, the same
  // bits. Off until a GPU run measures it (scripts/gpu/check.sh step 11).
  bool fused_decode_rope = false;
  // One-row steps compute the MLP's gate/up GEMV and the SiLU gate in one kernel
  // (dense_gemv_silu, f16/bf16 weights) instead of the GEMV and silu_mul: one launch per layer
  // fewer and no f32 gate/up row. Sums in another order than the default GEMV (two warps per
  // row instead of four), so not bit-identical to it. Off until a GPU run measures it.
  bool fused_gate_silu = false;
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
