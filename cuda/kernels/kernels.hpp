// Host-side launchers of the CUDA backend's kernels, one .cu file each. Every pointer is a
// device pointer; every launch is asynchronous on `stream` and checks its launch status, throwing
// CudaError naming the kernel. Nothing here allocates.
//
// Layouts shared by the kernels:
// - Activations are row-major [T, width] with T rows (one per token in the batch).
// - GEMM operands (normed activations, attention output, SiLU product) are written in the
//   weights' dtype, because cuBLAS wants both operands in one type; everything else is f32.
// - The KV cache of one layer is [num_blocks][num_kv_heads][block_size][head_dim] in f16, for K
//   and V separately; a token's physical slot is block * block_size + offset in its block.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace precis::cuda {

enum class DType { f32, f16, bf16 };

// out[t, :] = table[ids[t], :] as f32; table is [vocab, H] in `dtype`.
void embedding_gather(const void* table, DType dtype, const int* ids, int T, int H, float* out,
                      cudaStream_t stream);

// If delta is non-null, x += delta first (the residual add). Then
// out[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * weight, written in out_dtype.
// weight is f32 [H].
void add_rms_norm(float* x, const float* delta, const float* weight, int T, int H, float eps,
                  void* out, DType out_dtype, cudaStream_t stream);

// x += delta, for n floats (the last residual add, before the final norm of selected rows).
void add_inplace(float* x, const float* delta, int64_t n, cudaStream_t stream);

// Copies rows `rows[r]` of src [*, H] to dst [R, H].
void gather_rows(const float* src, const int* rows, int R, int H, float* dst, cudaStream_t stream);

// qkv is [T, (n_heads + 2 * n_kv_heads) * head_dim] f32: q heads, then k heads, then v heads.
// Rotates q and k in place at positions pos[t] (angle pos * inv_freq[i] computed in double like
// the CPU backend; inv_freq is [head_dim / 2] double), pairing elements (i, i + head_dim / 2) as
// Hugging Face does or, `interleaved`, (2i, 2i + 1) as GGUF's llama layout does; then stores k
// and v of row t at physical slot slot_mapping[t] of this layer's cache.
void rope_and_store_kv(float* qkv, const int* pos, const int* slot_mapping, int T, int n_heads,
                       int n_kv_heads, int head_dim, const double* inv_freq, __half* k_cache,
                       __half* v_cache, int block_size, cudaStream_t stream,
                       bool interleaved = false);

// out[t, i] = silu(gate_up[t, i]) * gate_up[t, I + i]; gate_up is [T, 2I] f32, out [T, I].
void silu_mul(const float* gate_up, int T, int I, void* out, DType out_dtype, cudaStream_t stream);

// The attention inputs both attention kernels take. Row t is a query token of sequence
// row_seq[t] at position pos[t]; it attends causally to positions 0..pos[t] of that sequence,
// whose K/V are found through block_tables[row_seq[t] * max_blocks_per_seq + pos / block_size].
struct AttentionArgs {
  const float* q = nullptr;  // row t, head h at q + t * q_stride + h * head_dim (f32)
  int q_stride = 0;
  const __half* k_cache = nullptr;  // this layer's cache (layout above)
  const __half* v_cache = nullptr;
  const int* block_tables = nullptr;
  int max_blocks_per_seq = 0;
  const int* row_seq = nullptr;
  const int* pos = nullptr;
  int T = 0;
  int n_heads = 0;
  int n_kv_heads = 0;  // n_heads % n_kv_heads == 0 (grouped-query attention)
  int head_dim = 0;    // a multiple of 32, at most 256
  int block_size = 0;
  float scale = 0.f;    // 1 / sqrt(head_dim)
  void* out = nullptr;  // [T, n_heads * head_dim] in out_dtype
  DType out_dtype = DType::f32;
  // Decode split-K only (prefill ignores these). max_context: a host-side hint of the longest
  // context (pos + 1) in the batch, 0 = unknown (no split); it only picks the split count, so a
  // wrong hint costs speed, never correctness. split_scratch: device scratch of
  // split_scratch_floats floats; too small or null, the decode runs unsplit.
  int max_context = 0;
  float* split_scratch = nullptr;
  int64_t split_scratch_floats = 0;
  // split_counters: split_counters_len unsigneds, zero before the launch and left zero after it;
  // with at least T * n_heads of them the item's last partition merges the partials (one kernel),
  // otherwise (null or too few) a second kernel does.
  unsigned* split_counters = nullptr;
  int64_t split_counters_len = 0;
  // Decode only (prefill ignores it): rope_and_store_kv fused into paged_attention_decode, one
  // launch per layer fewer. With rope.inv_freq set, q is the raw qkv buffer of the rows (row t at
  // q + t * q_stride: q heads, then k heads, then v heads, as rope_and_store_kv takes it), read
  // but not written; the kernel rotates q and the new token's k at pos[t], takes that token's k
  // and v from qkv instead of the cache, and stores them at slot slot_mapping[t] (none for a
  // negative slot) of `k_store`/`v_store`, the writable view of k_cache/v_cache. Same bits as
  // rope_and_store_kv followed by the unfused launch, in the output and in the cache, for every
  // row the engine makes. (Padding conventions differ: a row with a negative pos attends to
  // nothing and stores nothing; one with a negative slot attends to its new key, which the
  // unfused pair, storing nothing, would have read stale from the cache.)
  struct DecodeRope {
    const double* inv_freq = nullptr;  // [head_dim / 2], as rope_and_store_kv's
    const int* slot_mapping = nullptr;
    __half* k_store = nullptr;
    __half* v_store = nullptr;
    bool interleaved = false;
  } rope;
};

