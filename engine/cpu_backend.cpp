#include "engine/cpu_backend.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "engine/batch_rows.hpp"
#include "engine/cpu_kernels.hpp"
#include "engine/cpu_kv_kernels.hpp"
#include "engine/cpu_prefetch.hpp"
#include "engine/kernel_table.hpp"
#include "engine/thread_pool.hpp"

namespace precis::engine {

int kv_blocks_for_budget(const ModelConfig& c, int block_size, double megabytes,
                         KvCacheDtype dtype) {
  const double bytes_per_block = 2.0 * c.num_hidden_layers * c.kv_dim() * block_size *
                                 static_cast<double>(kv_cache_dtype_bytes(dtype));
  return static_cast<int>(megabytes * 1024.0 * 1024.0 / bytes_per_block);
}

CpuBackend::CpuBackend(const ModelWeights& weights, int num_blocks, int block_size,
                       cpu::Activations activations, KvCacheDtype kv_dtype)
    : w_(weights),
      num_blocks_(num_blocks),
      block_size_(block_size),
      activations_(activations),
      kv_dtype_(kv_dtype) {
  const ModelConfig& c = w_.config;
  if (num_blocks <= 0) throw std::invalid_argument("KV cache budget too small for one block");
  // Chooses the kernel variant and the K types' prefetch now, so a bad PRECIS_CPU_ISA or
  // PRECIS_K_PREFETCH fails the load on this thread rather than the first forward pass, possibly
  // inside a worker.
  active_kernels();
  k_unit_prefetch();
  head_dim_ = c.head_dim();
  n_heads_ = c.num_attention_heads;
  n_kv_heads_ = c.num_key_value_heads;
  block_stride_ = static_cast<size_t>(n_kv_heads_) * block_size_ * head_dim_;
  const size_t total = block_stride_ * num_blocks_ * c.num_hidden_layers;
  if (kv_dtype_ == KvCacheDtype::f16) {
    k_half_.assign(total, 0);
    v_half_.assign(total, 0);
  } else {
    k_cache_.assign(total, 0.f);
    v_cache_.assign(total, 0.f);
  }
  rope_inv_freq_ = rope_inv_freq(c);
  layers_ = w_.layers;
  lm_head_ = w_.lm_head;
  if (activations_ == cpu::Activations::int8 && active_kernels().isa == CpuIsa::avx512)
    interleave_weights();
}

void CpuBackend::interleave_weights() {
  auto repack = [&](TensorView& v) {
    if (!v.quant || v.shape.size() != 2) return;
    std::optional<InterleavedMatrix> m =
        interleave_matrix(v, static_cast<int>(v.shape[0]), static_cast<int>(v.shape[1]));
    if (!m) return;
    interleaved_.push_back(std::make_unique<InterleavedMatrix>(std::move(*m)));
    v.cpu_interleaved = interleaved_.back().get();
  };
  for (LayerWeights& L : layers_)
    for (TensorView* v :
         {&L.q_proj, &L.k_proj, &L.v_proj, &L.o_proj, &L.gate_proj, &L.up_proj, &L.down_proj})
      repack(*v);
  repack(lm_head_);
}

size_t CpuBackend::kv_offset(int layer, int block, int kv_head, int slot) const {
  return (static_cast<size_t>(layer) * num_blocks_ + block) * block_stride_ +
         (static_cast<size_t>(kv_head) * block_size_ + slot) * head_dim_;
}

void CpuBackend::store_kv(int layer, int block, int kv_head, int slot, const float* k,
                          const float* v) {
  const size_t at = kv_offset(layer, block, kv_head, slot);
  if (kv_dtype_ == KvCacheDtype::f16) {
    cpu::store_f16(k, k_half_.data() + at, head_dim_);
    cpu::store_f16(v, v_half_.data() + at, head_dim_);
  } else {
    std::memcpy(k_cache_.data() + at, k, sizeof(float) * head_dim_);
    std::memcpy(v_cache_.data() + at, v, sizeof(float) * head_dim_);
  }
}

void CpuBackend::copy_blocks(std::span<const BlockCopy> copies) {
  auto copy = [&](auto& cache, const BlockCopy& c, int l) {
    std::copy_n(cache.begin() + static_cast<long>(kv_offset(l, c.src, 0, 0)), block_stride_,
                cache.begin() + static_cast<long>(kv_offset(l, c.dst, 0, 0)));
  };
  for (const BlockCopy& c : copies) {
    for (int l = 0; l < w_.config.num_hidden_layers; ++l) {
      if (kv_dtype_ == KvCacheDtype::f16) {
        copy(k_half_, c, l);
        copy(v_half_, c, l);
      } else {
        copy(k_cache_, c, l);
        copy(v_cache_, c, l);
      }
    }
  }
}

namespace {

// cos and sin of pos * inv_freq[i] for i < head_dim / 2, as floats: computed once per row and
// forward pass, then shared by every head and layer (the same values apply_rope used to compute
// for each of them).
void rope_angles(int pos, const std::vector<double>& inv_freq, float* cos_out, float* sin_out) {
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const double angle = pos * inv_freq[i];
    cos_out[i] = static_cast<float>(std::cos(angle));
    sin_out[i] = static_cast<float>(std::sin(angle));
  }
}

// Hugging Face's rotary convention: the two halves of each head are the (real, imaginary) pair.
// GGUF llama's (`interleaved`): adjacent elements (2i, 2i + 1) are.
void apply_rope(float* v, int head_dim, const float* cos, const float* sin, bool interleaved) {
  const int half = head_dim / 2;
  for (int i = 0; i < half; ++i) {
    const float c = cos[i], s = sin[i];
    const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    const float a = v[ia], b = v[ib];
    v[ia] = a * c - b * s;
    v[ib] = b * c + a * s;
  }
}

// y[t, :] += bias for T rows (Qwen2's q/k/v biases); no-op for a model without them.
void add_bias(float* y, int T, int N, const TensorView& bias) {
  if (!bias.data) return;
  std::vector<float> b(static_cast<size_t>(N));
  cpu::load_row(bias, 0, N, b.data());
  for (int t = 0; t < T; ++t) cpu::axpy(1.0f, b.data(), y + static_cast<size_t>(t) * N, N);
}

}  // namespace

