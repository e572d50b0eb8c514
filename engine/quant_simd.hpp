// Helpers the quantized kernels (engine/quant*.cpp) share: the small SIMD building blocks,
// written once. Like the kernels, they are compiled per instruction-set variant
// (isa_variant.hpp), into the variant's namespace. Private to engine/.
#pragma once

#include <cstdint>

#include "engine/isa_variant.hpp"  // last: its pragma applies to what follows

namespace precis::engine::quant_impl::PRECIS_ISA_NS {

// A row's bytes as blocks of type B.
template <class B>
inline const B* blocks(const void* p) {
  return static_cast<const B*>(p);
}

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
