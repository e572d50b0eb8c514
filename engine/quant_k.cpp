// The K types: super-blocks of 256 weights with per-sub-block integer scales. q4_K and q5_K have
// eight sub-blocks of 32 with 6-bit scales and mins under f16 d / dmin; q6_K has sixteen groups
// of 16 with int8 scales under an f16 d.
#include "engine/dtype.hpp"

// Last (isa_variant.hpp): the variant's instruction set applies to what follows.
#include "engine/quant_kernels.hpp"
#include "engine/quant_simd.hpp"

namespace precis::engine::quant_impl::PRECIS_ISA_NS {
namespace {

// Sub-block j's multiplier d * sc and offset dmin * mn (both exact in f32: 11 x 6 bits).
struct ScaleMin {
  float a[8];
  float b[8];
};
inline ScaleMin scale_min(float d, float dmin, const uint8_t* scales) {
  ScaleMin s;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, mn;
    q4k_scale_min(j, scales, sc, mn);
    s.a[j] = d * static_cast<float>(sc);
    s.b[j] = dmin * static_cast<float>(mn);
  }
  return s;
}

// A super-block's integer weights in element order: q4_K 0..15, q5_K 0..31, q6_K q - 32 in
// -32..31. For q4_K/q5_K each 32 bytes c of qs hold elements 64c..64c+31 in their low nibbles and
// 64c+32..64c+63 in their high nibbles; q5_K's bit 4 of element 32j + l is bit j of qh[l].
void ints_q4_k(const BlockQ4_K& b, int8_t* q) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = static_cast<int8_t>(b.qs[32 * c + l] & 0xF);
      q[64 * c + 32 + l] = static_cast<int8_t>(b.qs[32 * c + l] >> 4);
    }
  }
}
void ints_q5_k(const BlockQ5_K& b, int8_t* q) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int h = b.qh[l] >> (2 * c);
      q[64 * c + l] = static_cast<int8_t>((b.qs[32 * c + l] & 0xF) | ((h & 1) << 4));
      q[64 * c + 32 + l] = static_cast<int8_t>((b.qs[32 * c + l] >> 4) | ((h & 2) << 3));
    }
  }
}
// Element 128h + 32k + l: low 4 bits from ql[64h + l] (k = 0: low nibble, k = 2: high) or
// ql[64h + 32 + l] (k = 1, 3), high 2 bits from bits 2k, 2k+1 of qh[32h + l].
void ints_q6_k(const BlockQ6_K& b, int8_t* q) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    int8_t* y = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      y[l] = static_cast<int8_t>(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
      y[32 + l] = static_cast<int8_t>(((ql[32 + l] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
      y[64 + l] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      y[96 + l] = static_cast<int8_t>(((ql[32 + l] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

// The reference dequantizers. (d * sc) * q is exact in f32 (at most 11 + 6 + 6 bits), so the
// only rounding is the "- dmin * mn" of q4_K/q5_K, as in ggml and numpy.
template <class B, void (*Ints)(const B&, int8_t*)>
void deq_q45_k(const B& b, float* y) {
  const ScaleMin s = scale_min(f16_to_f32(b.d), f16_to_f32(b.dmin), b.scales);
  int8_t q[kQKK];
  Ints(b, q);
  for (int e = 0; e < kQKK; ++e) y[e] = s.a[e / 32] * static_cast<float>(q[e]) - s.b[e / 32];
}
void deq_q4_k(const BlockQ4_K& b, float* y) {
  deq_q45_k<BlockQ4_K, ints_q4_k>(b, y);
}
void deq_q5_k(const BlockQ5_K& b, float* y) {
  deq_q45_k<BlockQ5_K, ints_q5_k>(b, y);
}
void deq_q6_k(const BlockQ6_K& b, float* y) {
  const float d = f16_to_f32(b.d);
  int8_t q[kQKK];
  ints_q6_k(b, q);
  for (int e = 0; e < kQKK; ++e)
    y[e] = d * static_cast<float>(b.scales[e / 16]) * static_cast<float>(q[e]);
}

template <class B, void (*Deq)(const B&, float*)>
void dequantize_blocks(const void* src, float* dst, int64_t nb) {
  const B* b = blocks<B>(src);
  for (int64_t i = 0; i < nb; ++i) Deq(b[i], dst + i * kQKK);
}

template <class B, void (*Deq)(const B&, float*)>
float dot_scalar(const void* row, const float* x, int64_t nb) {
  const B* b = blocks<B>(row);
  float total = 0.f;
  float w[kQKK];
  for (int64_t i = 0; i < nb; ++i) {
    Deq(b[i], w);
    const float* xb = x + i * kQKK;
    float s[4] = {0.f, 0.f, 0.f, 0.f};
    for (int j = 0; j < kQKK; j += 4)
      for (int l = 0; l < 4; ++l) s[l] += w[j + l] * xb[j + l];
    total += (s[0] + s[1]) + (s[2] + s[3]);
  }
  return total;
}

#ifdef PRECIS_SIMD_AVX2
inline __m256i u8x8_to_i32(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

inline __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// f32 activations, q4_K (Q5 = false) or q5_K (Q5 = true). For each pair of sub-blocks (2c, 2c+1)
// and each 8 bytes g of their 32 qs bytes: the low nibbles are elements 64c + 8g.., the high
// nibbles 64c + 32 + 8g... Each weight is rebuilt exactly as a * q - b (an FMA of an exact
// product), then multiplied with x.
#ifdef PRECIS_SIMD_AVX512VNNI
// The AVX-512 variant, 16 lanes: for each pair of sub-blocks (2c, 2c+1) and each half h of their
// 32 qs bytes, the low nibbles are elements 64c + 16h.., the high nibbles 64c + 32 + 16h... Each
// weight is rebuilt exactly as a * q - b, then multiplied with x; sub-block 2c sums into
// acc[t][0], 2c+1 into acc[t][1].
template <bool Q5, class B>
struct Q45KTokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const float* x, int64_t x_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const B* blk = blocks<B>(row);
    __m512 acc[NT][2];
    for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi32(0xF);
    for (int64_t i = 0; i < nb; ++i) {
      const B& b = blk[i];
      const ScaleMin s = scale_min(_cvtsh_ss(b.d), _cvtsh_ss(b.dmin), b.scales);
      [[maybe_unused]] __m512i h4[2];  // qh[16h..16h+15] << 4 (q5_K): bit j lands at bit 4 + j
      if constexpr (Q5)
        for (int h = 0; h < 2; ++h)
          h4[h] = _mm512_slli_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128(
                                        reinterpret_cast<const __m128i*>(b.qh + 16 * h))),
                                    4);
      for (int c = 0; c < 4; ++c) {
        const __m512 a0 = _mm512_set1_ps(s.a[2 * c]), b0 = _mm512_set1_ps(s.b[2 * c]);
        const __m512 a1 = _mm512_set1_ps(s.a[2 * c + 1]), b1 = _mm512_set1_ps(s.b[2 * c + 1]);
        for (int h = 0; h < 2; ++h) {
          const __m512i v = _mm512_cvtepu8_epi32(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs + 32 * c + 16 * h)));
          __m512i q0 = _mm512_and_si512(v, low4);
          __m512i q1 = _mm512_srli_epi32(v, 4);
          if constexpr (Q5) {
            const __m512i bit = _mm512_set1_epi32(16);
            q0 = _mm512_or_si512(q0, _mm512_and_si512(_mm512_srli_epi32(h4[h], 2 * c), bit));
            q1 = _mm512_or_si512(q1, _mm512_and_si512(_mm512_srli_epi32(h4[h], 2 * c + 1), bit));
          }
          const __m512 w0 = _mm512_fmsub_ps(a0, _mm512_cvtepi32_ps(q0), b0);
          const __m512 w1 = _mm512_fmsub_ps(a1, _mm512_cvtepi32_ps(q1), b1);
          for (int t = 0; t < NT; ++t) {
            const float* xb = x + t * x_stride + i * kQKK + 64 * c + 16 * h;
            acc[t][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xb), acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xb + 32), acc[t][1]);
          }
        }
      }
    }
    for (int t = 0; t < NT; ++t) out[t * out_stride] = hsum(_mm512_add_ps(acc[t][0], acc[t][1]));
  }
};
#else
template <bool Q5, class B>
struct Q45KTokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const float* x, int64_t x_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const B* blk = blocks<B>(row);
    __m256 acc[NT][4];
    for (int t = 0; t < NT; ++t)
      for (int k = 0; k < 4; ++k) acc[t][k] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi32(0xF);
    for (int64_t i = 0; i < nb; ++i) {
      const B& b = blk[i];
      const ScaleMin s = scale_min(_cvtsh_ss(b.d), _cvtsh_ss(b.dmin), b.scales);
      [[maybe_unused]] __m256i
          h4[4];  // qh[8g..8g+7] << 4 (q5_K): bit j of the byte lands at bit 4 + j
      if constexpr (Q5)
        for (int g = 0; g < 4; ++g) h4[g] = _mm256_slli_epi32(u8x8_to_i32(b.qh + 8 * g), 4);
      for (int c = 0; c < 4; ++c) {
        const __m256 a0 = _mm256_set1_ps(s.a[2 * c]), b0 = _mm256_set1_ps(s.b[2 * c]);
        const __m256 a1 = _mm256_set1_ps(s.a[2 * c + 1]), b1 = _mm256_set1_ps(s.b[2 * c + 1]);
        for (int g = 0; g < 4; ++g) {
          const __m256i v = u8x8_to_i32(b.qs + 32 * c + 8 * g);
          __m256i q0 = _mm256_and_si256(v, low4);
          __m256i q1 = _mm256_srli_epi32(v, 4);
          if constexpr (Q5) {
            const __m256i bit = _mm256_set1_epi32(16);
            q0 = _mm256_or_si256(
                q0, _mm256_and_si256(_mm256_srl_epi32(h4[g], _mm_cvtsi32_si128(2 * c)), bit));
            q1 = _mm256_or_si256(
                q1, _mm256_and_si256(_mm256_srl_epi32(h4[g], _mm_cvtsi32_si128(2 * c + 1)), bit));
          }
          const __m256 w0 = _mm256_fmsub_ps(a0, _mm256_cvtepi32_ps(q0), b0);
          const __m256 w1 = _mm256_fmsub_ps(a1, _mm256_cvtepi32_ps(q1), b1);
          const int k = g & 1;
          for (int t = 0; t < NT; ++t) {
            const float* xb = x + t * x_stride + i * kQKK + 64 * c + 8 * g;
            acc[t][k] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xb), acc[t][k]);
            acc[t][2 + k] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xb + 32), acc[t][2 + k]);
          }
        }
      }
    }
    for (int t = 0; t < NT; ++t)
      out[t * out_stride] = hsum(
          _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3])));
  }
};

