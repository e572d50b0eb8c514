// Launchers of the kernels that compute from GGUF's quantized blocks directly (quant.cu). The
// block layouts are ggml's, as engine/quant.hpp defines them; a row of K elements is K / QK
// consecutive blocks (QK = 32, or 256 for the K types), rows one after another.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

enum class QuantType { q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k };

// Elements per block and bytes per block of `t`.
int quant_block_elems(QuantType t);
int quant_block_bytes(QuantType t);

// Rows of activations the GEMV takes in one pass (decode batches).
constexpr int kQuantGemvMaxRows = 8;
// Rows up to which Linear uses the GEMV; more go through quant_dequantize + cuBLAS. Measured on
// an H200 at 7B shapes (bench/cuda_linear_bench, bench/results/2026-11-27-gpu-h200-check-2):
// at one row the GEMV takes 30-80% of dequantize + cuBLAS's time, at eight rows 110-230%;
// interpolating linearly between the two, the crossover lies between 3 rows (q8_0, q5_K) and
// 7 (q4_0 on 4096x4096).
constexpr int kQuantGemvPreferredRows = 4;

// y[t * ldy + n] = sum_k x[t * K + k] * W[n, k] for t < T, n < N: the decode GEMV, each weight
// byte read once for all T rows. W is N rows of quantized blocks; x is [T, K] f16; y is f32.
// T in [1, kQuantGemvMaxRows]; K a multiple of the block size.
void quant_gemv(const void* w, QuantType type, int N, int K, const __half* x, int T, float* y,
                int ldy, cudaStream_t stream);

// out[n * K + k] = W[n, k] as f16 (row-major [N, K]), for prefill through cuBLAS.
void quant_dequantize(const void* w, QuantType type, int N, int K, __half* out,
                      cudaStream_t stream);

// out[t, :] = row ids[t] of the quantized [vocab, H] table, as f32.
void quant_embedding_gather(const void* table, QuantType type, const int* ids, int T, int H,
                            float* out, cudaStream_t stream);

}  // namespace precis::cuda
