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
inline __m256 i8x8_to_f32(const int8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// sum_i q[i] * x[i] over one block, as 8 lanes.
inline __m256 block_qx(const BlockQ8_0& b, const float* x) {
  __m256 s0 = _mm256_mul_ps(i8x8_to_f32(b.qs), _mm256_loadu_ps(x));
  __m256 s1 = _mm256_mul_ps(i8x8_to_f32(b.qs + 16), _mm256_loadu_ps(x + 16));
  s0 = _mm256_fmadd_ps(i8x8_to_f32(b.qs + 8), _mm256_loadu_ps(x + 8), s0);
  s1 = _mm256_fmadd_ps(i8x8_to_f32(b.qs + 24), _mm256_loadu_ps(x + 24), s1);
  return _mm256_add_ps(s0, s1);
}

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

float dot_q8_0(const void* row, const float* x, int64_t nb) {
#ifdef PRECIS_SIMD_AVX2
  const BlockQ8_0* b = blocks<BlockQ8_0>(row);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d)), block_qx(b[i], x + i * kQK), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i + 1].d)),
                           block_qx(b[i + 1], x + (i + 1) * kQK), acc1);
  }
  if (i < nb)
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d)), block_qx(b[i], x + i * kQK), acc0);
  return hsum(_mm256_add_ps(acc0, acc1));
#else
  return dot_q8_0_scalar(row, x, nb);
#endif
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

void quantize_activations_blocks(const float* x, BlockQ8A* xq, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK;
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      const int q = static_cast<int>(std::roundf(xb[j] * id));
      xq[i].qs[j] = static_cast<int8_t>(q);
      sum += q;
    }
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

float dot_q8_0_q8(const void* row, const BlockQ8A* xq, int64_t nb) {
#ifdef PRECIS_SIMD_AVX2
  const BlockQ8_0* b = blocks<BlockQ8_0>(row);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  auto block = [&](int64_t i, __m256 acc) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[i].qs));
    // |w| * (a with w's sign) = w * a, with the unsigned operand maddubs needs.
    const __m256i p = dot_u8_i8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    return _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * xq[i].d), _mm256_cvtepi32_ps(p), acc);
  };
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    acc0 = block(i, acc0);
    acc1 = block(i + 1, acc1);
  }
  if (i < nb) acc0 = block(i, acc0);
  return hsum(_mm256_add_ps(acc0, acc1));
#else
  return dot_q8_0_q8_scalar(row, xq, nb);
#endif
}

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
