// Binds the tensors of a Hugging Face `LlamaForCausalLM` checkpoint to the layers of the model,
// checking every shape against config.json. Weights stay in their stored dtype (views into the
// memory-mapped files); backends convert on the fly.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/model_config.hpp"
#include "engine/safetensors.hpp"

namespace precis::engine {

struct LayerWeights {
  TensorView input_norm;  // model.layers.N.input_layernorm.weight           [H]
  TensorView q_proj;      // model.layers.N.self_attn.q_proj.weight          [heads*hd, H]
  TensorView k_proj;      // model.layers.N.self_attn.k_proj.weight          [kv_heads*hd, H]
  TensorView v_proj;      // model.layers.N.self_attn.v_proj.weight          [kv_heads*hd, H]
  TensorView o_proj;      // model.layers.N.self_attn.o_proj.weight          [H, heads*hd]
  TensorView post_norm;   // model.layers.N.post_attention_layernorm.weight  [H]
  TensorView gate_proj;   // model.layers.N.mlp.gate_proj.weight             [I, H]
  TensorView up_proj;     // model.layers.N.mlp.up_proj.weight               [I, H]
  TensorView down_proj;   // model.layers.N.mlp.down_proj.weight             [H, I]
  // Qwen2: model.layers.N.self_attn.{q,k,v}_proj.bias; data == nullptr when the model has none.
  TensorView q_bias, k_bias, v_bias;
};

struct ModelWeights {
  ModelConfig config;
  std::shared_ptr<WeightStore> store;  // safetensors: keeps the mappings alive
  std::shared_ptr<const void> file;    // GGUF: keeps the mapping alive
  TensorView embed_tokens;             // model.embed_tokens.weight [V, H]
  std::vector<LayerWeights> layers;
  TensorView final_norm;  // model.norm.weight [H]
  TensorView lm_head;     // lm_head.weight [V, H], or embed_tokens when tied

  size_t total_bytes() const;  // bytes of all weights (lm_head counted once when tied)
};

// Loads `<dir>/config.json` and the safetensors weights (for a GGUF file, see gguf_model.hpp).
// Throws LoadError naming the file and the tensor/field on any missing tensor, shape mismatch or
// mixed dtype.
ModelWeights load_model_weights(const std::string& dir);

}  // namespace precis::engine
