// What the CPU backend stores K and V in. f16 halves the memory per token (twice the tokens in
// the same --kv-cache-mb) and the bytes attention reads; f32 is the exact reference. The CUDA
// backend always keeps f16.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace precis::engine {

enum class KvCacheDtype { f16, f32 };

inline std::optional<KvCacheDtype> parse_kv_cache_dtype(std::string_view name) {
  if (name == "f16") return KvCacheDtype::f16;
  if (name == "f32") return KvCacheDtype::f32;
  return std::nullopt;
}

inline const char* kv_cache_dtype_name(KvCacheDtype d) {
  return d == KvCacheDtype::f16 ? "f16" : "f32";
}

inline size_t kv_cache_dtype_bytes(KvCacheDtype d) {
  return d == KvCacheDtype::f16 ? 2 : 4;
}

}  // namespace precis::engine
