// The model's weights in device memory, uploaded once. Dense matrices keep their stored dtype
// (f32, f16 or bf16; the GEMMs accumulate in f32); GGUF's quantized matrices stay blocks, which
// the decode GEMV reads directly and prefill dequantizes to f16 for cuBLAS (cuda/linear.hpp).
// q/k/v and gate/up are stacked so each is one linear layer; the small norm vectors are
// converted to f32 for the kernels.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "cuda/device_buffer.hpp"
#include "cuda/kernels/kernels.hpp"
#include "cuda/kernels/quant_kernels.hpp"
#include "engine/model_weights.hpp"

namespace precis::cuda {

// A run of rows of a linear layer's weight [rows, cols] in one storage: dense elements in
// DeviceWeights::dtype, or quantized blocks (each row cols / block_elems blocks).
struct DeviceMatrix {
  DeviceBuffer<std::byte> data;
  std::optional<QuantType> quant;
  int rows = 0;
};

// A linear layer's weight, [rows, cols] row-major (Hugging Face's [out, in]). Source tensors
// stack into one part when they share a storage (always, for a safetensors model); a GGUF mix
// such as q4_K q/k with a q6_K v gives one part per run.
struct DeviceLinear {
  std::vector<DeviceMatrix> parts;
  int rows = 0, cols = 0;
};

struct DeviceLayer {
  DeviceLinear qkv;                // [q_dim + 2 * kv_dim, H]
  DeviceLinear o;                  // [H, q_dim]
  DeviceLinear gate_up;            // [2 * I, H]
  DeviceLinear down;               // [H, I]
  DeviceBuffer<float> input_norm;  // [H]
  DeviceBuffer<float> post_norm;   // [H]
};

struct DeviceWeights {
  // The dense matrices' dtype, which the GEMM operands (activations) take too: the weights'
  // own, or f16 when any matrix is quantized (other dense matrices are converted to it).
  DType dtype = DType::f16;
  DeviceLinear embed;        // [V, H]
  DeviceLinear lm_head_own;  // [V, H]; no parts when tied to the embedding
  std::vector<DeviceLayer> layers;
  DeviceBuffer<float> final_norm;
  size_t bytes = 0;               // device bytes of all of the above
  size_t max_quant_elements = 0;  // rows * cols of the largest quantized part (prefill scratch)

  const DeviceLinear& lm_head() const { return lm_head_own.parts.empty() ? embed : lm_head_own; }
};

// Uploads every tensor (synchronously). Throws CudaError when device memory runs out, naming
// the tensor and the bytes needed.
DeviceWeights upload_weights(const engine::ModelWeights& w);

DType device_dtype(engine::DType d);

// The CUDA kernels' name for a GGUF block type; nullopt for a type they do not compute with.
std::optional<QuantType> cuda_quant_type(engine::GgmlType t);

}  // namespace precis::cuda