#endif

// int8 activations, q4_K / q5_K: per sub-block j, a_j * d_x * sum(q * xq) - b_j * s_x.
template <bool Q5, class B>
struct Q45KQ8Tokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const BlockQ8A* xq, int64_t xq_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const B* blk = blocks<B>(row);
    __m256 acc0[NT], acc1[NT];
    float mins[NT];
    for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps(), mins[t] = 0.f;
    const __m256i low4 = _mm256_set1_epi8(0xF);
    for (int64_t i = 0; i < nb; ++i) {
      const B& b = blk[i];
      const ScaleMin s = scale_min(_cvtsh_ss(b.d), _cvtsh_ss(b.dmin), b.scales);
      __m256i h = _mm256_setzero_si256();
      if constexpr (Q5) h = load256(b.qh);
      for (int c = 0; c < 4; ++c) {
        const __m256i v = load256(b.qs + 32 * c);
        __m256i q0 = _mm256_and_si256(v, low4);
        __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        if constexpr (Q5) {
          // Bit 2c of each qh byte, then bit 2c + 1, moved to bit 4 (16-bit shifts; the bits
          // that cross between bytes are masked off).
          const __m256i bit = _mm256_set1_epi8(0x10);
          q0 = _mm256_or_si256(q0, _mm256_and_si256(_mm256_slli_epi16(h, 4), bit));
          q1 = _mm256_or_si256(q1, _mm256_and_si256(_mm256_slli_epi16(h, 3), bit));
          h = _mm256_srli_epi16(h, 2);
        }
        for (int t = 0; t < NT; ++t) {
          const BlockQ8A& a0 = xq[t * xq_stride + i * 8 + 2 * c];
          const BlockQ8A& a1 = xq[t * xq_stride + i * 8 + 2 * c + 1];
          acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(s.a[2 * c] * a0.d),
                                    _mm256_cvtepi32_ps(dot_u8_i8(q0, load256(a0.qs))), acc0[t]);
          acc1[t] = _mm256_fmadd_ps(_mm256_set1_ps(s.a[2 * c + 1] * a1.d),
                                    _mm256_cvtepi32_ps(dot_u8_i8(q1, load256(a1.qs))), acc1[t]);
          mins[t] += s.b[2 * c] * a0.s + s.b[2 * c + 1] * a1.s;
        }
      }
    }
    for (int t = 0; t < NT; ++t)
      out[t * out_stride] = hsum(_mm256_add_ps(acc0[t], acc1[t])) - mins[t];
  }
};
#endif

