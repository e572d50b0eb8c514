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
#include "engine/cpu_prefetch.hpp"
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
template <bool Nibbles, int ScalesPerBlock, bool Min, bool KScales, int UnitBlocks = 8,
          int HighBits = 0>
struct Shape {
  static constexpr bool nibbles = Nibbles;
  static constexpr int high_bits = HighBits;  // code bits above the nibble, in planes
  static constexpr int spb = ScalesPerBlock;
  static constexpr bool min = Min;
  static constexpr bool k_scales = KScales;       // 8-bit scales x super-block d; else f16 scales
  static constexpr int unit_blocks = UnitBlocks;  // the layout's unit_shift, at compile time
  static_assert(!KScales || UnitBlocks == 8);
  static_assert(!(Min && ScalesPerBlock == 2));
  static_assert(KScales || ScalesPerBlock == 1);
  static_assert(HighBits == 0 || (Nibbles && (HighBits == 1 || HighBits == 2)));
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

// 16 f16 at p (32-byte aligned) as f32.
PRECIS_KERNEL_INLINE __m512 load_f16(const std::byte* p) {
  return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
}
// 16 8-bit integers at p as f32, signed or not.
PRECIS_KERNEL_INLINE __m512 load_i8(const std::byte* p) {
  return _mm512_cvtepi32_ps(
      _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
PRECIS_KERNEL_INLINE __m512 load_u8(const std::byte* p) {
  return _mm512_cvtepi32_ps(
      _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

PRECIS_KERNEL_INLINE __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// How far ahead of the unit being read a K type's group is prefetched, on CPUs that want it
// (engine/cpu_prefetch.hpp: not Zen 4, where it cost a fifth). tinyllama-shape decode, int8,
// 2 threads, Zen 5, 2026-12-07 (tok/s without / with 2, 4, 8 KiB ahead, prefetching the codes'
// lines): Q4_K_M 51 / 62, 68, 63; the whole unit 4 KiB ahead 76. For the f16-scaled types
// (Q4_0, Q8_0: units of one or two blocks) the same runs ranged 67-95 and 38-58 tok/s either
// way, inside that machine's noise, so they are left to the hardware prefetcher.
constexpr size_t kPrefetchAhead = 4096;

template <int NT, class S>
PRECIS_KERNEL_FLATTEN void tile(const TileArgs& a) {
  const InterleavedMatrix& m = *a.m;
  const int offset = m.format.offset;
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  // Unit by unit (interleaved_quant.hpp), each section's pointer stepped per block: the layout's
  // per-block address helpers cost prefill ~10% in this loop. A K type's d and dmin are loaded
  // once per unit, its super-block.
  constexpr size_t kScalesStep = interleaved_scales_step(S::spb, S::k_scales);
  constexpr size_t kMinsStep = interleaved_mins_step(S::k_scales);
  [[maybe_unused]] const bool prefetch = S::k_scales && k_unit_prefetch();
  int64_t b = 0;
  for (const std::byte* unit = a.group; b < m.nb; unit += m.unit_bytes) {
    // K types: the unit (a 256-element super-block of 16 rows, ~2.3 KiB for q4_K) kPrefetchAhead
    // bytes on, into L1. At batch 1 the loads of the codes were where the time went: the
    // hardware prefetcher alone kept Q4_K_M decode at 31 GB/s where llama.cpp reads 41.
    if constexpr (S::k_scales)
      if (prefetch)
        for (size_t o = 0; o < m.unit_bytes; o += 64)
          _mm_prefetch(reinterpret_cast<const char*>(unit) + kPrefetchAhead + o, _MM_HINT_T0);
    [[maybe_unused]] __m512 d = _mm512_setzero_ps(), neg_dmin = d;
    if constexpr (S::k_scales) {
      d = load_f16(unit);
      if constexpr (S::min) neg_dmin = _mm512_xor_ps(load_f16(unit + 32), _mm512_set1_ps(-0.f));
    }
    const std::byte* codes = unit + m.codes_at;
    const std::byte* scales = unit + m.scales_at;
    const std::byte* mins = unit + m.mins_at;
    for (int j = 0; j < S::unit_blocks;
         ++j, ++b, codes += m.code_bytes, scales += kScalesStep, mins += kMinsStep) {
      __m512i c[8];
      if constexpr (S::nibbles) {
        for (int p = 0; p < 4; ++p) {
          const __m512i v = _mm512_load_si512(codes + 64 * p);
          c[p] = _mm512_and_si512(v, low4);
          c[p + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        }
        if constexpr (S::high_bits > 0) {
          // Chunk ch's high bits (interleaved_plane_offset, _shift): a 16-bit shift moves them
          // to bit 4 (the bits it carries across a byte boundary are masked off), an OR puts
          // them above the nibble.
          constexpr int hb = S::high_bits;
          const __m512i mask = _mm512_set1_epi8(static_cast<char>(((1 << hb) - 1) << 4));
#pragma GCC unroll 8
          for (int ch = 0; ch < 8; ++ch) {
            const __m512i h = _mm512_load_si512(codes + interleaved_plane_offset(hb, ch));
            const int shift = 4 - interleaved_plane_shift(hb, ch);
            const __m512i moved = shift > 0   ? _mm512_slli_epi16(h, shift)
                                  : shift < 0 ? _mm512_srli_epi16(h, -shift)
                                              : h;
            c[ch] = _mm512_or_si512(c[ch], _mm512_and_si512(moved, mask));
          }
        }
      } else {
        for (int ch = 0; ch < 8; ++ch) c[ch] = _mm512_load_si512(codes + 64 * ch);
      }
      // Each row's scale (two, one per 16, for q6_K) and min for the block, as the reference
      // dequantizer computes them: exact f32 values (interleaved_scale and interleaved_min).
      __m512 sc0, sc1, mn;
      if constexpr (S::k_scales) {
        if constexpr (S::min) {  // q4_K, q5_K: unsigned scales and mins, min = -(dmin * mn)
          sc0 = _mm512_mul_ps(load_u8(scales), d);
          mn = _mm512_mul_ps(load_u8(mins), neg_dmin);
        } else {  // q6_K: signed scales, one per 16
          sc0 = _mm512_mul_ps(load_i8(scales), d);
          sc1 = _mm512_mul_ps(load_i8(scales + kInterleaveRows), d);
        }
      } else {
        sc0 = load_f16(scales);
        if constexpr (S::min) mn = load_f16(mins);
      }
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        const BlockQ8A& x = a.xq[t * a.xq_stride + b];
        const int32_t* s = a.xs + t * a.xs_stride + 2 * b;
        if constexpr (S::spb == 1) {
          // The types with a min have no offset (interleaved_format): their sums start at 0,
          // without a broadcast per token and block.
          __m512i i = S::min ? _mm512_setzero_si512() : _mm512_set1_epi32(-offset * (s[0] + s[1]));
          if constexpr (NT >= 4) {
            // One chain per token: the tile's tokens are enough independent chains to hide
            // VPDPBUSD's latency, and the add joining two would be one more op in eight.
            for (int ch = 0; ch < 8; ++ch) i = _mm512_dpbusd_epi32(i, c[ch], bcast4(x.qs + 4 * ch));
          } else {
            // Two chains of four: a decode step (one token) waits on VPDPBUSD's latency otherwise.
            // Integer sums, so the split changes no bit.
            __m512i j = _mm512_setzero_si512();
            for (int ch = 0; ch < 4; ++ch) {
              i = _mm512_dpbusd_epi32(i, c[ch], bcast4(x.qs + 4 * ch));
              j = _mm512_dpbusd_epi32(j, c[ch + 4], bcast4(x.qs + 16 + 4 * ch));
            }
            i = _mm512_add_epi32(i, j);
          }
          acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(sc0, _mm512_set1_ps(x.d)),
                                   acc[t]);
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
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(a.y + t * a.y_stride, acc[t]);
}

#else  // the portable reference: the same steps, one lane at a time

template <int NT, class S>
void tile(const TileArgs& a) {
  const InterleavedMatrix& m = *a.m;
  const int offset = m.format.offset;
  for (int t = 0; t < NT; ++t) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      float acc = 0.f;
      for (int64_t b = 0; b < m.nb; ++b) {
        const BlockQ8A& x = a.xq[t * a.xq_stride + b];
        const int32_t* s = a.xs + t * a.xs_stride + 2 * b;
        int32_t i[2] = {-offset * s[0], -offset * s[1]};
        for (int e = 0; e < kQK; ++e) i[e / 16] += interleaved_code(m, a.group, b, r, e) * x.qs[e];
        const float sc0 = interleaved_scale(m, a.group, b, 0, r);
        if constexpr (S::spb == 1) {
          const int32_t whole = i[0] + i[1];
          acc = std::fma(static_cast<float>(whole), sc0 * x.d, acc);
          if constexpr (S::min) acc = std::fma(interleaved_min(m, a.group, b, r), x.s, acc);
        } else {
          const float sc1 = interleaved_scale(m, a.group, b, 1, r);
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

// The types with f16 scales (q4_0, q4_1, q5_0, q5_1, q8_0), in units of UnitBlocks blocks: 2,
// or 1 for rows of an odd number of blocks.
template <int UnitBlocks>
void run_f16_scaled(const InterleavedFormat& f, const TileArgs& a, int T) {
  if (!f.nibbles) return run_tiles<Shape<false, 1, false, false, UnitBlocks>>(a, T);  // q8_0
  if (f.high_bits == 0)
    return f.has_min ? run_tiles<Shape<true, 1, true, false, UnitBlocks>>(a, T)     // q4_1
                     : run_tiles<Shape<true, 1, false, false, UnitBlocks>>(a, T);   // q4_0
  return f.has_min ? run_tiles<Shape<true, 1, true, false, UnitBlocks, 1>>(a, T)    // q5_1
                   : run_tiles<Shape<true, 1, false, false, UnitBlocks, 1>>(a, T);  // q5_0
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
  // Shape<nibbles, scales per block, min, k_scales, unit blocks, high bits>, one per format
  // (interleaved_format).
  const InterleavedFormat& f = m.format;
  if (f.k_scales) {
    if (f.scales_per_block == 2) return run_tiles<Shape<true, 2, false, true, 8, 2>>(a, T);  // q6_K
    return f.high_bits == 0 ? run_tiles<Shape<true, 1, true, true>>(a, T)                    // q4_K
                            : run_tiles<Shape<true, 1, true, true, 8, 1>>(a, T);             // q5_K
  }
  return m.unit_shift == 1 ? run_f16_scaled<2>(f, a, T) : run_f16_scaled<1>(f, a, T);
}

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
