// Quantized weight formats for the CPU engine: ggml's block layouts (the ones GGUF files store),
// bit-exact with llama.cpp's ggml-common.h, and their kernels. One file per family:
// engine/quant_q8_0.cpp (q8_0), engine/quant_q4_q5.cpp (q4_0, q4_1, q5_0, q5_1),
// engine/quant_k.cpp (q4_K, q5_K, q6_K), engine/quant_table.cpp (f32, f16, bf16 and the table of
// every type's kernels); each is compiled once per instruction set (isa_variant.hpp), and
// engine/quant.cpp checks the arguments and calls the active variant (kernel_table.hpp).
//
// A row of n elements is n / block_elems consecutive blocks (ggml_type.hpp gives the sizes); n
// must be a multiple of the block size (32, or 256 for the K types) or the entry points throw
// std::invalid_argument. Block pointers need 2-byte alignment (every block size is even, and GGUF
// aligns tensor data to 32 bytes).
//
// Two dot-product paths:
//  - dot_row: quantized weights . f32 activations, the default. Every ggml weight is d * q, or
//    d * q plus an offset, with d * q exact in f32, so dot_row differs from dequantize-then-dot
//    only in how the f32 sums round (measured: within 3e-8 of sum |w x|). The kernels run the
//    instruction set chosen at start-up (cpu_isa.hpp: AVX-512, AVX2 or scalar); dot_row_scalar
//    always runs the scalar variant, so tests can compare the two on any machine.
//  - dot_row_q8: the same against activations quantized to int8 per 32 elements
//    (quantize_activations), as llama.cpp computes; integer multiply-adds (AVX2 maddubs) make it
//    about 1.5-2x faster per weight than dot_row on AVX2, at the cost of the activations'
//    rounding error (at most half a step, 1/254 of the largest |x| of each 32, per element).
#pragma once

#include "engine/ggml_type.hpp"

#include <cstddef>
#include <cstdint>

namespace precis::engine {

// ---- Block layouts (ggml-common.h). f16 fields are raw IEEE half bits. ----------------------

inline constexpr int kQK = 32;    // elements per block of the q4/q5/q8 types
inline constexpr int kQKK = 256;  // elements per super-block of the K types

// w = d * q, q in [-128, 127].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
// w = d * (q - 8); byte j holds element j (low nibble) and element j + 16 (high nibble).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
// w = d * q + m; nibbles as q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
// w = d * (q - 16); the low 4 bits as q4_0, bit j of qh (little-endian u32) is bit 4 of element j.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// w = d * q + m; bits as q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// Eight sub-blocks of 32: w = d * sc[j] * q - dmin * mn[j], 6-bit sc/mn packed in `scales`
// (q4k_scale_min). qs[32c + l]: low nibble is element 64c + l, high nibble element 64c + 32 + l.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];
};
// As q4_K plus a fifth bit: bit j of qh[l] is bit 4 of element 32j + l.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
// Sixteen groups of 16: w = d * scales[e / 16] * (q - 32), q 6 bits. For element
// e = 128h + 32k + l (h < 2, k < 4, l < 32): the low 4 bits are the low (k < 2) or high (k >= 2)
// nibble of ql[64h + 32(k % 2) + l], the high 2 bits are bits 2k..2k+1 of qh[32h + l].
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// Sub-block j's (j < 8) 6-bit scale and min from q4_K/q5_K's packed `scales` (ggml's
// get_scale_min_k4): bytes 0-3 hold sc[0..3] in their low 6 bits, bytes 4-7 mn[0..3]; sc[4..7]
// and mn[4..7] are the nibbles of bytes 8-11 with their top 2 bits in the top bits of 0-3 / 4-7.
inline void q4k_scale_min(int j, const uint8_t* s, uint8_t& sc, uint8_t& mn) {
  if (j < 4) {
    sc = s[j] & 63;
    mn = s[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    mn = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// ---- Entry points -------------------------------------------------------------------------

// Types the kernels below compute with: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
// Q5_K, Q6_K.
bool quant_supported(GgmlType t);
// Types quantize_row writes: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1.
bool quantize_supported(GgmlType t);

// Bytes of a row of n elements (n a multiple of the block size; throws otherwise).
uint64_t quant_row_bytes(GgmlType t, int64_t n);

// dst[0, n) = the row's values. The scalar reference: it matches ggml's dequantize_row_* and the
// `gguf` Python package's dequantize() bit for bit.
void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n);

// sum_i w[i] * x[i] for a row of n weights of type t. Within float rounding of
// dequantize_row-then-dot (the weights are exact; only the summation order differs).
float dot_row(GgmlType t, const void* row, const float* x, int64_t n);
// The same by the scalar variant (what dot_row runs on a CPU without AVX2).
float dot_row_scalar(GgmlType t, const void* row, const float* x, int64_t n);

// Quantizes n floats into a row of type t with ggml's reference rounding
// (quantize_row_q8_0_ref, _q4_0_ref, _q4_1_ref, _q5_0_ref, _q5_1_ref; f16/bf16 round to nearest
// even), so the bytes equal what llama.cpp's reference quantizer and the `gguf` package write.
void quantize_row(GgmlType t, const float* src, void* dst, int64_t n);

// ---- Int8 activations (the faster, less exact path) ----------------------------------------

// One block of 32 quantized activations: x[i] ~= d * qs[i], qs in [-127, 127] (round to
// nearest, ties away from zero, as quantize_row_q8_0_ref), and s = d * sum(qs).
struct BlockQ8A {
  float d;
  float s;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8A) == 40);

// Bytes quantize_activations writes for n activations (n a multiple of 32).
inline uint64_t q8_activation_bytes(int64_t n) {
  return static_cast<uint64_t>(n / kQK) * sizeof(BlockQ8A);
}
// Quantizes n activations (n a multiple of 32) into n / 32 BlockQ8A (xq 4-byte aligned, e.g. a
// std::vector<BlockQ8A>); one quantized x serves dot_row_q8 for every weight type and every row
// of a matrix.
void quantize_activations(const float* x, void* xq, int64_t n);
// sum_i w[i] * x[i] with x as quantize_activations wrote it, for the block-quantized types
// (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; throws for the others).
float dot_row_q8(GgmlType t, const void* row, const void* xq, int64_t n);
// The same by the portable scalar path; it computes the same integer sums, so it differs from
// dot_row_q8 only in float summation order.
float dot_row_q8_scalar(GgmlType t, const void* row, const void* xq, int64_t n);

}  // namespace precis::engine
