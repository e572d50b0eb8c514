// Dispatch of the quantized-type entry points, and the plain types (f32, f16, bf16) through the
// same interface.
#include "engine/quant.hpp"
#include "engine/quant_simd.hpp"

#include "engine/dtype.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

namespace precis::engine {
namespace {

using namespace quant_impl;

// ---- f32 / f16 / bf16 (a "block" is one element) --------------------------------------------

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

template <GgmlType T>
float dot_plain_scalar(const void* row, const float* x, int64_t n) {
  float s[4] = {0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) s[l] += plain_at<T>(row, i + l) * x[i + l];
  for (; i < n; ++i) s[0] += plain_at<T>(row, i) * x[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

#ifdef PRECIS_QUANT_AVX2
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
#endif

template <GgmlType T>
float dot_plain(const void* row, const float* x, int64_t n) {
#ifdef PRECIS_QUANT_AVX2
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
#else
  return dot_plain_scalar<T>(row, x, n);
#endif
}

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

// ---- dispatch ----------------------------------------------------------------------------------

// One type's kernels; the counts they take are in blocks of `block` elements.
struct Kernels {
  int block;
  void (*dequantize)(const void*, float*, int64_t);
  float (*dot)(const void*, const float*, int64_t);
  float (*dot_scalar)(const void*, const float*, int64_t);
  void (*quantize)(const float*, void*, int64_t);                 // null: not writable
  float (*dot_q8)(const void*, const BlockQ8A*, int64_t);         // null: plain type
  float (*dot_q8_scalar)(const void*, const BlockQ8A*, int64_t);  // null: plain type
};

template <GgmlType T>
constexpr Kernels kPlain = {
    1, dequantize_plain<T>, dot_plain<T>, dot_plain_scalar<T>, quantize_plain<T>, nullptr, nullptr};

constexpr Kernels kQ8_0 = {kQK,           dequantize_q8_0, dot_q8_0,          dot_q8_0_scalar,
                           quantize_q8_0, dot_q8_0_q8,     dot_q8_0_q8_scalar};
constexpr Kernels kQ4_0 = {kQK,           dequantize_q4_0, dot_q4_0,          dot_q4_0_scalar,
                           quantize_q4_0, dot_q4_0_q8,     dot_q4_0_q8_scalar};
constexpr Kernels kQ4_1 = {kQK,           dequantize_q4_1, dot_q4_1,          dot_q4_1_scalar,
                           quantize_q4_1, dot_q4_1_q8,     dot_q4_1_q8_scalar};
constexpr Kernels kQ5_0 = {kQK,           dequantize_q5_0, dot_q5_0,          dot_q5_0_scalar,
                           quantize_q5_0, dot_q5_0_q8,     dot_q5_0_q8_scalar};
constexpr Kernels kQ5_1 = {kQK,           dequantize_q5_1, dot_q5_1,          dot_q5_1_scalar,
                           quantize_q5_1, dot_q5_1_q8,     dot_q5_1_q8_scalar};
constexpr Kernels kQ4_K = {kQKK,    dequantize_q4_k, dot_q4_k,          dot_q4_k_scalar,
                           nullptr, dot_q4_k_q8,     dot_q4_k_q8_scalar};
constexpr Kernels kQ5_K = {kQKK,    dequantize_q5_k, dot_q5_k,          dot_q5_k_scalar,
                           nullptr, dot_q5_k_q8,     dot_q5_k_q8_scalar};
constexpr Kernels kQ6_K = {kQKK,    dequantize_q6_k, dot_q6_k,          dot_q6_k_scalar,
                           nullptr, dot_q6_k_q8,     dot_q6_k_q8_scalar};

const Kernels* find_kernels(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return &kPlain<GgmlType::F32>;
    case GgmlType::F16:
      return &kPlain<GgmlType::F16>;
    case GgmlType::BF16:
      return &kPlain<GgmlType::BF16>;
    case GgmlType::Q8_0:
      return &kQ8_0;
    case GgmlType::Q4_0:
      return &kQ4_0;
    case GgmlType::Q4_1:
      return &kQ4_1;
    case GgmlType::Q5_0:
      return &kQ5_0;
    case GgmlType::Q5_1:
      return &kQ5_1;
    case GgmlType::Q4_K:
      return &kQ4_K;
    case GgmlType::Q5_K:
      return &kQ5_K;
    case GgmlType::Q6_K:
      return &kQ6_K;
    default:
      return nullptr;
  }
}

[[noreturn]] void fail(const char* what, GgmlType t, int64_t n) {
  throw std::invalid_argument(std::string(what) + ": " + ggml_type_name(static_cast<uint32_t>(t)) +
                              " row of " + std::to_string(n) + " elements");
}

// The type's kernels and the row's block count; throws for an unsupported type or a bad n.
const Kernels& kernels(const char* what, GgmlType t, int64_t n, int64_t& nb) {
  const Kernels* k = find_kernels(t);
  if (!k) fail(what, t, n);
  if (n < 0 || n % k->block != 0) fail(what, t, n);
  nb = n / k->block;
  return *k;
}

}  // namespace

bool quant_supported(GgmlType t) {
  return find_kernels(t) != nullptr;
}

bool quantize_supported(GgmlType t) {
  const Kernels* k = find_kernels(t);
  return k && k->quantize;
}

uint64_t quant_row_bytes(GgmlType t, int64_t n) {
  const auto bytes = n < 0 ? std::nullopt : ggml_row_bytes(t, static_cast<uint64_t>(n));
  if (!bytes) fail("quant_row_bytes", t, n);
  return *bytes;
}

void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n) {
  int64_t nb;
  kernels("dequantize_row", t, n, nb).dequantize(src, dst, nb);
}

float dot_row(GgmlType t, const void* row, const float* x, int64_t n) {
  int64_t nb;
  return kernels("dot_row", t, n, nb).dot(row, x, nb);
}

float dot_row_scalar(GgmlType t, const void* row, const float* x, int64_t n) {
  int64_t nb;
  return kernels("dot_row_scalar", t, n, nb).dot_scalar(row, x, nb);
}

void quantize_row(GgmlType t, const float* src, void* dst, int64_t n) {
  int64_t nb;
  const Kernels& k = kernels("quantize_row", t, n, nb);
  if (!k.quantize) fail("quantize_row", t, n);
  k.quantize(src, dst, nb);
}

void quantize_activations(const float* x, void* xq, int64_t n) {
  if (n < 0 || n % kQK != 0) fail("quantize_activations", GgmlType::F32, n);
  quantize_activations_blocks(x, static_cast<BlockQ8A*>(xq), n / kQK);
}

float dot_row_q8(GgmlType t, const void* row, const void* xq, int64_t n) {
  int64_t nb;
  const Kernels& k = kernels("dot_row_q8", t, n, nb);
  if (!k.dot_q8) fail("dot_row_q8", t, n);
  return k.dot_q8(row, static_cast<const BlockQ8A*>(xq), nb);
}

float dot_row_q8_scalar(GgmlType t, const void* row, const void* xq, int64_t n) {
  int64_t nb;
  const Kernels& k = kernels("dot_row_q8_scalar", t, n, nb);
  if (!k.dot_q8_scalar) fail("dot_row_q8_scalar", t, n);
  return k.dot_q8_scalar(row, static_cast<const BlockQ8A*>(xq), nb);
}

}  // namespace precis::engine
