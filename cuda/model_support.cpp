// What the CUDA backend can run: checked before any device memory is touched.
#include <string>

#include "cuda/cuda_backend.hpp"
#include "cuda/device_weights.hpp"
#include "engine/ggml_type.hpp"

namespace precis::cuda {

std::string cuda_unsupported_reason(const engine::ModelWeights& w) {
  auto blocks = [](const engine::TensorView& t) -> std::string {
    return t.quant && !cuda_quant_type(*t.quant)
               ? "tensor '" + t.name + "' is " +
                     std::string(engine::ggml_type_info(*t.quant).name) + " (not computed on CUDA)"
               : "";
  };
  // Norms are read as f32 vectors; a quantized one would be a malformed file.
  auto plain = [](const engine::TensorView& t) -> std::string {
    return t.quant ? "tensor '" + t.name + "' is quantized (expected f32/f16/bf16)" : "";
  };
  for (const engine::TensorView* t : {&w.embed_tokens, &w.lm_head})
    if (auto why = blocks(*t); !why.empty()) return why;
  if (auto why = plain(w.final_norm); !why.empty()) return why;
  for (const engine::LayerWeights& l : w.layers) {
    for (const engine::TensorView* t :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      if (auto why = blocks(*t); !why.empty()) return why;
    for (const engine::TensorView* t : {&l.input_norm, &l.post_norm})
      if (auto why = plain(*t); !why.empty()) return why;
  }
  if (w.config.attention_bias)
    return "the model has q/k/v biases (" + w.config.architecture + "; not on CUDA yet)";
  return "";
}

}  // namespace precis::cuda
