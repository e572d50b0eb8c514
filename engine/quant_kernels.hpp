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

// Activations as 8-bit blocks, for every dot_q8 (quant_q8_0.cpp).
void quantize_activations_blocks(const float* x, BlockQ8A* xq, int64_t nb);

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
