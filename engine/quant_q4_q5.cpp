// q4_0, q4_1, q5_0, q5_1: blocks of 32 weights of 4 or 5 bits with an f16 scale (and an f16
// min for the _1 types).
#include "engine/dtype.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

// Last (isa_variant.hpp): the variant's instruction set applies to what follows.
#include "engine/quant_kernels.hpp"
#include "engine/quant_simd.hpp"

namespace precis::engine::quant_impl::PRECIS_ISA_NS {
namespace {

inline uint32_t load_qh(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;  // little-endian, as ggml stores it
}

// A block's 32 integers in element order, minus `off`: the low nibbles of qs are elements 0..15,
// the high nibbles 16..31; the 5-bit types add bit j of qh (little-endian u32) as bit 4 of
// element j. One pass, no branches.
template <bool Five>
inline void block_ints(const uint8_t* qs, const uint8_t* qh_bytes, int off, int* q) {
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = (qs[j] & 0xF) - off;
    q[j + kQK / 2] = (qs[j] >> 4) - off;
  }
  if constexpr (Five) {
    const uint32_t qh = load_qh(qh_bytes);
    for (int j = 0; j < kQK; ++j) q[j] += static_cast<int>((qh >> j) & 1u) << 4;
  }
}

// One block of each type to 32 floats: the reference the other kernels are tested against. Every
// d * q is exact in f32 (an 11-bit f16 mantissa times a 5-bit integer), so the only rounding is
// the "+ m" of the _1 types, the same single rounding as ggml's and numpy's.
void deq_q4_0(const BlockQ4_0& b, float* y) {
  const float d = f16_to_f32(b.d);
  int q[kQK];
  block_ints<false>(b.qs, nullptr, 8, q);
  for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(q[j]);
}
void deq_q4_1(const BlockQ4_1& b, float* y) {
  const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
  int q[kQK];
  block_ints<false>(b.qs, nullptr, 0, q);
  for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(q[j]) + m;
}
void deq_q5_0(const BlockQ5_0& b, float* y) {
  const float d = f16_to_f32(b.d);
  int q[kQK];
  block_ints<true>(b.qs, b.qh, 16, q);
  for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(q[j]);
}
void deq_q5_1(const BlockQ5_1& b, float* y) {
  const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
  int q[kQK];
  block_ints<true>(b.qs, b.qh, 0, q);
  for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(q[j]) + m;
}

template <class B, void (*Deq)(const B&, float*)>
void dequantize_blocks(const void* src, float* dst, int64_t nb) {
  const B* b = blocks<B>(src);
  for (int64_t i = 0; i < nb; ++i) Deq(b[i], dst + i * kQK);
}

// Scalar dot: each block dequantized by the reference, then four partial sums.
template <class B, void (*Deq)(const B&, float*)>
float dot_scalar(const void* row, const float* x, int64_t nb) {
  const B* b = blocks<B>(row);
  float total = 0.f;
  float w[kQK];
  for (int64_t i = 0; i < nb; ++i) {
    Deq(b[i], w);
    const float* xb = x + i * kQK;
    float s[4] = {0.f, 0.f, 0.f, 0.f};
    for (int j = 0; j < kQK; j += 4)
      for (int l = 0; l < 4; ++l) s[l] += w[j + l] * xb[j + l];
    total += (s[0] + s[1]) + (s[2] + s[3]);
  }
  return total;
}

// a * b rounded to float on its own: the volatile keeps the compiler from fusing it with the
// addition that follows into an FMA, which would round differently from ggml's reference
// quantizers (and numpy).
inline float mul_rounded(float a, float b) {
  volatile float p = a * b;
  return p;
}

// quantize_row_q4_0_ref / q5_0_ref: d = (the value of largest magnitude) / -2^(bits-1),
// q = min(2^bits - 1, trunc(x * (1/d) + 2^(bits-1) + 0.5)); the argument of trunc is in
// [0, 2^bits + 0.5], so ggml's cast through int8_t truncates the same way.
template <int Bits>
void quantize_sym(const float* x, uint16_t& dh, uint8_t* qs, uint8_t* qh) {
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  constexpr int kHalf = 1 << (Bits - 1), kTop = (1 << Bits) - 1;
  const float d = max / static_cast<float>(-kHalf);
  const float id = d != 0.f ? 1.f / d : 0.f;
  dh = f32_to_f16(d);
  uint32_t h = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    const float add = static_cast<float>(kHalf) + 0.5f;
    const int q0 = std::min(kTop, static_cast<int>(mul_rounded(x[j], id) + add));
    const int q1 = std::min(kTop, static_cast<int>(mul_rounded(x[j + kQK / 2], id) + add));
    qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
    h |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
    h |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK / 2);
  }
  if (qh) std::memcpy(qh, &h, 4);
}

