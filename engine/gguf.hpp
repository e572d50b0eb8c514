// Reading GGUF files (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), versions 2 and 3
// (the same little-endian layout; v1 used 32-bit counts and is refused):
//
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x (string key | u32 value type | value)
//   tensor_count x (string name | u32 n_dims | n_dims x u64 dim | u32 ggml type | u64 offset)
//   padding to general.alignment (default 32) | data section (tensor offsets are relative to it)
//
// where a string is a u64 byte length and the bytes. The file is memory-mapped and validated
// completely on open; tensors are views into the mapping. Every problem is a LoadError naming
// the file and the metadata key or tensor concerned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "engine/ggml_type.hpp"

namespace precis::engine {

// Metadata value types, numbered as in the file.
enum class GgufType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

// "uint32", "string", ...; "type 99" for an unknown id.
std::string gguf_type_name(uint32_t id);
inline std::string gguf_type_name(GgufType t) {
  return gguf_type_name(static_cast<uint32_t>(t));
}

// An array value. Elements are stored as a typed vector rather than one variant each, so a
// large array costs what its elements cost (a 49,152-entry i32 array is 192 KB, not 2 MB). The
// alternatives are in GgufType order: `items.index()` is the element type.
struct GgufArray {
  std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>,
               std::vector<int16_t>, std::vector<uint32_t>, std::vector<int32_t>,
               std::vector<float>, std::vector<bool>, std::vector<std::string>,
               std::vector<GgufArray>, std::vector<uint64_t>, std::vector<int64_t>,
               std::vector<double>>
      items;

  GgufType type() const { return static_cast<GgufType>(items.index()); }
  size_t size() const;
  friend bool operator==(const GgufArray&, const GgufArray&) = default;
};

// One metadata value; the alternatives are in GgufType order, so `index()` is the type id.
// Plain C++ values convert implicitly: GgufValue(uint32_t{5}), GgufValue(std::string("x")).
using GgufValue = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, GgufArray, uint64_t, int64_t, double>;

inline GgufType gguf_type(const GgufValue& v) {
  return static_cast<GgufType>(v.index());
}
// "uint32", "array of string", "array of array of int32" (nested element types followed
// through the first element; "array of array" when it is empty).
std::string gguf_value_type_name(const GgufValue& v);

struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;  // GGUF order: dims[0] varies fastest (the row length); each >= 1
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;              // relative to the data section; a multiple of the alignment
  uint64_t nbytes = 0;              // ggml_row_bytes(type, dims[0]) x the number of rows
  const std::byte* data = nullptr;  // into the mapping (or the caller's buffer)

  uint64_t numel() const;
  uint64_t rows() const { return dims.empty() ? 0 : numel() / static_cast<uint64_t>(dims[0]); }
};

class GgufFile {
 public:
  // Maps `path` read-only and parses it.
  explicit GgufFile(const std::string& path);
  // Parses `size` bytes the caller owns and keeps alive (and unchanged) for the lifetime of this
  // object; `name` stands for the file in error messages. The mmap path ends up here too.
  GgufFile(const void* data, size_t size, std::string name);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Where the data section starts, from the start of the file (a multiple of alignment()).
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }

  // ---- metadata --------------------------------------------------------------------------
  // Keys in file order.
  const std::vector<std::string>& metadata_keys() const { return keys_; }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  // nullptr when the key is absent.
  const GgufValue* find(const std::string& key) const;
  // Throws LoadError naming the file and the key when it is absent.
  const GgufValue& get(const std::string& key) const;

  // Typed getters. Integers convert between widths and signedness when the value fits
  // (a uint8 reads as get_u32, a uint64 of 7 as get_i64); a float64 reads as get_f32 when it is
  // exactly representable. Anything else, and an absent key, throws LoadError naming the file
  // and the key.
  const std::string& get_string(const std::string& key) const;
  uint32_t get_u32(const std::string& key) const;
  uint64_t get_u64(const std::string& key) const;
  int64_t get_i64(const std::string& key) const;
  float get_f32(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  // Arrays (tokenizer.ggml.tokens / merges, scores, token_type). Strings must be an array of
  // string; get_f32_array takes float32 elements (and exact float64); get_i32_array any integer
  // elements that fit int32.
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  std::vector<float> get_f32_array(const std::string& key) const;
  std::vector<int32_t> get_i32_array(const std::string& key) const;

  // Optional versions: empty when the key is absent, but a key that is present with the wrong
  // type still throws (a present-but-broken value is a bad file, not a missing setting).
  const std::string* find_string(const std::string& key) const;
  std::optional<uint32_t> find_u32(const std::string& key) const;
  std::optional<uint64_t> find_u64(const std::string& key) const;
  std::optional<int64_t> find_i64(const std::string& key) const;
  std::optional<float> find_f32(const std::string& key) const;
  std::optional<bool> find_bool(const std::string& key) const;
  const std::vector<std::string>* find_string_array(const std::string& key) const;

  // ---- tensors ---------------------------------------------------------------------------
  // In file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  // nullptr when absent.
  const GgufTensor* find_tensor(const std::string& name) const;

 private:
  void parse();
  void set_alignment();
  void place_tensors(uint64_t infos_end);

  std::string path_;
  const std::byte* base_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;  // owned mapping when opened from a path
  size_t map_size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::string> keys_;
  std::unordered_map<std::string, GgufValue> values_;
  std::vector<GgufTensor> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace precis::engine