namespace {
// One KV block's run of keys or values (consecutive slots of one KV head), f32 or f16.
inline void dot_kv_rows(const float* q, const float* k, int rows, int n, float* out) {
  cpu::dot_rows(q, k, rows, n, out);
}
inline void dot_kv_rows(const float* q, const uint16_t* k, int rows, int n, float* out) {
  cpu::dot_f16_rows(q, k, rows, n, out);
}
inline void axpy_kv_rows(const float* a, const float* v, int rows, int n, float* y) {
  cpu::axpy_rows(a, v, rows, n, y);
}
inline void axpy_kv_rows(const float* a, const uint16_t* v, int rows, int n, float* y) {
  cpu::axpy_f16_rows(a, v, rows, n, y);
}
}  // namespace

void CpuBackend::attention(int layer, std::span<const BatchSequence> batch,
                           const std::vector<int>& row_seq, const std::vector<int>& row_pos) {
  if (kv_dtype_ == KvCacheDtype::f16)
    attention_in(k_half_.data(), v_half_.data(), layer, batch, row_seq, row_pos);
  else
    attention_in(k_cache_.data(), v_cache_.data(), layer, batch, row_seq, row_pos);
}

template <class Elem>
void CpuBackend::attention_in(const Elem* k_cache, const Elem* v_cache, int layer,
                              std::span<const BatchSequence> batch, const std::vector<int>& row_seq,
                              const std::vector<int>& row_pos) {
  const int T = static_cast<int>(row_seq.size());
  const int q_dim = n_heads_ * head_dim_;
  const int group = n_heads_ / n_kv_heads_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));

  // Softmax of one query's raw scores over its ctx keys (in place), then the weighted sum of their
  // values into its output row: finish_query from the cache, per query; or, in the tiled path,
  // axpy_rows_queries over the ctx value rows converted to f32 once for the tile, which gives
  // axpy_f16_rows's bits when head_dim is a multiple of 64 (no tail). Either way the same bits.
  auto softmax = [&](float* scores, int ctx) {
    float mx = -INFINITY;
    for (int j = 0; j < ctx; ++j) {
      scores[j] *= scale;
      mx = std::max(mx, scores[j]);
    }
    const float inv = static_cast<float>(1.0 / cpu::exp_sum(scores, ctx, mx, scores));
    for (int j = 0; j < ctx; ++j) scores[j] *= inv;
  };
  auto finish_query = [&](float* scores, int ctx, const BatchSequence& s, int g, float* out) {
    softmax(scores, ctx);
    std::fill(out, out + head_dim_, 0.f);
    for (int j0 = 0; j0 < ctx; j0 += block_size_) {
      const int rows = std::min(block_size_, ctx - j0);
      axpy_kv_rows(scores + j0, v_cache + kv_offset(layer, s.block_table[j0 / block_size_], g, 0),
                   rows, head_dim_, out);
    }
  };

  // Prefill rows come in runs of consecutive positions of one sequence. Up to kRowTile of them
  // times the query heads of one KV head score each block of keys together, the block converted
  // to f32 once (cpu::dot_f16_transposed) instead of once per query; the f16 cache only, and
  // head_dim a multiple of 16 (what that kernel reproduces dot_f16_rows's bits for).
  constexpr int kRowTile = 16;
  struct RowTile {
    int first = 0, count = 0;
  };
  std::vector<RowTile> tiles;
  for (int t = 0; t < T; ++t) {
    if (!tiles.empty()) {
      RowTile& last = tiles.back();
      if (last.count < kRowTile && row_seq[t] == row_seq[t - 1] &&
          row_pos[t] == row_pos[t - 1] + 1) {
        ++last.count;
        continue;
      }
    }
    tiles.push_back({t, 1});
  }
  constexpr bool kHalfCache = std::is_same_v<Elem, uint16_t>;
  // Fewer queries than this per block do better converting the keys per query (decode).
  constexpr int kMinTiledQueries = 4;
  const bool can_tile = kHalfCache && head_dim_ % 16 == 0;

  // Tasks: (tile, KV head) for a tile with enough queries, else (row, head) as for decode. Rows
  // of long sequences cost more, so tasks are claimed dynamically.
  struct Task {
    int tile;  // index into tiles
    int row;   // untiled: the row; tiled: -1
    int head;  // untiled: the query head; tiled: the KV head
  };
  std::vector<Task> tasks;
  for (int i = 0; i < static_cast<int>(tiles.size()); ++i) {
    const RowTile& tile = tiles[i];
    if (can_tile && tile.count * group >= kMinTiledQueries) {
      for (int g = 0; g < n_kv_heads_; ++g) tasks.push_back({i, -1, g});
    } else {
      for (int t = tile.first; t < tile.first + tile.count; ++t)
        for (int h = 0; h < n_heads_; ++h) tasks.push_back({i, t, h});
    }
  }
  auto q_of = [&](int t, int h) {
    return q_.data() + static_cast<size_t>(t) * q_dim + h * head_dim_;
  };
  auto out_of = [&](int t, int h) {
    return attn_.data() + static_cast<size_t>(t) * q_dim + h * head_dim_;
  };
  parallel_for(
      static_cast<int>(tasks.size()), 1,
      [&](int begin, int end, int) {
        thread_local std::vector<float> scores, kt, values;
        for (int i = begin; i < end; ++i) {
          const Task& task = tasks[i];
          const RowTile& tile = tiles[task.tile];
          const BatchSequence& s = batch[row_seq[tile.first]];
          if (task.row >= 0) {
            const int t = task.row, h = task.head, g = h / group;
            const int ctx = row_pos[t] + 1;  // causal: attend to positions 0..pos
            scores.resize(ctx);
            // A block's slots for KV head g are consecutive rows of head_dim_: one kernel call
            // per block, not per position.
            for (int j0 = 0; j0 < ctx; j0 += block_size_) {
              const int rows = std::min(block_size_, ctx - j0);
              dot_kv_rows(q_of(t, h),
                          k_cache + kv_offset(layer, s.block_table[j0 / block_size_], g, 0), rows,
                          head_dim_, scores.data() + j0);
            }
            finish_query(scores.data(), ctx, s, g, out_of(t, h));
            continue;
          }
          if constexpr (kHalfCache) {
            const int g = task.head;
            // Scores of (row r, head g * group + hh) at (r * group + hh) * ld: every key up to the
            // tile's last position, kKeyTile at a time (the padding past a block's keys is
            // overwritten by the next block's, or lies past the context and is never read).
            const int ctx_max = row_pos[tile.first + tile.count - 1] + 1;
            const int ld = ctx_max + cpu::kKeyTile;
            scores.resize(static_cast<size_t>(tile.count) * group * ld);
            kt.resize(static_cast<size_t>(head_dim_) * cpu::kKeyTile);
            for (int j0 = 0; j0 < ctx_max; j0 += block_size_) {
              const int block_rows = std::min(block_size_, ctx_max - j0);
              const Elem* kb = k_cache + kv_offset(layer, s.block_table[j0 / block_size_], g, 0);
              for (int r0 = 0; r0 < block_rows; r0 += cpu::kKeyTile) {
                cpu::transpose_f16_keys(kb + static_cast<size_t>(r0) * head_dim_,
                                        std::min(cpu::kKeyTile, block_rows - r0), head_dim_,
                                        kt.data());
                for (int hh = 0; hh < group; ++hh)
                  cpu::dot_f16_transposed(
                      q_of(tile.first, g * group + hh), q_dim, tile.count, kt.data(), head_dim_,
                      scores.data() + static_cast<size_t>(hh) * ld + j0 + r0, group * ld);
              }
            }
            const bool f32_values = head_dim_ % 64 == 0;
            if (f32_values) {
              values.resize(static_cast<size_t>(ctx_max) * head_dim_);
              for (int j0 = 0; j0 < ctx_max; j0 += block_size_)
                cpu::load_f16(v_cache + kv_offset(layer, s.block_table[j0 / block_size_], g, 0),
                              values.data() + static_cast<size_t>(j0) * head_dim_,
                              std::min(block_size_, ctx_max - j0) * head_dim_);
            }
            for (int r = 0; r < tile.count; ++r) {
              const int t = tile.first + r, ctx = row_pos[t] + 1;
              float* row_scores = scores.data() + static_cast<size_t>(r) * group * ld;
              if (!f32_values) {
                for (int hh = 0; hh < group; ++hh)
                  finish_query(row_scores + hh * ld, ctx, s, g, out_of(t, g * group + hh));
                continue;
              }
              // The row's query heads of KV head g: consecutive in scores (ld apart) and in the
              // output (head_dim_ apart); one pass over the values for all of them.
              for (int hh = 0; hh < group; ++hh) softmax(row_scores + hh * ld, ctx);
              float* out = out_of(t, g * group);
              std::fill(out, out + static_cast<size_t>(group) * head_dim_, 0.f);
              cpu::axpy_rows_queries(row_scores, ld, group, values.data(), ctx, head_dim_, out,
                                     head_dim_);
            }
          }
        }
      },
      8);
}