// quantize_row_q4_1_ref / q5_1_ref: d = (max - min) / (2^bits - 1), m = min,
// q = min(2^bits - 1, trunc((x - min) * (1/d) + 0.5)).
template <int Bits>
void quantize_affine(const float* x, uint16_t& dh, uint16_t& mh, uint8_t* qs, uint8_t* qh) {
  float min = FLT_MAX, max = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  constexpr int kTop = (1 << Bits) - 1;
  const float d = (max - min) / static_cast<float>(kTop);
  const float id = d != 0.f ? 1.f / d : 0.f;
  dh = f32_to_f16(d);
  mh = f32_to_f16(min);
  uint32_t h = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    const int q0 = std::min(kTop, static_cast<int>(mul_rounded(x[j] - min, id) + 0.5f));
    const int q1 = std::min(kTop, static_cast<int>(mul_rounded(x[j + kQK / 2] - min, id) + 0.5f));
    qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
    h |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
    h |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK / 2);
  }
  if (qh) std::memcpy(qh, &h, 4);
}

#ifdef PRECIS_SIMD_AVX2
// The 32 4-bit values of a block as four vectors of 8 int32 in element order:
// q[0] = elements 0..7, q[1] = 8..15, q[2] = 16..23, q[3] = 24..31.
PRECIS_KERNEL_INLINE void nibbles_i32(const uint8_t* qs, __m256i q[4]) {
  const __m256i v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs)));
  const __m256i v1 =
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs + 8)));
  const __m256i m = _mm256_set1_epi32(0xF);
  q[0] = _mm256_and_si256(v0, m);
  q[1] = _mm256_and_si256(v1, m);
  q[2] = _mm256_srli_epi32(v0, 4);
  q[3] = _mm256_srli_epi32(v1, 4);
}

// Bit 4 of each element from qh, as 0 or 16 per int32 lane, same order as nibbles_i32.
PRECIS_KERNEL_INLINE void high_bits_i32(uint32_t qh, __m256i h[4]) {
  const __m256i sh0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i sh1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
  // Bit e of qh moved to bit 4 of the lane: elements 0..15 from qh << 4, 16..31 from qh >> 12.
  const __m256i lo = _mm256_set1_epi32(static_cast<int>(qh << 4));
  const __m256i hi = _mm256_set1_epi32(static_cast<int>(qh >> 12));
  const __m256i bit = _mm256_set1_epi32(16);
  h[0] = _mm256_and_si256(_mm256_srlv_epi32(lo, sh0), bit);
  h[1] = _mm256_and_si256(_mm256_srlv_epi32(lo, sh1), bit);
  h[2] = _mm256_and_si256(_mm256_srlv_epi32(hi, sh0), bit);
  h[3] = _mm256_and_si256(_mm256_srlv_epi32(hi, sh1), bit);
}

// The block's 32 nibbles as bytes in element order (0..15 low nibbles, 16..31 high nibbles).
PRECIS_KERNEL_INLINE __m256i nibbles_u8(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0xF);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

// Bit e of qh as byte e = 0x10 or 0.
PRECIS_KERNEL_INLINE __m256i high_bits_u8(uint32_t qh) {
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)),
                          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                           2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit),
                          _mm256_set1_epi8(0x10));
}

PRECIS_KERNEL_INLINE __m256i load_a(const BlockQ8A& a) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
}
#endif

}  // namespace