// Scalar int8-activation dot for q4_K/q5_K: exact integer sums per sub-block.
template <class B, void (*Ints)(const B&, int8_t*)>
float dot_q45_k_q8_scalar(const B* blk, const BlockQ8A* xq, int64_t nb) {
  float total = 0.f;
  int8_t q[kQKK];
  for (int64_t i = 0; i < nb; ++i) {
    const B& b = blk[i];
    const ScaleMin s = scale_min(f16_to_f32(b.d), f16_to_f32(b.dmin), b.scales);
    Ints(b, q);
    for (int j = 0; j < 8; ++j) {
      const BlockQ8A& a = xq[i * 8 + j];
      const float sum = static_cast<float>(isum(q + 32 * j, a.qs, 32));
      total += s.a[j] * a.d * sum - s.b[j] * a.s;
    }
  }
  return total;
}

}  // namespace

void dequantize_q4_k(const void* src, float* dst, int64_t nb) {
  dequantize_blocks<BlockQ4_K, deq_q4_k>(src, dst, nb);
}
void dequantize_q5_k(const void* src, float* dst, int64_t nb) {
  dequantize_blocks<BlockQ5_K, deq_q5_k>(src, dst, nb);
}
void dequantize_q6_k(const void* src, float* dst, int64_t nb) {
  dequantize_blocks<BlockQ6_K, deq_q6_k>(src, dst, nb);
}

