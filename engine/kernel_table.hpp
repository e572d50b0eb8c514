// The CPU kernels of one instruction-set variant as a table of function pointers. Each variant
// (engine/isa_variant.hpp) fills one; the public entry points (cpu_kernels.hpp, quant.hpp) call
// through the active one, chosen once per process (cpu_isa.hpp). The calls are per matrix or per
// row, so the indirection costs nothing measurable. Private to engine/ and its tests.
#pragma once

#include "engine/cpu_isa.hpp"
#include "engine/cpu_kernels.hpp"
#include "engine/cpu_kv_kernels.hpp"
#include "engine/interleaved_quant.hpp"
#include "engine/quant.hpp"

#include <cstdint>

namespace precis::engine {

// Tokens a *_tokens row kernel takes at once.
inline constexpr int kDotTokens = 4;

// One weight type's row kernels; nb counts blocks of `block` elements (1 for f32/f16/bf16).
struct QuantKernels {
  int block;
  void (*dequantize)(const void* src, float* dst, int64_t nb);
  float (*dot)(const void* row, const float* x, int64_t nb);
  void (*quantize)(const float* src, void* dst, int64_t nb);         // null: not writable
  float (*dot_q8)(const void* row, const BlockQ8A* xq, int64_t nb);  // null: plain type
  // The row against nt (1 to kDotTokens) tokens: out[t * out_stride] = dot(row, x + t * x_stride)
  // (dot_q8 with xq + t * xq_stride), bit-identical to the one-token kernels. Prefill's GEMM: the
  // row's blocks are unpacked once for all nt tokens instead of once per token.
  void (*dot_tokens)(const void* row, const float* x, int64_t x_stride, int nt, int64_t nb,
                     float* out, int64_t out_stride);
  void (*dot_q8_tokens)(const void* row, const BlockQ8A* xq, int64_t xq_stride, int nt, int64_t nb,
                        float* out, int64_t out_stride);  // null: plain type
};

struct KernelTable {
  CpuIsa isa;
  // The type's kernels; null for a type without any (quant_supported is false).
  const QuantKernels* (*quant)(GgmlType t);
  void (*quantize_activations)(const float* x, BlockQ8A* xq, int64_t nb);
  // As quant_kernels.hpp's: the interleaved GEMM, and the activation sums it needs.
  void (*gemm_interleaved)(const InterleavedMatrix& m, int group, const BlockQ8A* xq,
                           int64_t xq_stride, const int32_t* xs, int64_t xs_stride, int T, float* y,
                           int64_t y_stride);
  void (*interleaved_half_sums)(const BlockQ8A* xq, int64_t nb, int32_t* out);
  // As the cpu:: functions of the same names.
  void (*matmul_wt)(const float* x, int T, int K, const TensorView& w, int N, float* y,
                    cpu::Activations activations);
  void (*matmul_wt_multi)(const float* x, int T, int K, std::span<const cpu::MatmulOut> outs,
                          cpu::Activations activations);
  void (*load_row)(const TensorView& w, int64_t row, int K, float* out);
  void (*rms_norm)(const float* x, int T, int H, const TensorView& weight, float eps, float* out);
  float (*dot)(const float* a, const float* b, int n);
  void (*axpy)(float a, const float* x, float* y, int n);
  void (*dot_rows)(const float* q, const float* k, int rows, int n, float* out);
  void (*axpy_rows)(const float* a, const float* v, int rows, int n, float* y);
  void (*axpy_rows_queries)(const float* a, int lda, int queries, const float* v, int rows, int n,
                            float* y, int ldy);
  double (*exp_sum)(const float* x, int n, float shift, float* out);
  int (*argmax)(const float* x, int n, float* max_value);
  void (*silu_mul)(float* gate, const float* up, int n);
  // As cpu_kv_kernels.hpp's.
  void (*store_f16)(const float* x, uint16_t* out, int n);
  float (*dot_f16)(const float* q, const uint16_t* k, int n);
  void (*axpy_f16)(float a, const uint16_t* x, float* y, int n);
  void (*dot_f16_rows)(const float* q, const uint16_t* k, int rows, int n, float* out);
  void (*axpy_f16_rows)(const float* a, const uint16_t* v, int rows, int n, float* y);
  void (*load_f16)(const uint16_t* x, float* out, int n);
  void (*transpose_f16_keys)(const uint16_t* k, int rows, int n, float* kt);
  void (*dot_f16_transposed)(const float* q, int ldq, int M, const float* kt, int n, float* out,
                             int ldo);
};

// The active variant's table (active_cpu_isa(); throws as it does for a bad PRECIS_CPU_ISA).
const KernelTable& active_kernels();
// A given variant's table; throws std::invalid_argument where cpu_isa_available(isa) is false.
// Tests compare the variants through it.
const KernelTable& kernels_for(CpuIsa isa);

}  // namespace precis::engine