void dequantize_q4_0(const void* src, float* dst, int64_t nb) {
  dequantize_blocks<BlockQ4_0, deq_q4_0>(src, dst, nb);
}
void dequantize_q4_1(const void* src, float* dst, int64_t nb) {
  dequantize_blocks<BlockQ4_1, deq_q4_1>(src, dst, nb);
}
void dequantize_q5_0(const void* src, float* dst, int64_t nb) {
  dequantize_blocks<BlockQ5_0, deq_q5_0>(src, dst, nb);
}
void dequantize_q5_1(const void* src, float* dst, int64_t nb) {
  dequantize_blocks<BlockQ5_1, deq_q5_1>(src, dst, nb);
}

float dot_q4_0_scalar(const void* row, const float* x, int64_t nb) {
  return dot_scalar<BlockQ4_0, deq_q4_0>(row, x, nb);
}
float dot_q4_1_scalar(const void* row, const float* x, int64_t nb) {
  return dot_scalar<BlockQ4_1, deq_q4_1>(row, x, nb);
}
float dot_q5_0_scalar(const void* row, const float* x, int64_t nb) {
  return dot_scalar<BlockQ5_0, deq_q5_0>(row, x, nb);
}
float dot_q5_1_scalar(const void* row, const float* x, int64_t nb) {
  return dot_scalar<BlockQ5_1, deq_q5_1>(row, x, nb);
}

#ifdef PRECIS_SIMD_AVX2
namespace {

// A block's 32 integers as int32 lanes in element order, in the variant's vector width.
#ifdef PRECIS_SIMD_AVX512VNNI
struct BlockInts {
  __m512i q[2];  // elements 0-15, 16-31
};
PRECIS_KERNEL_INLINE BlockInts nibbles(const uint8_t* qs) {
  const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return {{_mm512_and_si512(v, _mm512_set1_epi32(0xF)), _mm512_srli_epi32(v, 4)}};
}
// Bit j of qh as 16 (bit 4) in element j, else 0.
PRECIS_KERNEL_INLINE BlockInts high_bits(uint32_t qh) {
  const __m512i sixteen = _mm512_set1_epi32(16);
  return {{_mm512_maskz_mov_epi32(static_cast<__mmask16>(qh & 0xFFFFu), sixteen),
           _mm512_maskz_mov_epi32(static_cast<__mmask16>(qh >> 16), sixteen)}};
}
PRECIS_KERNEL_INLINE BlockInts ints_or(BlockInts a, const BlockInts& b) {
  for (int k = 0; k < 2; ++k) a.q[k] = _mm512_or_si512(a.q[k], b.q[k]);
  return a;
}
PRECIS_KERNEL_INLINE BlockInts ints_sub(BlockInts a, int off) {
  for (int k = 0; k < 2; ++k) a.q[k] = _mm512_sub_epi32(a.q[k], _mm512_set1_epi32(off));
  return a;
}
// The symmetric types: (q - off) as floats; the scale multiplies the block's sum, as ggml does.
PRECIS_KERNEL_INLINE BlockF32 ints_as_f32(const BlockInts& q, float d) {
  return {{_mm512_cvtepi32_ps(q.q[0]), _mm512_cvtepi32_ps(q.q[1])}, d};
}
// The affine types: each weight rebuilt exactly as dequantize does (d * q is exact, one
// rounding for + m), then multiplied with x.
PRECIS_KERNEL_INLINE BlockF32 affine_as_f32(const BlockInts& q, float d, float m) {
  const __m512 dv = _mm512_set1_ps(d), mv = _mm512_set1_ps(m);
  return {{_mm512_fmadd_ps(dv, _mm512_cvtepi32_ps(q.q[0]), mv),
           _mm512_fmadd_ps(dv, _mm512_cvtepi32_ps(q.q[1]), mv)},
          1.f};
}
#else
struct BlockInts {
  __m256i q[4];  // elements 0-7, 8-15, 16-23, 24-31
};
PRECIS_KERNEL_INLINE BlockInts nibbles(const uint8_t* qs) {
  BlockInts r;
  nibbles_i32(qs, r.q);
  return r;
}
PRECIS_KERNEL_INLINE BlockInts high_bits(uint32_t qh) {
  BlockInts r;
  high_bits_i32(qh, r.q);
  return r;
}
PRECIS_KERNEL_INLINE BlockInts ints_or(BlockInts a, const BlockInts& b) {
  for (int k = 0; k < 4; ++k) a.q[k] = _mm256_or_si256(a.q[k], b.q[k]);
  return a;
}
PRECIS_KERNEL_INLINE BlockInts ints_sub(BlockInts a, int off) {
  for (int k = 0; k < 4; ++k) a.q[k] = _mm256_sub_epi32(a.q[k], _mm256_set1_epi32(off));
  return a;
}
PRECIS_KERNEL_INLINE BlockF32 ints_as_f32(const BlockInts& q, float d) {
  BlockF32 w;
  for (int k = 0; k < 4; ++k) w.v[k] = _mm256_cvtepi32_ps(q.q[k]);
  w.d = d;
  return w;
}
PRECIS_KERNEL_INLINE BlockF32 affine_as_f32(const BlockInts& q, float d, float m) {
  const __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
  BlockF32 w;
  for (int k = 0; k < 4; ++k) w.v[k] = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(q.q[k]), mv);
  w.d = 1.f;
  return w;
}
#endif

