// The per-type row kernels of one instruction-set variant, for the CPU-kernel sources only
// (engine/isa_variant.hpp); quant_table.cpp puts them in the variant's KernelTable. nb is the
// number of blocks. *_scalar are the portable versions; the unsuffixed ones use the variant's SIMD
// (AVX2, or AVX2 with AVX-512 VNNI) and are the *_scalar ones in the scalar variant.
#pragma once

#include "engine/kernel_table.hpp"
#include "engine/quant.hpp"

#include <cstdint>
#include <type_traits>  // before the pragma: quant_simd.hpp uses it

#include "engine/isa_variant.hpp"  // last: its pragma applies to what follows

namespace precis::engine::quant_impl::PRECIS_ISA_NS {

// The type's kernels (QuantKernels), null for a type without any.
const QuantKernels* find_kernels(GgmlType t);

// *_tokens are QuantKernels::dot_tokens and dot_q8_tokens; the types without kernels of their
// own for several tokens use dot_tokens_each / dot_q8_tokens_each (quant_table.cpp).
void dequantize_q8_0(const void* src, float* dst, int64_t nb);
void dot_q8_0_tokens(const void* row, const float* x, int64_t x_stride, int nt, int64_t nb,
                     float* out, int64_t out_stride);
void dot_q8_0_q8_tokens(const void* row, const BlockQ8A* xq, int64_t xq_stride, int nt, int64_t nb,
                        float* out, int64_t out_stride);
float dot_q8_0(const void* row, const float* x, int64_t nb);
float dot_q8_0_scalar(const void* row, const float* x, int64_t nb);
void quantize_q8_0(const float* src, void* dst, int64_t nb);
float dot_q8_0_q8(const void* row, const BlockQ8A* xq, int64_t nb);
float dot_q8_0_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb);
void quantize_activations_blocks(const float* x, BlockQ8A* xq, int64_t nb);

// q4_0, q4_1, q5_0, q5_1 (quant_q4_q5.cpp): their whole tables.
extern const QuantKernels kQ4_0Kernels;
extern const QuantKernels kQ4_1Kernels;
extern const QuantKernels kQ5_0Kernels;
extern const QuantKernels kQ5_1Kernels;

// K types: nb counts super-blocks of 256.
void dequantize_q4_k(const void* src, float* dst, int64_t nb);
void dequantize_q5_k(const void* src, float* dst, int64_t nb);
void dequantize_q6_k(const void* src, float* dst, int64_t nb);
float dot_q4_k(const void* row, const float* x, int64_t nb);
float dot_q5_k(const void* row, const float* x, int64_t nb);
float dot_q6_k(const void* row, const float* x, int64_t nb);
float dot_q4_k_scalar(const void* row, const float* x, int64_t nb);
float dot_q5_k_scalar(const void* row, const float* x, int64_t nb);
float dot_q6_k_scalar(const void* row, const float* x, int64_t nb);
// xq holds 8 BlockQ8A per super-block.
float dot_q4_k_q8(const void* row, const BlockQ8A* xq, int64_t nb);
float dot_q5_k_q8(const void* row, const BlockQ8A* xq, int64_t nb);
float dot_q6_k_q8(const void* row, const BlockQ8A* xq, int64_t nb);
float dot_q4_k_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb);
float dot_q5_k_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb);
float dot_q6_k_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb);

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
