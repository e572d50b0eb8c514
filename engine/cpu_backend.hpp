// The reference backend: the Llama forward pass on the CPU, multi-threaded on the engine's thread
// pool (thread_pool.hpp) and vectorised with AVX2/F16C where the compiler targets them. K and V
// are held in one allocation sized up front, in f16 (the default: half the memory) or f32 (exact);
// every other backend is checked against this one.
#pragma once

#include <memory>
#include <vector>

#include "engine/aligned_allocator.hpp"
#include "engine/backend.hpp"
#include "engine/cpu_kernels.hpp"
#include "engine/interleaved_quant.hpp"
#include "engine/kv_cache_dtype.hpp"
#include "engine/model_weights.hpp"

namespace precis::engine {

class CpuBackend final : public Backend {
 public:
  // activations: how quantized weights meet them (cpu_kernels.hpp); f32 is the reference. With
  // int8 on a CPU with AVX-512 VNNI, the quantized matrices are repacked at construction
  // (interleaved_quant.hpp) and multiplied by the interleaved GEMM.
  // kv_dtype: what K and V are stored in; size num_blocks with kv_blocks_for_budget(..., kv_dtype).
  CpuBackend(const ModelWeights& weights, int num_blocks, int block_size,
             cpu::Activations activations = cpu::Activations::f32,
             KvCacheDtype kv_dtype = KvCacheDtype::f16);

  std::string name() const override { return "cpu"; }
  const ModelConfig& config() const override { return w_.config; }
  int num_blocks() const override { return num_blocks_; }
  int block_size() const override { return block_size_; }
  void copy_blocks(std::span<const BlockCopy> copies) override;
  void forward(std::span<const BatchSequence> batch, std::vector<float>& logits) override;

 private:
  // Element offset of (layer, block, kv_head, slot)'s row in k_/v_ storage of either dtype.
  size_t kv_offset(int layer, int block, int kv_head, int slot) const;
  void store_kv(int layer, int block, int kv_head, int slot, const float* k, const float* v);
  void attention(int layer, std::span<const BatchSequence> batch, const std::vector<int>& row_seq,
                 const std::vector<int>& row_pos);
  template <class Elem>
  void attention_in(const Elem* k_cache, const Elem* v_cache, int layer,
                    std::span<const BatchSequence> batch, const std::vector<int>& row_seq,
                    const std::vector<int>& row_pos);

  // out = rms_norm(x) (T rows of hidden_size) and x_ += tmp_ for T rows, split over the thread
  // pool by rows (each row's arithmetic is the same however the rows are split). Serial, they
  // were 3% of a prefill and left the other threads waiting.
  void norm_rows(const float* x, int T, const TensorView& weight, float* out);
  void add_residual(int T);
  // Rows per task of forward()'s row-wise steps: decode's few rows stay on the calling thread.
  static constexpr int kRowsPerTask = 16;

  // The views forward() reads: w_'s, with cpu_interleaved set where a matrix was repacked.
  void interleave_weights();

  const ModelWeights& w_;
  std::vector<LayerWeights> layers_;
  TensorView lm_head_;
  std::vector<std::unique_ptr<InterleavedMatrix>> interleaved_;  // what the views point to
  int num_blocks_, block_size_;
  cpu::Activations activations_;
  int head_dim_, n_heads_, n_kv_heads_;
  size_t block_stride_;  // elements per (layer, block): kv_heads * block_size * head_dim
  KvCacheDtype kv_dtype_;
  std::vector<float> k_cache_, v_cache_;   // f32 cache (empty when f16)
  std::vector<uint16_t> k_half_, v_half_;  // f16 cache (empty when f32)
  std::vector<double> rope_inv_freq_;
  std::vector<float> rope_cs_;  // forward(): each row's rotary cos and sin
  // Activations, reused across calls; cache-line aligned so the kernels' vector loads from them
  // (rows of K floats, K a multiple of 16 in every real model) each stay within one line.
  AlignedFloats x_, xn_, q_, k_, v_, attn_, gate_, up_, tmp_;
};

}  // namespace precis::engine