// One row of a q4/q5 type against NT tokens of f32 activations. Decode(block) -> BlockF32;
// Scaled: the symmetric types multiply each block's sum by d.
template <class B, bool Scaled, BlockF32 (*Decode)(const B&)>
struct Q45Tokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const float* x, int64_t x_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const B* b = blocks<B>(row);
    sum_blocks_tokens<NT, VecF>(
        nb, out, out_stride, [&](int64_t i) { return Decode(b[i]); },
        [&](const BlockF32& w, int64_t i, int t, VecF acc) {
          const VecF wx = block_dot(w, x + t * x_stride + i * kQK);
          return vec_add(acc, Scaled ? vec_mul(w.d, wx) : wx);
        });
  }
};

PRECIS_KERNEL_INLINE BlockF32 decode_q4_0(const BlockQ4_0& b) {
  return ints_as_f32(ints_sub(nibbles(b.qs), 8), _cvtsh_ss(b.d));
}
PRECIS_KERNEL_INLINE BlockF32 decode_q4_1(const BlockQ4_1& b) {
  return affine_as_f32(nibbles(b.qs), _cvtsh_ss(b.d), _cvtsh_ss(b.m));
}
PRECIS_KERNEL_INLINE BlockF32 decode_q5_0(const BlockQ5_0& b) {
  return ints_as_f32(ints_sub(ints_or(nibbles(b.qs), high_bits(load_qh(b.qh))), 16),
                     _cvtsh_ss(b.d));
}
PRECIS_KERNEL_INLINE BlockF32 decode_q5_1(const BlockQ5_1& b) {
  return affine_as_f32(ints_or(nibbles(b.qs), high_bits(load_qh(b.qh))), _cvtsh_ss(b.d),
                       _cvtsh_ss(b.m));
}

}  // namespace
#endif

namespace {
#ifdef PRECIS_SIMD_AVX2
using Q4_0F32 = RowKernel<float, Q45Tokens<BlockQ4_0, true, decode_q4_0>, dot_q4_0_scalar>;
using Q4_1F32 = RowKernel<float, Q45Tokens<BlockQ4_1, false, decode_q4_1>, dot_q4_1_scalar>;
using Q5_0F32 = RowKernel<float, Q45Tokens<BlockQ5_0, true, decode_q5_0>, dot_q5_0_scalar>;
using Q5_1F32 = RowKernel<float, Q45Tokens<BlockQ5_1, false, decode_q5_1>, dot_q5_1_scalar>;
#else
using Q4_0F32 = RowKernel<float, void, dot_q4_0_scalar>;
using Q4_1F32 = RowKernel<float, void, dot_q4_1_scalar>;
using Q5_0F32 = RowKernel<float, void, dot_q5_0_scalar>;
using Q5_1F32 = RowKernel<float, void, dot_q5_1_scalar>;
#endif
}  // namespace