float dot_q4_k_scalar(const void* row, const float* x, int64_t nb) {
  return dot_scalar<BlockQ4_K, deq_q4_k>(row, x, nb);
}
float dot_q5_k_scalar(const void* row, const float* x, int64_t nb) {
  return dot_scalar<BlockQ5_K, deq_q5_k>(row, x, nb);
}
float dot_q6_k_scalar(const void* row, const float* x, int64_t nb) {
  return dot_scalar<BlockQ6_K, deq_q6_k>(row, x, nb);
}

// q6_K, f32 activations: for half h, lane group g (l = 8g..8g+7) the four elements 128h + 32k + l
// (k < 4) come from ql[64h + l], ql[64h + 32 + l] and qh[32h + l]; groups 0-1 use scale
// 8h + 2k, groups 2-3 scale 8h + 2k + 1. Sums of q * x per 16 elements are scaled once.
#ifdef PRECIS_SIMD_AVX2
namespace {
#ifdef PRECIS_SIMD_AVX512VNNI
PRECIS_KERNEL_INLINE __m512i u8x16(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// 16 lanes: for half h and lane group gg (l = 16gg..16gg+15, one scale's 16 elements) the four
// elements 128h + 32k + l come from ql[64h + l], ql[64h + 32 + l] and qh[32h + l], with scale
// 8h + 2k + gg; each group's q * x is scaled once into acc[t][k].
struct Q6KTokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const float* x, int64_t x_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const BlockQ6_K* blk = blocks<BlockQ6_K>(row);
    __m512 acc[NT][4];
    for (int t = 0; t < NT; ++t)
      for (int k = 0; k < 4; ++k) acc[t][k] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi32(0xF), top2 = _mm512_set1_epi32(0x30);
    const __m512i off = _mm512_set1_epi32(32);
    for (int64_t i = 0; i < nb; ++i) {
      const BlockQ6_K& b = blk[i];
      const float d = _cvtsh_ss(b.d);
      for (int h = 0; h < 2; ++h) {
        for (int gg = 0; gg < 2; ++gg) {
          const __m512i va = u8x16(b.ql + 64 * h + 16 * gg);
          const __m512i vb = u8x16(b.ql + 64 * h + 32 + 16 * gg);
          const __m512i vh = u8x16(b.qh + 32 * h + 16 * gg);
          const __m512i q[4] = {
              _mm512_or_si512(_mm512_and_si512(va, low4),
                              _mm512_and_si512(_mm512_slli_epi32(vh, 4), top2)),
              _mm512_or_si512(_mm512_and_si512(vb, low4),
                              _mm512_and_si512(_mm512_slli_epi32(vh, 2), top2)),
              _mm512_or_si512(_mm512_srli_epi32(va, 4), _mm512_and_si512(vh, top2)),
              _mm512_or_si512(_mm512_srli_epi32(vb, 4),
                              _mm512_and_si512(_mm512_srli_epi32(vh, 2), top2)),
          };
          __m512 qf[4];
          float sc[4];
          for (int k = 0; k < 4; ++k) {
            qf[k] = _mm512_cvtepi32_ps(_mm512_sub_epi32(q[k], off));
            sc[k] = d * static_cast<float>(b.scales[8 * h + 2 * k + gg]);
          }
          for (int t = 0; t < NT; ++t) {
            const float* xb = x + t * x_stride + i * kQKK + 128 * h + 16 * gg;
            for (int k = 0; k < 4; ++k)
              acc[t][k] =
                  _mm512_fmadd_ps(_mm512_set1_ps(sc[k]),
                                  _mm512_mul_ps(qf[k], _mm512_loadu_ps(xb + 32 * k)), acc[t][k]);
          }
        }
      }
    }
    for (int t = 0; t < NT; ++t)
      out[t * out_stride] = hsum(
          _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_add_ps(acc[t][2], acc[t][3])));
  }
};
#else
struct Q6KTokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const float* x, int64_t x_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const BlockQ6_K* blk = blocks<BlockQ6_K>(row);
    __m256 acc[NT][4];
    for (int t = 0; t < NT; ++t)
      for (int k = 0; k < 4; ++k) acc[t][k] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi32(0xF), top2 = _mm256_set1_epi32(0x30);
    const __m256i off = _mm256_set1_epi32(32);
    for (int64_t i = 0; i < nb; ++i) {
      const BlockQ6_K& b = blk[i];
      const float d = _cvtsh_ss(b.d);
      for (int h = 0; h < 2; ++h) {
        for (int gp = 0; gp < 2; ++gp) {
          __m256 qf[2][4];  // the two lane groups' weights (q - 32), as f32
          for (int gg = 0; gg < 2; ++gg) {
            const int g = 2 * gp + gg;
            const __m256i va = u8x8_to_i32(b.ql + 64 * h + 8 * g);
            const __m256i vb = u8x8_to_i32(b.ql + 64 * h + 32 + 8 * g);
            const __m256i vh = u8x8_to_i32(b.qh + 32 * h + 8 * g);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(va, low4),
                                _mm256_and_si256(_mm256_slli_epi32(vh, 4), top2)),
                _mm256_or_si256(_mm256_and_si256(vb, low4),
                                _mm256_and_si256(_mm256_slli_epi32(vh, 2), top2)),
                _mm256_or_si256(_mm256_srli_epi32(va, 4), _mm256_and_si256(vh, top2)),
                _mm256_or_si256(_mm256_srli_epi32(vb, 4),
                                _mm256_and_si256(_mm256_srli_epi32(vh, 2), top2)),
            };
            for (int k = 0; k < 4; ++k) qf[gg][k] = _mm256_cvtepi32_ps(_mm256_sub_epi32(q[k], off));
          }
          for (int t = 0; t < NT; ++t) {
            const float* xb = x + t * x_stride + i * kQKK + 128 * h + 8 * (2 * gp);
            for (int k = 0; k < 4; ++k) {
              __m256 sk = _mm256_mul_ps(qf[0][k], _mm256_loadu_ps(xb + 32 * k));
              sk = _mm256_fmadd_ps(qf[1][k], _mm256_loadu_ps(xb + 32 * k + 8), sk);
              const float sc = d * static_cast<float>(b.scales[8 * h + 2 * k + gp]);
              acc[t][k] = _mm256_fmadd_ps(_mm256_set1_ps(sc), sk, acc[t][k]);
            }
          }
        }
      }
    }
    for (int t = 0; t < NT; ++t)
      out[t * out_stride] = hsum(
          _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3])));
  }
};
#endif
}  // namespace
#endif

