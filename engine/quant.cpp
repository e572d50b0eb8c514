// The quantized-type entry points (quant.hpp): argument checks, then the active instruction-set
// variant's kernels (kernel_table.hpp).
#include "engine/quant.hpp"

#include "engine/kernel_table.hpp"

#include <stdexcept>
#include <string>

namespace precis::engine {
namespace {

[[noreturn]] void fail(const char* what, GgmlType t, int64_t n) {
  throw std::invalid_argument(std::string(what) + ": " + ggml_type_name(static_cast<uint32_t>(t)) +
                              " row of " + std::to_string(n) + " elements");
}

// The type's kernels in `table` and the row's block count; throws for an unsupported type or a
// bad n.
const QuantKernels& kernels(const KernelTable& table, const char* what, GgmlType t, int64_t n,
                            int64_t& nb) {
  const QuantKernels* k = table.quant(t);
  if (!k) fail(what, t, n);
  if (n < 0 || n % k->block != 0) fail(what, t, n);
  nb = n / k->block;
  return *k;
}

// Which types have kernels is the same in every variant; the scalar one is always there.
const KernelTable& any_table() {
  return kernels_for(CpuIsa::scalar);
}

}  // namespace

bool quant_supported(GgmlType t) {
  return any_table().quant(t) != nullptr;
}

bool quantize_supported(GgmlType t) {
  const QuantKernels* k = any_table().quant(t);
  return k && k->quantize;
}

uint64_t quant_row_bytes(GgmlType t, int64_t n) {
  const auto bytes = n < 0 ? std::nullopt : ggml_row_bytes(t, static_cast<uint64_t>(n));
  if (!bytes) fail("quant_row_bytes", t, n);
  return *bytes;
}

void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n) {
  int64_t nb;
  kernels(active_kernels(), "dequantize_row", t, n, nb).dequantize(src, dst, nb);
}

float dot_row(GgmlType t, const void* row, const float* x, int64_t n) {
  int64_t nb;
  return kernels(active_kernels(), "dot_row", t, n, nb).dot(row, x, nb);
}

float dot_row_scalar(GgmlType t, const void* row, const float* x, int64_t n) {
  int64_t nb;
  return kernels(kernels_for(CpuIsa::scalar), "dot_row_scalar", t, n, nb).dot(row, x, nb);
}

void quantize_row(GgmlType t, const float* src, void* dst, int64_t n) {
  int64_t nb;
  const QuantKernels& k = kernels(active_kernels(), "quantize_row", t, n, nb);
  if (!k.quantize) fail("quantize_row", t, n);
  k.quantize(src, dst, nb);
}

void quantize_activations(const float* x, void* xq, int64_t n) {
  if (n < 0 || n % kQK != 0) fail("quantize_activations", GgmlType::F32, n);
  active_kernels().quantize_activations(x, static_cast<BlockQ8A*>(xq), n / kQK);
}

float dot_row_q8(GgmlType t, const void* row, const void* xq, int64_t n) {
  int64_t nb;
  const QuantKernels& k = kernels(active_kernels(), "dot_row_q8", t, n, nb);
  if (!k.dot_q8) fail("dot_row_q8", t, n);
  return k.dot_q8(row, static_cast<const BlockQ8A*>(xq), nb);
}

float dot_row_q8_scalar(GgmlType t, const void* row, const void* xq, int64_t n) {
  int64_t nb;
  const QuantKernels& k = kernels(kernels_for(CpuIsa::scalar), "dot_row_q8_scalar", t, n, nb);
  if (!k.dot_q8) fail("dot_row_q8_scalar", t, n);
  return k.dot_q8(row, static_cast<const BlockQ8A*>(xq), nb);
}

}  // namespace precis::engine