void quantize_q4_0(const float* src, void* dst, int64_t nb) {
  BlockQ4_0* out = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < nb; ++i) quantize_sym<4>(src + i * kQK, out[i].d, out[i].qs, nullptr);
}
void quantize_q4_1(const float* src, void* dst, int64_t nb) {
  BlockQ4_1* out = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < nb; ++i)
    quantize_affine<4>(src + i * kQK, out[i].d, out[i].m, out[i].qs, nullptr);
}
void quantize_q5_0(const float* src, void* dst, int64_t nb) {
  BlockQ5_0* out = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < nb; ++i) quantize_sym<5>(src + i * kQK, out[i].d, out[i].qs, out[i].qh);
}
void quantize_q5_1(const float* src, void* dst, int64_t nb) {
  BlockQ5_1* out = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < nb; ++i)
    quantize_affine<5>(src + i * kQK, out[i].d, out[i].m, out[i].qs, out[i].qh);
}

// ---- int8 activations ----------------------------------------------------------------------
// Symmetric types: d_w * d_a * sum((q - off) * a). Affine types: d_w * d_a * sum(q * a) + m * s_a.

// B: the block type; Off: subtracted from its integers (the symmetric types). The affine types
// (those with an m) add m * s_a.
template <class B, int Off>
float dot_q45_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb) {
  const B* b = blocks<B>(row);
  float total = 0.f;
  int q[kQK];
  int8_t w[kQK];
  for (int64_t i = 0; i < nb; ++i) {
    if constexpr (requires { b[i].qh; })
      block_ints<true>(b[i].qs, b[i].qh, Off, q);
    else
      block_ints<false>(b[i].qs, nullptr, Off, q);
    for (int j = 0; j < kQK; ++j) w[j] = static_cast<int8_t>(q[j]);
    const float s = static_cast<float>(isum(w, xq[i].qs, kQK));
    if constexpr (requires { b[i].m; })
      total += f16_to_f32(b[i].d) * xq[i].d * s + f16_to_f32(b[i].m) * xq[i].s;
    else
      total += f16_to_f32(b[i].d) * xq[i].d * s;
  }
  return total;
}

float dot_q4_0_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb) {
  return dot_q45_q8_scalar<BlockQ4_0, 8>(row, xq, nb);
}
float dot_q4_1_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb) {
  return dot_q45_q8_scalar<BlockQ4_1, 0>(row, xq, nb);
}
float dot_q5_0_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb) {
  return dot_q45_q8_scalar<BlockQ5_0, 16>(row, xq, nb);
}
float dot_q5_1_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb) {
  return dot_q45_q8_scalar<BlockQ5_1, 0>(row, xq, nb);
}

namespace {
#ifdef PRECIS_SIMD_AVX2
// A block's 32 integers as bytes for the int8 dot. The affine types: unsigned q, and the block's
// min m. The symmetric types: w = q - off kept as |w| (the unsigned operand of the byte dot) and
// w (whose signs move onto the activations), so each token pays one sign, not two.
struct BlockI8 {
  __m256i u, w;
  float d, m;
};

// One row of a q4/q5 type against NT tokens of 8-bit activations: d_w * d_a * sum(q * a) per
// block, plus m * s_a for the affine types, summed as the one-token kernel always has.
template <class B, bool Affine, BlockI8 (*Decode)(const B&)>
struct Q45Q8Tokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const BlockQ8A* xq, int64_t xq_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const B* b = blocks<B>(row);
    float mins[NT] = {};
    sum_blocks_tokens<NT, __m256>(
        nb, out, out_stride, [&](int64_t i) { return Decode(b[i]); },
        [&](const BlockI8& w, int64_t i, int t, __m256 acc) {
          const BlockQ8A& a = xq[t * xq_stride + i];
          if constexpr (Affine) mins[t] += w.m * a.s;
          const __m256i p =
              Affine ? dot_u8_i8(w.u, load_a(a)) : dot_u8_i8(w.u, _mm256_sign_epi8(load_a(a), w.w));
          return _mm256_add_ps(acc,
                               _mm256_mul_ps(_mm256_set1_ps(w.d * a.d), _mm256_cvtepi32_ps(p)));
        });
    if constexpr (Affine)
      for (int t = 0; t < NT; ++t) out[t * out_stride] += mins[t];
  }
};