float dot_q4_k_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb) {
  return dot_q45_k_q8_scalar<BlockQ4_K, ints_q4_k>(blocks<BlockQ4_K>(row), xq, nb);
}
float dot_q5_k_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb) {
  return dot_q45_k_q8_scalar<BlockQ5_K, ints_q5_k>(blocks<BlockQ5_K>(row), xq, nb);
}

// q6_K, int8 activations: per 32 elements (one BlockQ8A), d * d_x * sum over the two groups of 16
// of scale * sum((q - 32) * xq).
float dot_q6_k_q8_scalar(const void* row, const BlockQ8A* xq, int64_t nb) {
  const BlockQ6_K* blk = blocks<BlockQ6_K>(row);
  float total = 0.f;
  int8_t q[kQKK];
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ6_K& b = blk[i];
    const float d = f16_to_f32(b.d);
    ints_q6_k(b, q);
    for (int j = 0; j < 8; ++j) {
      const BlockQ8A& a = xq[i * 8 + j];
      const int8_t* w = q + 32 * j;
      const int32_t sum =
          b.scales[2 * j] * isum(w, a.qs, 16) + b.scales[2 * j + 1] * isum(w + 16, a.qs + 16, 16);
      total += d * a.d * static_cast<float>(sum);
    }
  }
  return total;
}

