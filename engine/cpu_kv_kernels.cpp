// The f16 KV cache kernels behind cpu_kv_kernels.hpp, compiled once per instruction-set variant
// (isa_variant.hpp) into cpu::PRECIS_ISA_NS, like cpu_kernels.cpp, whose kernel_table() lists them.
#include "engine/cpu_kv_kernels.hpp"

#include "engine/dtype.hpp"

// Last (through isa_variant.hpp): the variant's instruction set applies to what follows.
#include "engine/quant_simd.hpp"

namespace precis::engine::cpu::PRECIS_ISA_NS {

#ifdef PRECIS_SIMD_AVX2
namespace {
// The variant's f32 vectors (quant_simd.hpp): 16 lanes with AVX-512, 8 with AVX2.
using quant_impl::PRECIS_ISA_NS::kLanesF;
using quant_impl::PRECIS_ISA_NS::vec_add;
using quant_impl::PRECIS_ISA_NS::vec_fmadd;
using quant_impl::PRECIS_ISA_NS::vec_load;
using quant_impl::PRECIS_ISA_NS::vec_store;
using quant_impl::PRECIS_ISA_NS::vec_zero;
using quant_impl::PRECIS_ISA_NS::VecF;

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

void load_f16(const uint16_t* x, float* out, int n) {
  int i = 0;
#ifdef PRECIS_SIMD_AVX2
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load8(x + i));
#endif
  for (; i < n; ++i) out[i] = f16_to_f32(x[i]);
}

void transpose_f16_keys(const uint16_t* k, int rows, int n, float* kt) {
  for (int r = 0; r < rows; ++r) {
    const uint16_t* kr = k + static_cast<size_t>(r) * n;
    int d = 0;
#ifdef PRECIS_SIMD_AVX2
    alignas(32) float row8[8];
    for (; d + 8 <= n; d += 8) {
      _mm256_store_ps(row8, load8(kr + d));
      for (int i = 0; i < 8; ++i) kt[(d + i) * kKeyTile + r] = row8[i];
    }
#endif
    for (; d < n; ++d) kt[d * kKeyTile + r] = f16_to_f32(kr[d]);
  }
  for (int d = 0; d < n; ++d)
    for (int r = rows; r < kKeyTile; ++r) kt[d * kKeyTile + r] = 0.f;
}

void dot_f16_transposed(const float* q, int ldq, int M, const float* kt, int n, float* out,
                        int ldo) {
#ifdef PRECIS_SIMD_AVX2
  // dot_f16_one keeps element i of a dot in lane i % 16 of two 8-lane accumulators (a chain of
  // FMAs over i / 16), adds the two lane-wise, then reduces the 8 lanes with hsum's tree. Here
  // the keys are the lanes instead: A[i] holds residue i's chain for kLanesF keys at once, and the
  // same adds in the same order follow.
  for (int m = 0; m < M; ++m) {
    const float* qm = q + static_cast<size_t>(m) * ldq;
    for (int k0 = 0; k0 < kKeyTile; k0 += kLanesF) {
      VecF A[16];
      for (int i = 0; i < 16; ++i) A[i] = vec_zero();
      for (int c = 0; c < n; c += 16) {
        for (int i = 0; i < 16; ++i)
          A[i] = vec_fmadd(qm[c + i], vec_load(kt + (c + i) * kKeyTile + k0), A[i]);
      }
      VecF a[8];
      for (int l = 0; l < 8; ++l) a[l] = vec_add(A[l], A[l + 8]);  // acc0 + acc1
      // hsum: lanes l and l + 4, then (0 + 2) and (1 + 3), then those two.
      const VecF s0 = vec_add(a[0], a[4]), s1 = vec_add(a[1], a[5]);
      const VecF s2 = vec_add(a[2], a[6]), s3 = vec_add(a[3], a[7]);
      vec_store(out + static_cast<size_t>(m) * ldo + k0, vec_add(vec_add(s0, s2), vec_add(s1, s3)));
    }
  }
#else
  // dot_f16_one without SIMD: one sum, element by element.
  for (int m = 0; m < M; ++m) {
    const float* qm = q + static_cast<size_t>(m) * ldq;
    for (int r = 0; r < kKeyTile; ++r) {
      float sum = 0.f;
      for (int d = 0; d < n; ++d) sum += qm[d] * kt[d * kKeyTile + r];
      out[static_cast<size_t>(m) * ldo + r] = sum;
    }
  }
#endif
}

void axpy_f16_rows(const float* a, const uint16_t* v, int rows, int n, float* y) {
  int i = 0;
#ifdef PRECIS_SIMD_AVX2
  i = quant_impl::PRECIS_ISA_NS::axpy_vectors_rows(
      a, rows, n, y, [&](int r, int j) { return load_lanes(v + static_cast<size_t>(r) * n + j); });
  if (i == n) return;
#endif
  for (int r = 0; r < rows; ++r)
    axpy_f16_one(a[r], v + static_cast<size_t>(r) * n + i, y + i, n - i);
}

}  // namespace precis::engine::cpu::PRECIS_ISA_NS
