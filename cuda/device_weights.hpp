// The model's weights in device memory, uploaded once. Matrices keep their stored dtype (f32,
// f16 or bf16; the GEMMs accumulate in f32); q/k/v and gate/up are concatenated so each is one
// GEMM; the small norm vectors are converted to f32 for the kernels.
#pragma once

#include <cstddef>
#include <vector>

#include "cuda/device_buffer.hpp"
#include "cuda/kernels/kernels.hpp"
#include "engine/model_weights.hpp"

namespace precis::cuda {

struct DeviceLayer {
  DeviceBuffer<std::byte> qkv;      // [q_dim + 2 * kv_dim, H]
  DeviceBuffer<std::byte> o;        // [H, q_dim]
  DeviceBuffer<std::byte> gate_up;  // [2 * I, H]
  DeviceBuffer<std::byte> down;     // [H, I]
  DeviceBuffer<float> input_norm;   // [H]
  DeviceBuffer<float> post_norm;    // [H]
};

struct DeviceWeights {
  DType dtype = DType::f16;
  DeviceBuffer<std::byte> embed;        // [V, H]
  DeviceBuffer<std::byte> lm_head_own;  // [V, H]; empty when tied to the embedding
  std::vector<DeviceLayer> layers;
  DeviceBuffer<float> final_norm;
  size_t bytes = 0;  // device bytes of all of the above

  const void* lm_head() const {
    return lm_head_own.size() ? static_cast<const void*>(lm_head_own.get()) : embed.get();
  }
};

// Uploads every tensor (synchronously). Throws CudaError when device memory runs out, naming
// the tensor and the bytes needed.
DeviceWeights upload_weights(const engine::ModelWeights& w);

DType device_dtype(engine::DType d);

}  // namespace precis::cuda
