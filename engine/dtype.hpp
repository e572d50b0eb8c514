// Element types of stored weights and their conversion to f32.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace precis::engine {

enum class DType { F32, F16, BF16 };

inline size_t dtype_size(DType t) {
  return t == DType::F32 ? 4 : 2;
}

// Names as safetensors spells them ("F32", "F16", "BF16").
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_safetensors(std::string_view name);
// Names as the command line spells them ("f32", "f16", "bf16").
std::optional<DType> dtype_from_cli(std::string_view name);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as PyTorch does.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace precis::engine
