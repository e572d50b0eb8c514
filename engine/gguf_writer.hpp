// Writing GGUF v3 files in the layout llama.cpp and the Python `gguf` package write and expect:
// header, metadata in the order keys were first set, tensor infos in the order tensors were
// added, zero padding to the alignment, then each tensor's bytes padded to the alignment. The
// alignment is general.alignment when the caller sets it (a uint32 power of two), else 32.
//
// Used by the tests (GGUF fixtures made in code) and by `precis quantize`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/ggml_type.hpp"
#include "engine/gguf.hpp"

namespace precis::engine {

class GgufWriter {
 public:
  // Sets a metadata value; setting a key again replaces the value but keeps its first place.
  // general.alignment must be a uint32 power of two (std::invalid_argument otherwise): llama.cpp
  // reads it as exactly that. Arrays may be empty or nested (note: llama.cpp's loader refuses
  // nested arrays; the Python gguf package and GgufFile read them).
  void set(const std::string& key, GgufValue value);
  void set_string(const std::string& key, std::string v) { set(key, std::move(v)); }
  void set_u32(const std::string& key, uint32_t v) { set(key, v); }
  void set_i32(const std::string& key, int32_t v) { set(key, v); }
  void set_u64(const std::string& key, uint64_t v) { set(key, v); }
  void set_i64(const std::string& key, int64_t v) { set(key, v); }
  void set_f32(const std::string& key, float v) { set(key, v); }
  void set_f64(const std::string& key, double v) { set(key, v); }
  void set_bool(const std::string& key, bool v) { set(key, v); }
  void set_array(const std::string& key, GgufArray v) { set(key, std::move(v)); }
  void set_string_array(const std::string& key, std::vector<std::string> v);
  void set_f32_array(const std::string& key, std::vector<float> v);
  void set_i32_array(const std::string& key, std::vector<int32_t> v);

  // Adds a tensor: `dims` in GGUF order (dims[0] is the row length, a multiple of the type's
  // block size), 1 to 4 of them, each >= 1; `bytes` exactly ggml_row_bytes(type, dims[0]) x
  // rows. The name must be new and shorter than 64 bytes (ggml's GGML_MAX_NAME). Throws
  // std::invalid_argument naming the tensor otherwise.
  void add_tensor(const std::string& name, std::vector<int64_t> dims, GgmlType type,
                  std::vector<std::byte> bytes);
  void add_tensor(const std::string& name, std::vector<int64_t> dims, GgmlType type,
                  const void* data, size_t nbytes);

  uint32_t alignment() const;

  // The whole file, in memory.
  std::string to_bytes() const;
  // Streams the file to `path` (through `path`.partial, renamed at the end, so a failed write
  // never leaves a half file under the final name). Throws std::runtime_error on I/O errors.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    GgmlType type;
    std::vector<std::byte> bytes;
  };
  // Everything before the first tensor's bytes: header, metadata, tensor infos, padding.
  std::string head() const;

  std::vector<std::string> keys_;
  std::unordered_map<std::string, GgufValue> values_;
  std::vector<Tensor> tensors_;
};

}  // namespace precis::engine
