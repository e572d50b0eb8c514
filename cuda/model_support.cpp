// What the CUDA backend can run: checked before any device memory is touched.
#include <string>

#include "cuda/cuda_backend.hpp"
#include "engine/ggml_type.hpp"

namespace precis::cuda {

std::string cuda_unsupported_reason(const engine::ModelWeights& w) {
  auto quantized = [](const engine::TensorView& t) -> std::string {
    return t.quant ? "tensor '" + t.name + "' is " +
                         std::string(engine::ggml_type_info(*t.quant).name) +
                         " (quantized weights are not computed on CUDA yet)"
                   : "";
  };
  for (const engine::TensorView* t : {&w.embed_tokens, &w.lm_head, &w.final_norm})
    if (auto why = quantized(*t); !why.empty()) return why;
  for (const engine::LayerWeights& l : w.layers)
    for (const engine::TensorView* t : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj,
                                        &l.up_proj, &l.down_proj, &l.input_norm, &l.post_norm})
      if (auto why = quantized(*t); !why.empty()) return why;
  if (w.config.rope_interleaved)
    return "the model uses GGUF's adjacent-pair rotary layout (not on CUDA yet)";
  if (w.config.rope_llama3_factor > 0 || !w.config.rope_freq_factors.empty())
    return "the model scales its rotary frequencies (Llama 3.1; not on CUDA yet)";
  if (w.config.attention_bias)
    return "the model has q/k/v biases (" + w.config.architecture + "; not on CUDA yet)";
  return "";
}

}  // namespace precis::cuda
