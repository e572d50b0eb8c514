// Helpers the quantized kernels (engine/quant*.cpp) share: the small SIMD building blocks,
// written once. Like the kernels, they are compiled per instruction-set variant
// (isa_variant.hpp), into the variant's namespace. Private to engine/.
#pragma once

#include <cstdint>
#include <type_traits>

#include "engine/kernel_table.hpp"  // kDotTokens

#include "engine/isa_variant.hpp"  // last: its pragma applies to what follows

namespace precis::engine::quant_impl::PRECIS_ISA_NS {

// A row's bytes as blocks of type B.
template <class B>
inline const B* blocks(const void* p) {
  return static_cast<const B*>(p);
}

// For the small helpers a row kernel calls once per block: GCC's heuristics otherwise leave some
// (a block decoder returning four vectors) as calls, with the vectors passed through memory.
#define PRECIS_KERNEL_INLINE [[gnu::always_inline]] inline
// For a row kernel itself: everything it calls (the lambdas handed to sum_blocks_tokens included)
// is inlined into it, so its accumulators stay in registers.
#define PRECIS_KERNEL_FLATTEN [[gnu::flatten]]

// Calls f(std::integral_constant<int, n>) for n = nt (1 to kDotTokens): a row kernel written
// for a compile-time token count serves any nt.
template <class F>
inline void with_token_count(int nt, F f) {
  static_assert(kDotTokens == 4);
  switch (nt) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    default:
      return f(std::integral_constant<int, 4>{});
  }
}

// The exported forms of one type's row kernel over activations Act (float, or BlockQ8A for 8-bit
// activations): Impl::run<NT>(row, x, x_stride, nb, out, out_stride) where the variant has SIMD
// (AVX2 and up), else the portable Scalar once per token. one() is the one-token kernel
// (QuantKernels::dot, dot_q8) and tokens() the several-token one (dot_tokens, dot_q8_tokens); one()
// calls run<1>, so the two agree bit for bit.
template <class Act, class Impl, float (*Scalar)(const void*, const Act*, int64_t)>
struct RowKernel {
  static void tokens(const void* row, const Act* x, int64_t x_stride, int nt, int64_t nb,
                     float* out, int64_t out_stride) {
#ifdef PRECIS_SIMD_AVX2
    with_token_count(
        nt, [&](auto n) { Impl::template run<n()>(row, x, x_stride, nb, out, out_stride); });
#else
    for (int t = 0; t < nt; ++t) out[t * out_stride] = Scalar(row, x + t * x_stride, nb);
#endif
  }
  static float one(const void* row, const Act* x, int64_t nb) {
    float r;
    tokens(row, x, 0, 1, nb, &r, 1);
    return r;
  }
};

// Signed x signed integer sum for the scalar int8-activation paths. The weights are unpacked to
// int8 first: written as one loop over (u8-derived value - offset) * int8, GCC 12 with
// AVX512-VNNI (the avx512 variant) vectorises the sum into vpdpbusd, which treats
// the weights as unsigned: wrong results.
inline int32_t isum(const int8_t* w, const int8_t* a, int n) {
  int32_t s = 0;
  for (int j = 0; j < n; ++j) s += w[j] * a[j];
  return s;
}

#ifdef PRECIS_SIMD_AVX2
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#ifdef PRECIS_SIMD_AVX512VNNI
// The AVX-512 variant sums f32-activation dots in 16 lanes: v[k] holds elements 16k..16k+15 of
// a block of 32 weights unpacked to f32, and d is the scale the block's sum is multiplied by (1
// where v holds scaled weights). Half the instructions of 8 lanes, on CPUs that run 512-bit FMAs
// at full rate (Zen 5, Intel server cores).
using VecF = __m512;
struct BlockF32 {
  __m512 v[2];
  float d;
};

