// The GEMM over interleaved quantized weights (engine/interleaved_quant.hpp) and 8-bit
// activations: 16 rows x up to 8 tokens per call of the tile, every product an integer one.
//
// Per block of 32 and token, each of the 16 rows (one per lane) computes
//   i = sum_e code[e] * q[e] - offset * sum_e q[e]          (exact, int32)
//   acc = fma(float(i), scale * d, acc)                     (one scale per 32)
//   acc = fma(min, s, acc)                                   (types with a min; s = d * sum q)
// or, with a scale per 16 (q6_K), i0 and i1 over the two halves and
//   acc = fma(fma(float(i1), scale1, float(i0) * scale0), d, acc).
// The AVX-512 variant runs those steps 16 lanes wide (VPDPBUSD: unsigned codes x signed
// activations); the other variants run the same steps per lane with the same roundings (fmaf),
// so the two agree bit for bit and the scalar one is the test's reference. A token's result
// never depends on how many tokens share its tile.
#include "engine/dtype.hpp"
#include "engine/interleaved_quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

// Last (isa_variant.hpp): the variant's instruction set applies to what follows.
#include "engine/quant_kernels.hpp"
#include "engine/quant_simd.hpp"

namespace precis::engine::quant_impl::PRECIS_ISA_NS {
namespace {

// Tokens a tile takes at once: 8 accumulators beside 8 registers of codes.
constexpr int kTileTokens = 8;

// The format's compile-time shape.
template <bool Nibbles, int ScalesPerBlock, bool Min, bool F16>
struct Shape {
  static constexpr bool nibbles = Nibbles;
  static constexpr int spb = ScalesPerBlock;
  static constexpr bool min = Min;
  static constexpr bool f16 = F16;
  static_assert(!(Min && ScalesPerBlock == 2));
};

struct TileArgs {
  const InterleavedMatrix* m;
  const std::byte* group;
  const BlockQ8A* xq;  // token t's block b: xq[t * xq_stride + b]
  int64_t xq_stride;
  const int32_t* xs;  // its half sums: xs[t * xs_stride + 2b + h]
  int64_t xs_stride;
  float* y;  // row r, token t: y[t * y_stride + r]
  int64_t y_stride;
};

#ifdef PRECIS_SIMD_AVX512VNNI

PRECIS_KERNEL_INLINE __m512 load_values(const std::byte* p, std::true_type /*f16*/) {
  return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
}
PRECIS_KERNEL_INLINE __m512 load_values(const std::byte* p, std::false_type) {
  return _mm512_load_ps(reinterpret_cast<const float*>(p));
}

PRECIS_KERNEL_INLINE __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <int NT, class S>
PRECIS_KERNEL_FLATTEN void tile(const TileArgs& a) {
  const InterleavedMatrix& m = *a.m;
  const int offset = m.format.offset;
  const size_t sb = m.scale_bytes();
  const std::integral_constant<bool, S::f16> f16;
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < m.nb; ++b) {
    const std::byte* codes = a.group + b * m.code_bytes;
    __m512i c[8];
    if constexpr (S::nibbles) {
      for (int p = 0; p < 4; ++p) {
        const __m512i v = _mm512_load_si512(codes + 64 * p);
        c[p] = _mm512_and_si512(v, low4);
        c[p + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      }
    } else {
      for (int ch = 0; ch < 8; ++ch) c[ch] = _mm512_load_si512(codes + 64 * ch);
    }
    const std::byte* scales = a.group + m.scales_at + b * S::spb * kInterleaveRows * sb;
    const __m512 sc0 = load_values(scales, f16);
    __m512 sc1 = sc0, mn = sc0;
    if constexpr (S::spb == 2) sc1 = load_values(scales + kInterleaveRows * sb, f16);
    if constexpr (S::min) mn = load_values(a.group + m.mins_at + b * kInterleaveRows * sb, f16);
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const BlockQ8A& x = a.xq[t * a.xq_stride + b];
      const int32_t* s = a.xs + t * a.xs_stride + 2 * b;
      if constexpr (S::spb == 1) {
        __m512i i = _mm512_set1_epi32(-offset * (s[0] + s[1]));
        for (int ch = 0; ch < 8; ++ch) i = _mm512_dpbusd_epi32(i, c[ch], bcast4(x.qs + 4 * ch));
        acc[t] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(sc0, _mm512_set1_ps(x.d)), acc[t]);
        if constexpr (S::min) acc[t] = _mm512_fmadd_ps(mn, _mm512_set1_ps(x.s), acc[t]);
      } else {
        __m512i i0 = _mm512_set1_epi32(-offset * s[0]);
        __m512i i1 = _mm512_set1_epi32(-offset * s[1]);
        for (int ch = 0; ch < 4; ++ch) {
          i0 = _mm512_dpbusd_epi32(i0, c[ch], bcast4(x.qs + 4 * ch));
          i1 = _mm512_dpbusd_epi32(i1, c[ch + 4], bcast4(x.qs + 16 + 4 * ch));
        }
        const __m512 f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1), sc1,
                                         _mm512_mul_ps(_mm512_cvtepi32_ps(i0), sc0));
        acc[t] = _mm512_fmadd_ps(f, _mm512_set1_ps(x.d), acc[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(a.y + t * a.y_stride, acc[t]);
}

#else  // the portable reference: the same steps, one lane at a time

float read_value(const std::byte* p, bool f16) {
  if (f16) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16_to_f32(h);
  }
  float f;
  std::memcpy(&f, p, 4);
  return f;
}

// Row r's code for element e of a block.
int code_at(const std::byte* codes, bool nibbles, int r, int e) {
  const auto* c = reinterpret_cast<const uint8_t*>(codes);
  if (nibbles) {
    const uint8_t byte = c[64 * ((e % 16) / 4) + 4 * r + e % 4];
    return e < 16 ? byte & 0xF : byte >> 4;
  }
  return c[64 * (e / 4) + 4 * r + e % 4];
}

template <int NT, class S>
void tile(const TileArgs& a) {
  const InterleavedMatrix& m = *a.m;
  const int offset = m.format.offset;
  const size_t sb = m.scale_bytes();
  for (int t = 0; t < NT; ++t) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      float acc = 0.f;
      for (int64_t b = 0; b < m.nb; ++b) {
        const std::byte* codes = a.group + b * m.code_bytes;
        const std::byte* scales = a.group + m.scales_at + b * S::spb * kInterleaveRows * sb;
        const BlockQ8A& x = a.xq[t * a.xq_stride + b];
        const int32_t* s = a.xs + t * a.xs_stride + 2 * b;
        int32_t i[2] = {-offset * s[0], -offset * s[1]};
        for (int e = 0; e < kQK; ++e) i[e / 16] += code_at(codes, S::nibbles, r, e) * x.qs[e];
        const float sc0 = read_value(scales + r * sb, S::f16);
        if constexpr (S::spb == 1) {
          const int32_t whole = i[0] + i[1];
          acc = std::fma(static_cast<float>(whole), sc0 * x.d, acc);
          if constexpr (S::min) {
            const float mn =
                read_value(a.group + m.mins_at + (b * kInterleaveRows + r) * sb, S::f16);
            acc = std::fma(mn, x.s, acc);
          }
        } else {
          const float sc1 = read_value(scales + (kInterleaveRows + r) * sb, S::f16);
          const float lo = static_cast<float>(i[0]) * sc0;
          acc = std::fma(std::fma(static_cast<float>(i[1]), sc1, lo), x.d, acc);
        }
      }
      a.y[t * a.y_stride + r] = acc;
    }
  }
}

