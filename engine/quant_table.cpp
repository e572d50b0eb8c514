// f32, f16 and bf16 as row kernels (a "block" is one element), and every type's kernels in one
// table: the variant's KernelTable::quant (kernel_table.hpp).
#include "engine/dtype.hpp"

#include <cstring>

// Last (isa_variant.hpp): the variant's instruction set applies to what follows.
#include "engine/quant_kernels.hpp"
#include "engine/quant_simd.hpp"

namespace precis::engine::quant_impl::PRECIS_ISA_NS {
namespace {

// ---- f32 / f16 / bf16 -------------------------------------------------------------------------

template <GgmlType T>
inline float plain_at(const void* p, int64_t i) {
  if constexpr (T == GgmlType::F32) return static_cast<const float*>(p)[i];
  if constexpr (T == GgmlType::F16) return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
  return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
}

template <GgmlType T>
void dequantize_plain(const void* src, float* dst, int64_t n) {
  if constexpr (T == GgmlType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = plain_at<T>(src, i);
  }
}

#ifdef PRECIS_SIMD_AVX2
template <GgmlType T>
inline __m256 load8(const void* p, int64_t i) {
  if constexpr (T == GgmlType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  } else {
    const __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
    if constexpr (T == GgmlType::F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <GgmlType T>
float dot_plain(const void* row, const float* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(load8<T>(row, i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(load8<T>(row, i + 8), _mm256_loadu_ps(x + i + 8), acc1);
  }
  if (i + 8 <= n) {
    acc0 = _mm256_fmadd_ps(load8<T>(row, i), _mm256_loadu_ps(x + i), acc0);
    i += 8;
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += plain_at<T>(row, i) * x[i];
  return s;
}
#else
template <GgmlType T>
float dot_plain(const void* row, const float* x, int64_t n) {
  float s[4] = {0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) s[l] += plain_at<T>(row, i + l) * x[i + l];
  for (; i < n; ++i) s[0] += plain_at<T>(row, i) * x[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}
#endif

template <GgmlType T>
void quantize_plain(const float* src, void* dst, int64_t n) {
  if constexpr (T == GgmlType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  } else {
    uint16_t* out = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i)
      out[i] = T == GgmlType::F16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
  }
}

// ---- the table ---------------------------------------------------------------------------------

// The plain types give each token its own dot (one pass over the row per token, as before).
template <float (*Dot)(const void*, const float*, int64_t)>
void dot_tokens_each(const void* row, const float* x, int64_t x_stride, int nt, int64_t nb,
                     float* out, int64_t out_stride) {
  for (int t = 0; t < nt; ++t) out[t * out_stride] = Dot(row, x + t * x_stride, nb);
}

template <GgmlType T>
constexpr QuantKernels kPlain = {
    1,       dequantize_plain<T>,           dot_plain<T>, quantize_plain<T>,
    nullptr, dot_tokens_each<dot_plain<T>>, nullptr};

}  // namespace

const QuantKernels* find_kernels(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return &kPlain<GgmlType::F32>;
    case GgmlType::F16:
      return &kPlain<GgmlType::F16>;
    case GgmlType::BF16:
      return &kPlain<GgmlType::BF16>;
    case GgmlType::Q8_0:
      return &kQ8_0Kernels;
    case GgmlType::Q4_0:
      return &kQ4_0Kernels;
    case GgmlType::Q4_1:
      return &kQ4_1Kernels;
    case GgmlType::Q5_0:
      return &kQ5_0Kernels;
    case GgmlType::Q5_1:
      return &kQ5_1Kernels;
    case GgmlType::Q4_K:
      return &kQ4_KKernels;
    case GgmlType::Q5_K:
      return &kQ5_KKernels;
    case GgmlType::Q6_K:
      return &kQ6_KKernels;
    default:
      return nullptr;
  }
}

}  // namespace precis::engine::quant_impl::PRECIS_ISA_NS