inline float hsum(__m512 v) {
  return hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

// sum_i w[i] * x[i] over one block, as 16 lanes (the order every f32-activation dot of this
// variant uses).
PRECIS_KERNEL_INLINE __m512 block_dot(const BlockF32& w, const float* x) {
  const __m512 s = _mm512_mul_ps(w.v[0], _mm512_loadu_ps(x));
  return _mm512_fmadd_ps(w.v[1], _mm512_loadu_ps(x + 16), s);
}
PRECIS_KERNEL_INLINE __m512 vec_add(__m512 a, __m512 b) {
  return _mm512_add_ps(a, b);
}
PRECIS_KERNEL_INLINE __m512 vec_mul(float a, __m512 b) {
  return _mm512_mul_ps(_mm512_set1_ps(a), b);
}
PRECIS_KERNEL_INLINE __m512 vec_fmadd(float a, __m512 b, __m512 c) {
  return _mm512_fmadd_ps(_mm512_set1_ps(a), b, c);
}
// VecF's lane count and plain operations, for the dense kernels (cpu_kernels.cpp) too.
constexpr int kLanesF = 16;
PRECIS_KERNEL_INLINE VecF vec_zero() {
  return _mm512_setzero_ps();
}
PRECIS_KERNEL_INLINE VecF vec_load(const float* p) {
  return _mm512_loadu_ps(p);
}
PRECIS_KERNEL_INLINE void vec_store(float* p, VecF v) {
  _mm512_storeu_ps(p, v);
}
PRECIS_KERNEL_INLINE VecF vec_fma(VecF a, VecF b, VecF c) {
  return _mm512_fmadd_ps(a, b, c);
}
#else
// A block of 32 weights unpacked to f32 for the f32-activation dots: v[k] holds elements
// 8k..8k+7, and d is the scale the block's sum is multiplied by (1 where v holds scaled weights).
using VecF = __m256;
struct BlockF32 {
  __m256 v[4];
  float d;
};

// sum_i w[i] * x[i] over one block, as 8 lanes (the order every f32-activation dot of this
// variant uses).
PRECIS_KERNEL_INLINE __m256 block_dot(const BlockF32& w, const float* x) {
  __m256 s0 = _mm256_mul_ps(w.v[0], _mm256_loadu_ps(x));
  __m256 s1 = _mm256_mul_ps(w.v[2], _mm256_loadu_ps(x + 16));
  s0 = _mm256_fmadd_ps(w.v[1], _mm256_loadu_ps(x + 8), s0);
  s1 = _mm256_fmadd_ps(w.v[3], _mm256_loadu_ps(x + 24), s1);
  return _mm256_add_ps(s0, s1);
}
constexpr int kLanesF = 8;
PRECIS_KERNEL_INLINE VecF vec_zero() {
  return _mm256_setzero_ps();
}
PRECIS_KERNEL_INLINE VecF vec_load(const float* p) {
  return _mm256_loadu_ps(p);
}
PRECIS_KERNEL_INLINE void vec_store(float* p, VecF v) {
  _mm256_storeu_ps(p, v);
}
PRECIS_KERNEL_INLINE VecF vec_fma(VecF a, VecF b, VecF c) {
  return _mm256_fmadd_ps(a, b, c);
}
#endif
PRECIS_KERNEL_INLINE __m256 vec_add(__m256 a, __m256 b) {
  return _mm256_add_ps(a, b);
}
PRECIS_KERNEL_INLINE __m256 vec_mul(float a, __m256 b) {
  return _mm256_mul_ps(_mm256_set1_ps(a), b);
}
PRECIS_KERNEL_INLINE __m256 vec_fmadd(float a, __m256 b, __m256 c) {
  return _mm256_fmadd_ps(_mm256_set1_ps(a), b, c);
}

// y[i, i + V * kLanesF) += a[r] * row r's elements there, for every row, y held in V registers
// across all the rows instead of loaded and stored per row (a store-to-load chain through
// memory). Each element still takes y = fma(a[r], x, y) for r in order: one axpy per row's bits.
// lanes(r, j) gives row r's kLanesF elements from element j as f32.
template <int V, class Lanes>
PRECIS_KERNEL_INLINE void axpy_span_rows(const float* a, int rows, int i, float* y, Lanes lanes) {
  VecF acc[V];
  for (int k = 0; k < V; ++k) acc[k] = vec_load(y + i + k * kLanesF);
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < V; ++k) acc[k] = vec_fmadd(a[r], lanes(r, i + k * kLanesF), acc[k]);
  for (int k = 0; k < V; ++k) vec_store(y + i + k * kLanesF, acc[k]);
}

// axpy_span_rows over every whole vector of y[0, n), four at a time, then the last one to three
// together (a 32-wide attention head is two zmm: it took a store and a reload of y per row, a
// fifth of a 5.7M model's prefill). Returns where the n % kLanesF elements left begin.
template <class Lanes>
PRECIS_KERNEL_INLINE int axpy_vectors_rows(const float* a, int rows, int n, float* y, Lanes lanes) {
  int i = 0;
  for (; i + 4 * kLanesF <= n; i += 4 * kLanesF) axpy_span_rows<4>(a, rows, i, y, lanes);
  const int left = (n - i) / kLanesF;
  if (left == 3) axpy_span_rows<3>(a, rows, i, y, lanes);
  if (left == 2) axpy_span_rows<2>(a, rows, i, y, lanes);
  if (left == 1) axpy_span_rows<1>(a, rows, i, y, lanes);
  return i + left * kLanesF;
}

// One weight row against NT tokens: decode(i) unpacks block i once, then
// acc = step(decoded, i, t, acc) adds its share to token t's lanes. Each token sums exactly as a
// one-token call does (two accumulators over alternate blocks, then one horizontal sum), so
// batching tokens changes the cost, never a bit of the result. out[t * out_stride] gets token t's.
// V: the accumulators' vector type (VecF for f32 activations, __m256 for 8-bit ones).
template <int NT, class V, class Decode, class Step>
inline void sum_blocks_tokens(int64_t nb, float* out, int64_t out_stride, Decode decode,
                              Step step) {
  V acc0[NT], acc1[NT];
  for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = V{};
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const auto w0 = decode(i);
    for (int t = 0; t < NT; ++t) acc0[t] = step(w0, i, t, acc0[t]);
    const auto w1 = decode(i + 1);
    for (int t = 0; t < NT; ++t) acc1[t] = step(w1, i + 1, t, acc1[t]);
  }
  if (i < nb) {
    const auto w = decode(i);
    for (int t = 0; t < NT; ++t) acc0[t] = step(w, i, t, acc0[t]);
  }
  for (int t = 0; t < NT; ++t) out[t * out_stride] = hsum(vec_add(acc0[t], acc1[t]));
}

// The largest of the 8 lanes.
inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ps(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Per-lane sums of u[i] * s[i] over groups of 4 bytes (u unsigned, s signed), as int32.
inline __m256i dot_u8_i8(__m256i u, __m256i s) {
#ifdef PRECIS_SIMD_AVX512VNNI
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}
#endif

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