#ifdef PRECIS_SIMD_AVX2
namespace {
struct Q6KQ8Tokens {
  template <int NT>
  PRECIS_KERNEL_FLATTEN static void run(const void* row, const BlockQ8A* xq, int64_t xq_stride,
                                        int64_t nb, float* out, int64_t out_stride) {
    const BlockQ6_K* blk = blocks<BlockQ6_K>(row);
    __m256 acc0[NT], acc1[NT];
    for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0xF), top2 = _mm256_set1_epi8(0x30);
    const __m256i off = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < nb; ++i) {
      const BlockQ6_K& b = blk[i];
      const float d = _cvtsh_ss(b.d);
      for (int h = 0; h < 2; ++h) {
        const __m256i va = load256(b.ql + 64 * h);
        const __m256i vb = load256(b.ql + 64 * h + 32);
        const __m256i vh = load256(b.qh + 32 * h);
        // 16-bit shifts move bits between bytes; the masks keep each byte's own.
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(va, low4),
                            _mm256_and_si256(_mm256_slli_epi16(vh, 4), top2)),
            _mm256_or_si256(_mm256_and_si256(vb, low4),
                            _mm256_and_si256(_mm256_slli_epi16(vh, 2), top2)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(va, 4), low4),
                            _mm256_and_si256(vh, top2)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(vb, 4), low4),
                            _mm256_and_si256(_mm256_srli_epi16(vh, 2), top2)),
        };
        for (int k = 0; k < 4; ++k) {
          const int j = 4 * h + k;  // the 32-element block: elements 32j..32j+31
          const __m256i w = _mm256_sub_epi8(q[k], off);
          const __m256i w_abs = _mm256_sign_epi8(w, w);
          const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(b.scales[2 * j + 1]),
                                              _mm_set1_epi16(b.scales[2 * j]));
          for (int t = 0; t < NT; ++t) {
            const BlockQ8A& a = xq[t * xq_stride + i * 8 + j];
            // (q - 32) * xq summed in pairs (int16), then scaled per group of 16 and paired.
            const __m256i p16 = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(load256(a.qs), w));
            const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, sc));
            if (k % 2 == 0)
              acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), p, acc0[t]);
            else
              acc1[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), p, acc1[t]);
          }
        }
      }
    }
    for (int t = 0; t < NT; ++t) out[t * out_stride] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
  }
};
}  // namespace
#endif