PRECIS_KERNEL_INLINE BlockI8 symmetric_i8(__m256i w, uint16_t d) {
  return {_mm256_sign_epi8(w, w), w, _cvtsh_ss(d), 0.f};
}
PRECIS_KERNEL_INLINE BlockI8 decode_q4_0_i8(const BlockQ4_0& b) {
  return symmetric_i8(_mm256_sub_epi8(nibbles_u8(b.qs), _mm256_set1_epi8(8)), b.d);
}
PRECIS_KERNEL_INLINE BlockI8 decode_q4_1_i8(const BlockQ4_1& b) {
  return {nibbles_u8(b.qs), __m256i{}, _cvtsh_ss(b.d), _cvtsh_ss(b.m)};
}
PRECIS_KERNEL_INLINE BlockI8 decode_q5_0_i8(const BlockQ5_0& b) {
  const __m256i q = _mm256_or_si256(nibbles_u8(b.qs), high_bits_u8(load_qh(b.qh)));
  return symmetric_i8(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), b.d);
}
PRECIS_KERNEL_INLINE BlockI8 decode_q5_1_i8(const BlockQ5_1& b) {
  return {_mm256_or_si256(nibbles_u8(b.qs), high_bits_u8(load_qh(b.qh))), __m256i{}, _cvtsh_ss(b.d),
          _cvtsh_ss(b.m)};
}

using Q4_0Q8 =
    RowKernel<BlockQ8A, Q45Q8Tokens<BlockQ4_0, false, decode_q4_0_i8>, dot_q4_0_q8_scalar>;
using Q4_1Q8 =
    RowKernel<BlockQ8A, Q45Q8Tokens<BlockQ4_1, true, decode_q4_1_i8>, dot_q4_1_q8_scalar>;
using Q5_0Q8 =
    RowKernel<BlockQ8A, Q45Q8Tokens<BlockQ5_0, false, decode_q5_0_i8>, dot_q5_0_q8_scalar>;
using Q5_1Q8 =
    RowKernel<BlockQ8A, Q45Q8Tokens<BlockQ5_1, true, decode_q5_1_i8>, dot_q5_1_q8_scalar>;
#else
using Q4_0Q8 = RowKernel<BlockQ8A, void, dot_q4_0_q8_scalar>;
using Q4_1Q8 = RowKernel<BlockQ8A, void, dot_q4_1_q8_scalar>;
using Q5_0Q8 = RowKernel<BlockQ8A, void, dot_q5_0_q8_scalar>;
using Q5_1Q8 = RowKernel<BlockQ8A, void, dot_q5_1_q8_scalar>;
#endif
}  // namespace

const QuantKernels kQ4_0Kernels = {kQK,         dequantize_q4_0, Q4_0F32::one,  quantize_q4_0,
                                   Q4_0Q8::one, Q4_0F32::tokens, Q4_0Q8::tokens};
const QuantKernels kQ4_1Kernels = {kQK,         dequantize_q4_1, Q4_1F32::one,  quantize_q4_1,
                                   Q4_1Q8::one, Q4_1F32::tokens, Q4_1Q8::tokens};
const QuantKernels kQ5_0Kernels = {kQK,         dequantize_q5_0, Q5_0F32::one,  quantize_q5_0,
                                   Q5_0Q8::one, Q5_0F32::tokens, Q5_0Q8::tokens};
const QuantKernels kQ5_1Kernels = {kQK,         dequantize_q5_1, Q5_1F32::one,  quantize_q5_1,
                                   Q5_1Q8::one, Q5_1F32::tokens, Q5_1Q8::tokens};

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
