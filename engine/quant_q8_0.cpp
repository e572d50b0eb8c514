// q8_0: blocks of 32 int8 weights with an f16 scale; also the int8 activation blocks (BlockQ8A)
// that every dot_row_q8 kernel reads.
#include "engine/dtype.hpp"

#include <cmath>

// Last (isa_variant.hpp): the variant's instruction set applies to what follows.
#include "engine/quant_kernels.hpp"
#include "engine/quant_simd.hpp"

namespace precis::engine::quant_impl::PRECIS_ISA_NS {
namespace {

#ifdef PRECIS_SIMD_AVX2
// Eight int8 at p as f32.
PRECIS_KERNEL_INLINE __m256 i8x8_to_f32(const int8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

#ifdef PRECIS_SIMD_AVX512VNNI
// Sixteen int8 at p as f32 (a free function: a lambda returning a zmm trips GCC's psabi check).
PRECIS_KERNEL_INLINE __m512 i8x16_to_f32(const int8_t* p) {
  return _mm512_cvtepi32_ps(
      _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
#endif

PRECIS_KERNEL_INLINE BlockF32 decode_f32(const BlockQ8_0& b) {
#ifdef PRECIS_SIMD_AVX512VNNI
  return {{i8x16_to_f32(b.qs), i8x16_to_f32(b.qs + 16)}, _cvtsh_ss(b.d)};
#else
  return {
      {i8x8_to_f32(b.qs), i8x8_to_f32(b.qs + 8), i8x8_to_f32(b.qs + 16), i8x8_to_f32(b.qs + 24)},
      _cvtsh_ss(b.d)};
#endif
}

struct Q8_0Tokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const float* x, int64_t x_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const BlockQ8_0* b = blocks<BlockQ8_0>(row);
    sum_blocks_tokens<NT, VecF>(
        nb, out, out_stride, [&](int64_t i) { return decode_f32(b[i]); },
        [&](const BlockF32& w, int64_t i, int t, VecF acc) {
          return vec_fmadd(w.d, block_dot(w, x + t * x_stride + i * kQK), acc);
        });
  }
};

// The weights as |w| (the byte dot's unsigned operand) and w (whose signs go onto the
// activations: |w| * (a with w's sign) = w * a), and the scale.
struct BlockI8 {
  __m256i u, w;
  float d;
};

struct Q8_0Q8Tokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const BlockQ8A* xq, int64_t xq_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const BlockQ8_0* b = blocks<BlockQ8_0>(row);
    sum_blocks_tokens<NT, __m256>(
        nb, out, out_stride,
        [&](int64_t i) {
          const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
          return BlockI8{_mm256_sign_epi8(w, w), w, _cvtsh_ss(b[i].d)};
        },
        [&](const BlockI8& w, int64_t i, int t, __m256 acc) {
          const BlockQ8A& a = xq[t * xq_stride + i];
          const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
          const __m256i p = dot_u8_i8(w.u, _mm256_sign_epi8(av, w.w));
          return _mm256_fmadd_ps(_mm256_set1_ps(w.d * a.d), _mm256_cvtepi32_ps(p), acc);
        });
  }
};
#endif

}  // namespace

void dequantize_q8_0(const void* src, float* dst, int64_t nb) {
  const BlockQ8_0* b = blocks<BlockQ8_0>(src);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = d * static_cast<float>(b[i].qs[j]);
  }
}

float dot_q8_0_scalar(const void* row, const float* x, int64_t nb) {
  const BlockQ8_0* b = blocks<BlockQ8_0>(row);
  float total = 0.f;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK;
    float s[4] = {0.f, 0.f, 0.f, 0.f};
    for (int j = 0; j < kQK; j += 4)
      for (int l = 0; l < 4; ++l) s[l] += static_cast<float>(b[i].qs[j + l]) * xb[j + l];
    total += f16_to_f32(b[i].d) * ((s[0] + s[1]) + (s[2] + s[3]));
  }
  return total;
}

// quantize_row_q8_0_ref: d = max|x| / 127, q = roundf(x / d) (ties away from zero).
void quantize_q8_0(const float* src, void* dst, int64_t nb) {
  BlockQ8_0* out = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = src + i * kQK;
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    out[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK; ++j) out[i].qs[j] = static_cast<int8_t>(std::roundf(xb[j] * id));
  }
}

// d = max|x| / 127, q = roundf(x * (1/d)) (ties away from zero), s = d * sum(q). The SIMD path
// computes the same: the same max (NaN ignored, as fmax does), the same product, and roundf done
// exactly (truncate, then step away from zero where the dropped part is at least one half).
void quantize_activations_blocks(const float* x, BlockQ8A* xq, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK;
#ifdef PRECIS_SIMD_AVX2
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(xb + 8 * k);
      m = _mm256_max_ps(_mm256_and_ps(v[k], abs_mask), m);  // a NaN lane keeps m
    }
    const float amax = hmax(m);
#else
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
#endif
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    int sum = 0;
#ifdef PRECIS_SIMD_AVX2
    const __m256 idv = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f);
    const __m256 sign_mask = _mm256_set1_ps(-0.f);
    __m256i q32[4];
    for (int k = 0; k < 4; ++k) {
      const __m256 p = _mm256_mul_ps(v[k], idv);
      const __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m256 frac = _mm256_and_ps(_mm256_sub_ps(p, t), abs_mask);  // exact
      const __m256 up =
          _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ),
                        _mm256_or_ps(_mm256_and_ps(p, sign_mask), _mm256_set1_ps(1.f)));
      q32[k] = _mm256_cvttps_epi32(_mm256_add_ps(t, up));
    }
    const __m256i q16a = _mm256_packs_epi32(q32[0], q32[1]),
                  q16b = _mm256_packs_epi32(q32[2], q32[3]);
    // packs works within 128-bit lanes: put the elements back in order.
    const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b),
                                                   _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xq[i].qs), q8);
    __m256i s32 =
        _mm256_add_epi32(_mm256_add_epi32(q32[0], q32[1]), _mm256_add_epi32(q32[2], q32[3]));
    alignas(32) int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s32);
    for (int l = 0; l < 8; ++l) sum += lanes[l];
#else
    for (int j = 0; j < kQK; ++j) {
      const int q = static_cast<int>(std::roundf(xb[j] * id));
      xq[i].qs[j] = static_cast<int8_t>(q);
      sum += q;
    }
#endif
    xq[i].d = d;
    xq[i].s = d * static_cast<float>(sum);
  }
}

float dot_q8_0_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb) {
  const BlockQ8_0* b = blocks<BlockQ8_0>(row);
  float total = 0.f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t s = 0;
    for (int j = 0; j < kQK; ++j) s += b[i].qs[j] * xq[i].qs[j];
    total += f16_to_f32(b[i].d) * xq[i].d * static_cast<float>(s);
  }
  return total;
}

namespace {
#ifdef PRECIS_SIMD_AVX2
using Q8_0F32 = RowKernel<float, Q8_0Tokens, dot_q8_0_scalar>;
using Q8_0Q8 = RowKernel<BlockQ8A, Q8_0Q8Tokens, dot_q8_0_q8_scalar>;
#else
using Q8_0F32 = RowKernel<float, void, dot_q8_0_scalar>;
using Q8_0Q8 = RowKernel<BlockQ8A, void, dot_q8_0_q8_scalar>;
#endif
}  // namespace

const QuantKernels kQ8_0Kernels = {kQK,         dequantize_q8_0, Q8_0F32::one,  quantize_q8_0,
                                   Q8_0Q8::one, Q8_0F32::tokens, Q8_0Q8::tokens};

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