void CpuBackend::norm_rows(const float* x, int T, const TensorView& weight, float* out) {
  const int H = w_.config.hidden_size;
  parallel_for(T, kRowsPerTask, [&](int begin, int end, int) {
    const size_t at = static_cast<size_t>(begin) * H;
    cpu::rms_norm(x + at, end - begin, H, weight, w_.config.rms_norm_eps, out + at);
  });
}

void CpuBackend::add_residual(int T) {
  const int H = w_.config.hidden_size;
  parallel_for(T, kRowsPerTask, [&](int begin, int end, int) {
    for (size_t i = static_cast<size_t>(begin) * H; i < static_cast<size_t>(end) * H; ++i)
      x_[i] += tmp_[i];
  });
}

void CpuBackend::forward(std::span<const BatchSequence> batch, std::vector<float>& logits) {
  const ModelConfig& c = w_.config;
  const int H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int q_dim = n_heads_ * head_dim_, kv_dim = n_kv_heads_ * head_dim_;

  // Flatten the batch into rows; remember each row's sequence and position.
  const BatchRows rows = flatten_rows(batch, block_size_, V);
  const std::vector<int>&row_seq = rows.row_seq, &row_pos = rows.pos, &out_rows = rows.out_rows;
  const int T = static_cast<int>(row_seq.size());
  logits.assign(static_cast<size_t>(out_rows.size()) * V, 0.f);
  if (T == 0) return;

  x_.resize(static_cast<size_t>(T) * H);
  xn_.resize(x_.size());
  q_.resize(static_cast<size_t>(T) * q_dim);
  attn_.resize(q_.size());
  k_.resize(static_cast<size_t>(T) * kv_dim);
  v_.resize(k_.size());
  gate_.resize(static_cast<size_t>(T) * I);
  up_.resize(gate_.size());
  tmp_.resize(x_.size());

  // Rotary angles per row: [T][cos half | sin half].
  const int half = head_dim_ / 2;
  rope_cs_.resize(static_cast<size_t>(T) * 2 * half);
  for (int t = 0; t < T; ++t) {
    float* cs = rope_cs_.data() + static_cast<size_t>(t) * 2 * half;
    rope_angles(row_pos[t], rope_inv_freq_, cs, cs + half);
  }

  // Embedding gather.
  for (int t = 0; t < T; ++t)
    cpu::load_row(w_.embed_tokens, rows.tokens[t], H, x_.data() + static_cast<size_t>(t) * H);

  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& L = layers_[l];
    norm_rows(x_.data(), T, L.input_norm, xn_.data());
    const cpu::MatmulOut qkv[] = {{&L.q_proj, q_dim, q_.data()},
                                  {&L.k_proj, kv_dim, k_.data()},
                                  {&L.v_proj, kv_dim, v_.data()}};
    cpu::matmul_wt_multi(xn_.data(), T, H, qkv, activations_);
    add_bias(q_.data(), T, q_dim, L.q_bias);
    add_bias(k_.data(), T, kv_dim, L.k_bias);
    add_bias(v_.data(), T, kv_dim, L.v_bias);
    // Each row's rotation and KV store touch only that row's data and its own cache slot.
    parallel_for(T, kRowsPerTask, [&](int begin, int end, int) {
      for (int t = begin; t < end; ++t) {
        const BatchSequence& s = batch[row_seq[t]];
        const int pos = row_pos[t];
        const float* cos = rope_cs_.data() + static_cast<size_t>(t) * 2 * half;
        const float* sin = cos + half;
        for (int h = 0; h < n_heads_; ++h)
          apply_rope(q_.data() + static_cast<size_t>(t) * q_dim + h * head_dim_, head_dim_, cos,
                     sin, c.rope_interleaved);
        for (int g = 0; g < n_kv_heads_; ++g) {
          float* kt = k_.data() + static_cast<size_t>(t) * kv_dim + g * head_dim_;
          apply_rope(kt, head_dim_, cos, sin, c.rope_interleaved);
          const int block = s.block_table[pos / block_size_], slot = pos % block_size_;
          store_kv(l, block, g, slot, kt,
                   v_.data() + static_cast<size_t>(t) * kv_dim + g * head_dim_);
        }
      }
    });
    attention(l, batch, row_seq, row_pos);
    cpu::matmul_wt(attn_.data(), T, q_dim, L.o_proj, H, tmp_.data(), activations_);
    add_residual(T);

    norm_rows(x_.data(), T, L.post_norm, xn_.data());
    const cpu::MatmulOut gate_up[] = {{&L.gate_proj, I, gate_.data()}, {&L.up_proj, I, up_.data()}};
    cpu::matmul_wt_multi(xn_.data(), T, H, gate_up, activations_);
    // A row per call, so which elements take the kernel's scalar tail (a row's last I % lanes)
    // depends neither on the thread count nor on the row's place in the batch.
    parallel_for(T, kRowsPerTask, [&](int begin, int end, int) {
      for (int t = begin; t < end; ++t)
        cpu::silu_mul(gate_.data() + static_cast<size_t>(t) * I,
                      up_.data() + static_cast<size_t>(t) * I, I);
    });
    cpu::matmul_wt(gate_.data(), T, I, L.down_proj, H, tmp_.data(), activations_);
    add_residual(T);
  }

  // Final norm and LM head only for the rows whose logits were asked for.
  const int R = static_cast<int>(out_rows.size());
  std::vector<float> picked(static_cast<size_t>(R) * H);
  for (int r = 0; r < R; ++r)
    std::memcpy(picked.data() + static_cast<size_t>(r) * H,
                x_.data() + static_cast<size_t>(out_rows[r]) * H, sizeof(float) * H);
  std::vector<float> normed(picked.size());
  norm_rows(picked.data(), R, w_.final_norm, normed.data());
  cpu::matmul_wt(normed.data(), R, H, lm_head_, V, logits.data(), activations_);
}

}  // namespace precis::engine
