// The reference backend: the Llama forward pass on the CPU, multi-threaded on the engine's thread
// pool (thread_pool.hpp) and vectorised with AVX2/F16C where the compiler targets them. K and V
// are held in f32 in one allocation sized up front; every other backend is checked against this
// one.
#pragma once

#include <vector>

#include "engine/backend.hpp"
#include "engine/cpu_kernels.hpp"
#include "engine/model_weights.hpp"

namespace precis::engine {

class CpuBackend final : public Backend {
 public:
  // activations: how quantized weights meet them (cpu_kernels.hpp); f32 is the reference.
  CpuBackend(const ModelWeights& weights, int num_blocks, int block_size,
             cpu::Activations activations = cpu::Activations::f32);

  std::string name() const override { return "cpu"; }
  const ModelConfig& config() const override { return w_.config; }
  int num_blocks() const override { return num_blocks_; }
  int block_size() const override { return block_size_; }
  void copy_blocks(std::span<const BlockCopy> copies) override;
  void forward(std::span<const BatchSequence> batch, std::vector<float>& logits) override;

 private:
  float* k_at(int layer, int block, int kv_head, int slot);
  float* v_at(int layer, int block, int kv_head, int slot);
  void attention(int layer, std::span<const BatchSequence> batch, const std::vector<int>& row_seq,
                 const std::vector<int>& row_pos);

  const ModelWeights& w_;
  int num_blocks_, block_size_;
  cpu::Activations activations_;
  int head_dim_, n_heads_, n_kv_heads_;
  size_t block_stride_;  // floats per (layer, block): kv_heads * block_size * head_dim
  std::vector<float> k_cache_, v_cache_;
  std::vector<double> rope_inv_freq_;
  // Activations, reused across calls.
  std::vector<float> x_, xn_, q_, k_, v_, attn_, gate_, up_, tmp_;
};

}  // namespace precis::engine
