// The f16 KV cache kernels behind cpu_kv_kernels.hpp, compiled once per instruction-set variant
// (isa_variant.hpp) into cpu::PRECIS_ISA_NS, like cpu_kernels.cpp, whose kernel_table() lists them.
#include "engine/cpu_kv_kernels.hpp"

#include "engine/dtype.hpp"

// Last (through isa_variant.hpp): the variant's instruction set applies to what follows.
#include "engine/quant_simd.hpp"

namespace precis::engine::cpu::PRECIS_ISA_NS {

#ifdef PRECIS_SIMD_AVX2
namespace {
inline __m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// kLanesF halves as f32.
#ifdef PRECIS_SIMD_AVX512VNNI
inline __m512 load_lanes(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
#else
inline __m256 load_lanes(const uint16_t* p) {
  return load8(p);
}
#endif
}  // namespace
#endif

void store_f16(const float* x, uint16_t* out, int n) {
  int i = 0;
#ifdef PRECIS_SIMD_AVX2
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
  for (; i < n; ++i) out[i] = f32_to_f16(x[i]);
}

namespace {
PRECIS_KERNEL_INLINE float dot_f16_one(const float* q, const uint16_t* k, int n) {
  int i = 0;
  float sum = 0.f;
#ifdef PRECIS_SIMD_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(k + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load8(k + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(k + i), acc0);
  sum = quant_impl::PRECIS_ISA_NS::hsum(_mm256_add_ps(acc0, acc1));
#endif
  for (; i < n; ++i) sum += q[i] * f16_to_f32(k[i]);
  return sum;
}

PRECIS_KERNEL_INLINE void axpy_f16_one(float a, const uint16_t* x, float* y, int n) {
  int i = 0;
#ifdef PRECIS_SIMD_AVX2
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load8(x + i), _mm256_loadu_ps(y + i)));
#endif
  for (; i < n; ++i) y[i] += a * f16_to_f32(x[i]);
}
}  // namespace

float dot_f16(const float* q, const uint16_t* k, int n) {
  return dot_f16_one(q, k, n);
}

void axpy_f16(float a, const uint16_t* x, float* y, int n) {
  axpy_f16_one(a, x, y, n);
}

void dot_f16_rows(const float* q, const uint16_t* k, int rows, int n, float* out) {
  for (int r = 0; r < rows; ++r) out[r] = dot_f16_one(q, k + static_cast<size_t>(r) * n, n);
}

void axpy_f16_rows(const float* a, const uint16_t* v, int rows, int n, float* y) {
  int i = 0;
#ifdef PRECIS_SIMD_AVX2
  // Four registers of y stay in registers across all the rows instead of a load and a store per
  // row. Each element still takes y = fma(a[r], v[r][i], y) for r in order: axpy_f16's bits.
  using quant_impl::PRECIS_ISA_NS::kLanesF;
  using quant_impl::PRECIS_ISA_NS::vec_fmadd;
  using quant_impl::PRECIS_ISA_NS::vec_load;
  using quant_impl::PRECIS_ISA_NS::vec_store;
  using quant_impl::PRECIS_ISA_NS::VecF;
  constexpr int kSpan = 4 * kLanesF;
  for (; i + kSpan <= n; i += kSpan) {
    VecF acc[4];
    for (int k = 0; k < 4; ++k) acc[k] = vec_load(y + i + k * kLanesF);
    for (int r = 0; r < rows; ++r) {
      const uint16_t* vr = v + static_cast<size_t>(r) * n + i;
      for (int k = 0; k < 4; ++k) acc[k] = vec_fmadd(a[r], load_lanes(vr + k * kLanesF), acc[k]);
    }
    for (int k = 0; k < 4; ++k) vec_store(y + i + k * kLanesF, acc[k]);
  }
  if (i == n) return;
#endif
  for (int r = 0; r < rows; ++r)
    axpy_f16_one(a[r], v + static_cast<size_t>(r) * n + i, y + i, n - i);
}

}  // namespace precis::engine::cpu::PRECIS_ISA_NS