#endif

template <class S>
void run_tiles(TileArgs a, int T) {
  for (int t0 = 0; t0 < T; t0 += kTileTokens) {
    TileArgs at = a;
    at.xq += t0 * a.xq_stride;
    at.xs += t0 * a.xs_stride;
    at.y += t0 * a.y_stride;
    switch (std::min(kTileTokens, T - t0)) {
      case 1:
        tile<1, S>(at);
        break;
      case 2:
        tile<2, S>(at);
        break;
      case 3:
        tile<3, S>(at);
        break;
      case 4:
        tile<4, S>(at);
        break;
      case 5:
        tile<5, S>(at);
        break;
      case 6:
        tile<6, S>(at);
        break;
      case 7:
        tile<7, S>(at);
        break;
      default:
        tile<8, S>(at);
        break;
    }
  }
}

}  // namespace

void interleaved_half_sums(const BlockQ8A* xq, int64_t nb, int32_t* out) {
  for (int64_t b = 0; b < nb; ++b) {
    int32_t lo = 0, hi = 0;
    for (int e = 0; e < 16; ++e) lo += xq[b].qs[e], hi += xq[b].qs[16 + e];
    out[2 * b] = lo;
    out[2 * b + 1] = hi;
  }
}

void gemm_interleaved(const InterleavedMatrix& m, int group, const BlockQ8A* xq, int64_t xq_stride,
                      const int32_t* xs, int64_t xs_stride, int T, float* y, int64_t y_stride) {
  const TileArgs a{&m,
                   m.group(group),
                   xq,
                   xq_stride,
                   xs,
                   xs_stride,
                   y + static_cast<size_t>(group) * kInterleaveRows,
                   y_stride};
  const InterleavedFormat& f = m.format;
  if (f.scales_per_block == 2) return run_tiles<Shape<false, 2, false, false>>(a, T);
  if (f.nibbles) {
    if (f.f16_scales)
      return f.has_min ? run_tiles<Shape<true, 1, true, true>>(a, T)
                       : run_tiles<Shape<true, 1, false, true>>(a, T);
    return run_tiles<Shape<true, 1, true, false>>(a, T);  // q4_K
  }
  if (f.f16_scales)
    return f.has_min ? run_tiles<Shape<false, 1, true, true>>(a, T)
                     : run_tiles<Shape<false, 1, false, true>>(a, T);
  return run_tiles<Shape<false, 1, true, false>>(a, T);  // q5_K
}

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