// One query row per (row, head) work item with an online softmax over the row's context: the
// decode path (one new token per sequence), any context length. When T * n_heads items are few
// next to the SM count and max_context is long (decode_split_count > 1) and the scratch holds
// T * n_heads * splits * (head_dim + 2) floats, each item's keys are split into partitions run
// by separate thread blocks and merged ("flash-decoding"; see split_counters). The split count
// depends only on host values, so the launch may be captured in a CUDA graph and replayed with
// other contexts.
void paged_attention_decode(const AttentionArgs& a, cudaStream_t stream);
// The fewest keys a split-K partition gets (so a context hint of at most this never splits).
constexpr int kDecodeMinSplitKeys = 32;
// The split count paged_attention_decode uses for `rows` rows on the current device (1: none).
int decode_split_count(int rows, int n_heads, int max_context);
// Scratch floats that let every decode batch of up to max_rows rows with contexts up to
// max_context split on the current device (0 when none would split).
int64_t decode_split_scratch_floats(int max_rows, int n_heads, int head_dim, int max_context);

// y[t * ldy + n] = sum_k x[t * K + k] * W[n, k] for t < T <= kDenseGemvMaxRows: the decode
// GEMV over row-major [N, K] f16 or bf16 weights, x [T, K] in the same dtype, y f32. Needs what
// dense_gemv_supported says (otherwise callers use cuBLAS).
constexpr int kDenseGemvMaxRows = 8;
// Rows up to which the GEMV beats cuBLAS over a 7B decoder layer (bench/cuda_linear_bench on an
// H200 with weights read from memory, bench/results/2026-11-27-gpu-h200-check-5 run 3): 1.05-1.2x
// per shape at one row; at two rows 126 us per layer against cuBLAS's 116 (the GEMV re-reads x
// per output row, and the down projection falls to 2.4 TB/s), and slower still beyond.
constexpr int kDenseGemvPreferredRows = 1;
bool dense_gemv_supported(DType dtype, int K, const void* w, const void* x);
// How the GEMV spreads the work (bench/cuda_linear_bench sweeps these): 16-byte loads each lane
// issues before it uses any (1, 2, 4 or 8), and warps sharing one output row (1, 2 or 4).
struct DenseGemvConfig {
  int loads_in_flight = 8;
  int warps_per_row = 1;
};
// What dense_gemv without a config uses for an N x K weight (measured defaults; see the .cu).
DenseGemvConfig dense_gemv_default_config(int N, int K);
void dense_gemv(const void* w, DType dtype, int N, int K, const void* x, int T, float* y, int ldy,
                cudaStream_t stream);
void dense_gemv(const void* w, DType dtype, int N, int K, const void* x, int T, float* y, int ldy,
                cudaStream_t stream, const DenseGemvConfig& config);
// The MLP's gate/up GEMV for one activation row with the SiLU gate fused: w is the stacked
// [2I, K] weight (gate rows, then up rows) in f16 or bf16, x [1, K] in the same dtype, and
// act[i] = silu(gate_i) * up_i in that dtype. The same bits as dense_gemv with {loads_in_flight,
// warps_per_row 2} into an f32 [1, 2I] row followed by silu_mul, one launch instead of two.
// Needs what dense_gemv_supported says.
void dense_gemv_silu(const void* w, DType dtype, int I, int K, const void* x, void* act,
                     cudaStream_t stream, int loads_in_flight = 8);

// Rows the prefill kernel takes together: up to kPrefillTileRows consecutive rows of one
// sequence at consecutive positions, starting at row tile_first_row[i].
constexpr int kPrefillTileRows = 16;
// Tiled causal attention for prompt chunks: each tile of query rows walks the K/V blocks once,
// keeping a running max and sum per row, so no score matrix larger than a tile is formed.
void prefill_attention(const AttentionArgs& a, const int* tile_first_row, int num_tiles,
                       cudaStream_t stream);

// Copy-on-write: for each pair (src[i], dst[i]) copies block src[i] to dst[i] in every layer,
// K and V. block_elems = n_kv_heads * block_size * head_dim (one layer's block);
// layer_stride = num_blocks * block_elems.
void copy_kv_blocks(__half* k_cache, __half* v_cache, const int* src, const int* dst, int n,
                    int num_layers, int64_t block_elems, int64_t layer_stride, cudaStream_t stream);

// On-device sampling, one row of logits each, so only token ids and log-probs cross back.
constexpr int kMaxTopLogprobs = 20;
struct DeviceSamplingParams {
  float temperature = 1.f;  // < 1e-5: greedy (argmax, lowest id on ties)
  int top_k = 0;            // <= 0: disabled
  float top_p = 1.f;        // 1: disabled
  float min_p = 0.f;        // 0: disabled
  double uniform = 0.0;     // the host's draw in [0, 1) from the sequence's seeded generator
  int num_top = 0;          // top alternatives to report (<= kMaxTopLogprobs)
};
struct DeviceSampleResult {
  int token = 0;
  float logprob = 0.f;  // log-softmax of the raw logits at `token`
  int top_tokens[kMaxTopLogprobs];
  float top_logprobs[kMaxTopLogprobs];  // by raw log-prob, best first (lowest id on ties)
};
// Same algorithm as engine/sampler.cpp's draw(): scale by 1/temperature, keep the top_k, then
// the smallest nucleus with mass >= top_p, then weights >= min_p of the maximum, and pick the
// first token in id order whose cumulative weight exceeds uniform * kept mass.
void sample_rows(const float* logits, int R, int V, const DeviceSamplingParams* params,
                 DeviceSampleResult* out, cudaStream_t stream);

}  // namespace precis::cuda
