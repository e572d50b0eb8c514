// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors):
// 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw tensor bytes. Files are memory-mapped; tensors are views into the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <optional>
#include "engine/dtype.hpp"
#include "engine/ggml_type.hpp"

namespace precis::engine {

struct InterleavedMatrix;

struct TensorView {
  std::string name;
  std::string file;  // where it lives, for error messages
  DType dtype = DType::F32;
  // Set for ggml block-quantized weights (from GGUF): rows are blocks of this type, kept as
  // they are in the file; `dtype` is then meaningless. Unset: plain `dtype` elements.
  std::optional<GgmlType> quant;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;
  size_t nbytes = 0;
  // The same weights repacked for the CPU's interleaved 8-bit GEMM (interleaved_quant.hpp), set
  // by the CPU backend on its own copies of the views; it owns the repacked bytes.
  const InterleavedMatrix* cpu_interleaved = nullptr;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// One memory-mapped .safetensors file. Validates the whole header on open and throws LoadError
// naming the file and the offending field (truncated file, header length past the end, malformed
// JSON, unknown dtype, byte size that disagrees with shape x dtype, offsets outside the data
// section or overlapping another tensor).
class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorView> tensors_;
};

// All tensors of a model directory: either `model.safetensors.index.json` (weight_map naming the
// shard of each tensor) or every `*.safetensors` file in the directory.
class WeightStore {
 public:
  static WeightStore open_dir(const std::string& dir);

  // nullptr when absent.
  const TensorView* find(const std::string& name) const;
  // Throws LoadError("<dir>", "missing tensor '<name>'") when absent.
  const TensorView& get(const std::string& name) const;
  size_t size() const { return index_.size(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

// Streams tensors into a .safetensors file without holding them all in memory (a
// llama2-7b-shape model is 13 GB). Usage: declare every tensor, then write their bytes in the
// same order, then finish().
class SafetensorsWriter {
 public:
  explicit SafetensorsWriter(std::string path);
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;
  void declare(const std::string& name, DType dtype, std::vector<int64_t> shape);
  // Writes the header; after this, append() the bytes of each declared tensor in order.
  void begin_data();
  void append(const void* bytes, size_t n);
  void finish();  // checks every declared byte was written; throws std::runtime_error if not

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    size_t begin, end;
  };
  std::string path_;
  std::vector<Entry> entries_;
  size_t total_ = 0;
  size_t written_ = 0;
  std::FILE* out_ = nullptr;
};

}  // namespace precis::engine
