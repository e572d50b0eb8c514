// Tensor element types as GGUF files number them (ggml's `enum ggml_type`), with their block
// layout: a row of n elements takes n / block_elems blocks of block_bytes each. The GGUF reader
// uses this table to check every tensor's size; the quantized kernels (engine/quant*.hpp) say
// which of these types they can compute with.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace precis::engine {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;  // as llama.cpp prints it: "q4_K", "f16"
  uint32_t block_elems;   // elements per block (1 for plain types)
  uint32_t block_bytes;   // bytes per block
};

// The layout of a known type id; nullopt for an id no ggml version has defined.
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t id);
// Same for a typed value (always known).
GgmlTypeInfo ggml_type_info(GgmlType t);
// "q4_K", "f16", ...; "type 123" for an unknown id.
std::string ggml_type_name(uint32_t id);
// Bytes of `n` elements of `t`; nullopt when n is not a multiple of the block size.
std::optional<uint64_t> ggml_row_bytes(GgmlType t, uint64_t n);

}  // namespace precis::engine
