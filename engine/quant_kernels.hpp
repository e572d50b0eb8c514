// The per-type row kernels of one instruction-set variant, for the CPU-kernel sources only
// (engine/isa_variant.hpp); quant_table.cpp puts them in the variant's KernelTable. nb is the
// number of blocks. *_scalar are the portable versions; the unsuffixed ones use the variant's SIMD
// (AVX2, or AVX2 with AVX-512 VNNI) and are the *_scalar ones in the scalar variant.
#pragma once

#include "engine/interleaved_quant.hpp"
#include "engine/kernel_table.hpp"
#include "engine/quant.hpp"

#include <cstdint>
#include <type_traits>  // before the pragma: quant_simd.hpp uses it

#include "engine/isa_variant.hpp"  // last: its pragma applies to what follows

namespace precis::engine::quant_impl::PRECIS_ISA_NS {

// The type's kernels (QuantKernels), null for a type without any.
const QuantKernels* find_kernels(GgmlType t);

// Activations as 8-bit blocks, for every dot_q8 (quant_q8_0.cpp).
void quantize_activations_blocks(const float* x, BlockQ8A* xq, int64_t nb);

// The interleaved GEMM (quant_interleaved.cpp): rows [16 group, 16 group + 16) of m against T
// tokens of 8-bit activations, y[t * y_stride + 16 group + r]. xs holds each activation block's
// sums of its two halves of 16 (interleaved_half_sums), xs[t * xs_stride + 2b + h].
void gemm_interleaved(const InterleavedMatrix& m, int group, const BlockQ8A* xq, int64_t xq_stride,
                      const int32_t* xs, int64_t xs_stride, int T, float* y, int64_t y_stride);
void interleaved_half_sums(const BlockQ8A* xq, int64_t nb, int32_t* out);

// Each block type's table, defined with its kernels: q8_0 (quant_q8_0.cpp), q4_0, q4_1, q5_0,
// q5_1 (quant_q4_q5.cpp).
extern const QuantKernels kQ8_0Kernels;
extern const QuantKernels kQ4_0Kernels;
extern const QuantKernels kQ4_1Kernels;
extern const QuantKernels kQ5_0Kernels;
extern const QuantKernels kQ5_1Kernels;

// q4_K, q5_K, q6_K (quant_k.cpp): nb counts super-blocks of 256, and an 8-bit activation row
// holds 8 BlockQ8A per super-block.
extern const QuantKernels kQ4_KKernels;
extern const QuantKernels kQ5_KKernels;
extern const QuantKernels kQ6_KKernels;

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