namespace {
#ifdef PRECIS_SIMD_AVX2
using Q4KF32 = RowKernel<float, Q45KTokens<false, BlockQ4_K>, dot_q4_k_scalar>;
using Q5KF32 = RowKernel<float, Q45KTokens<true, BlockQ5_K>, dot_q5_k_scalar>;
using Q6KF32 = RowKernel<float, Q6KTokens, dot_q6_k_scalar>;
using Q4KQ8 = RowKernel<BlockQ8A, Q45KQ8Tokens<false, BlockQ4_K>, dot_q4_k_q8_scalar>;
using Q5KQ8 = RowKernel<BlockQ8A, Q45KQ8Tokens<true, BlockQ5_K>, dot_q5_k_q8_scalar>;
using Q6KQ8 = RowKernel<BlockQ8A, Q6KQ8Tokens, dot_q6_k_q8_scalar>;
#else
using Q4KF32 = RowKernel<float, void, dot_q4_k_scalar>;
using Q5KF32 = RowKernel<float, void, dot_q5_k_scalar>;
using Q6KF32 = RowKernel<float, void, dot_q6_k_scalar>;
using Q4KQ8 = RowKernel<BlockQ8A, void, dot_q4_k_q8_scalar>;
using Q5KQ8 = RowKernel<BlockQ8A, void, dot_q5_k_q8_scalar>;
using Q6KQ8 = RowKernel<BlockQ8A, void, dot_q6_k_q8_scalar>;
#endif
}  // namespace

// The K types have no quantizer here (nothing writes them).
const QuantKernels kQ4_KKernels = {kQKK,       dequantize_q4_k, Q4KF32::one,  nullptr,
                                   Q4KQ8::one, Q4KF32::tokens,  Q4KQ8::tokens};
const QuantKernels kQ5_KKernels = {kQKK,       dequantize_q5_k, Q5KF32::one,  nullptr,
                                   Q5KQ8::one, Q5KF32::tokens,  Q5KQ8::tokens};
const QuantKernels kQ6_KKernels = {kQKK,       dequantize_q6_k, Q6KF32::one,  nullptr,
                                   Q6KQ8::one, Q6KF32::tokens,  Q6KQ8::tokens};

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
