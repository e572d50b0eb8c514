#include "engine/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "engine/load_error.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace precis::engine {

namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// Parses one tensor's header entry; `data_size` bounds the offsets.
TensorView parse_tensor_entry(const std::string& path, const std::string& name, const json& e,
                              const std::byte* data, size_t data_size) {
  const std::string where = "tensor '" + name + "'";
  if (!e.is_object()) throw LoadError(path, where + ": header entry is not an object");

  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string())
    throw LoadError(path, where + ": field 'dtype' missing or not a string");
  const std::string dtype_str = dt->get<std::string>();
  auto dtype = dtype_from_safetensors(dtype_str);
  if (!dtype)
    throw LoadError(path,
                    where + ": unknown dtype '" + dtype_str + "' (supported: F32, F16, BF16)");

  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array())
    throw LoadError(path, where + ": field 'shape' missing or not an array");
  std::vector<int64_t> shape;
  // A product past 2^62 is far beyond any data section we could map, so saturating there is
  // enough to reject it without overflowing.
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : *sh) {
    // nlohmann stores non-negative integer literals as unsigned, so this also rejects negatives.
    if (!d.is_number_unsigned())
      throw LoadError(path, where + ": field 'shape' must be an array of non-negative integers");
    const uint64_t v = d.get<uint64_t>();
    if (v > (uint64_t{1} << 62)) throw LoadError(path, where + ": field 'shape' value too large");
    shape.push_back(static_cast<int64_t>(v));
    if (v != 0 && numel > (uint64_t{1} << 62) / v) overflow = true;
    numel = overflow ? (uint64_t{1} << 62) : numel * v;
  }

  auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    throw LoadError(path,
                    where + ": field 'data_offsets' must be [begin, end] of non-negative integers");
  const uint64_t begin = (*off)[0].get<uint64_t>();
  const uint64_t end = (*off)[1].get<uint64_t>();
  if (begin > end)
    throw LoadError(path, where + ": field 'data_offsets' has begin " + std::to_string(begin) +
                              " > end " + std::to_string(end));
  if (end > data_size)
    throw LoadError(path, where + ": field 'data_offsets' [" + std::to_string(begin) + ", " +
                              std::to_string(end) + "] is outside the data (" +
                              std::to_string(data_size) + " bytes)");
  const uint64_t expected =
      overflow ? std::numeric_limits<uint64_t>::max() : numel * dtype_size(*dtype);
  if (end - begin != expected)
    throw LoadError(path, where + ": byte size " + std::to_string(end - begin) +
                              " (field 'data_offsets') does not match shape x dtype (" +
                              (overflow ? std::string("overflow") : std::to_string(expected)) +
                              " bytes)");

  TensorView v;
  v.name = name;
  v.file = path;
  v.dtype = *dtype;
  v.shape = std::move(shape);
  v.data = data + begin;
  v.nbytes = end - begin;
  return v;
}

}  // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw LoadError(path, "cannot open: " + errno_text());
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    std::string err = errno_text();
    ::close(fd);
    throw LoadError(path, "cannot stat: " + err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw LoadError(path, "not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw LoadError(path, "truncated: " + std::to_string(size) +
                              " bytes, too short for the 8-byte header length");
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const std::string map_err = m == MAP_FAILED ? errno_text() : "";
  ::close(fd);  // the mapping keeps the file alive
  if (m == MAP_FAILED) throw LoadError(path, "cannot mmap: " + map_err);
  f->map_ = m;
  f->map_size_ = size;

  const auto* base = static_cast<const std::byte*>(m);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i)
    header_len |= static_cast<uint64_t>(std::to_integer<uint8_t>(base[i])) << (8 * i);
  if (header_len > size - 8)
    throw LoadError(path, "header length " + std::to_string(header_len) +
                              " is past the end of the file (" + std::to_string(size) + " bytes)");

  json header;
  try {
    const char* hb = reinterpret_cast<const char*>(base + 8);
    header = json::parse(hb, hb + header_len);
  } catch (const json::exception& e) {
    throw LoadError(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw LoadError(path, "header is not a JSON object");

  const std::byte* data = base + 8 + header_len;
  const size_t data_size = size - 8 - header_len;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    f->tensors_.emplace(name, parse_tensor_entry(path, name, entry, data, data_size));
  }

  // Overlap check: sort by begin, each must start at or after the previous end. Empty tensors
  // occupy no bytes and cannot overlap anything.
  std::vector<const TensorView*> order;
  for (const auto& [_, t] : f->tensors_)
    if (t.nbytes > 0) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorView* a, const TensorView* b) { return a->data < b->data; });
  for (size_t i = 1; i < order.size(); ++i) {
    const TensorView* prev = order[i - 1];
    if (order[i]->data < prev->data + prev->nbytes)
      throw LoadError(path, "tensor '" + order[i]->name +
                                "': field 'data_offsets' overlaps tensor '" + prev->name + "'");
  }
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

// ---------------------------------------------------------------------------------------------

WeightStore WeightStore::open_dir(const std::string& dir) {
  WeightStore ws;
  ws.dir_ = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw LoadError(dir, "not a directory");

  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(index_path, ec)) {
    const std::string ip = index_path.string();
    json index;
    try {
      std::ifstream in(ip, std::ios::binary);
      if (!in) throw LoadError(ip, "cannot open");
      index = json::parse(in);
    } catch (const json::exception& e) {
      throw LoadError(ip, std::string("not valid JSON: ") + e.what());
    }
    if (!index.is_object()) throw LoadError(ip, "not a JSON object");
    auto wm = index.find("weight_map");
    if (wm == index.end() || !wm->is_object())
      throw LoadError(ip, "field 'weight_map' missing or not an object");

    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    for (const auto& [tensor, shard] : wm->items()) {
      if (!shard.is_string())
        throw LoadError(ip, "field 'weight_map': entry for '" + tensor + "' is not a string");
      const std::string shard_name = shard.get<std::string>();
      // The index names files in the same directory; refuse anything that could escape it.
      if (shard_name.empty() || shard_name.find('/') != std::string::npos || shard_name == "..")
        throw LoadError(ip, "field 'weight_map': bad shard file name '" + shard_name + "'");
      auto it = shards.find(shard_name);
      if (it == shards.end()) {
        auto file = std::shared_ptr<SafetensorsFile>(
            SafetensorsFile::open((fs::path(dir) / shard_name).string()));
        it = shards.emplace(shard_name, file).first;
        ws.files_.push_back(file);
      }
      auto t = it->second->tensors().find(tensor);
      if (t == it->second->tensors().end())
        throw LoadError(ip, "missing tensor '" + tensor + "' in shard " + shard_name);
      ws.index_[tensor] = &t->second;
    }
    return ws;
  }

  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".safetensors" && e.is_regular_file()) files.push_back(e.path());
  }
  if (ec) throw LoadError(dir, "cannot list directory: " + ec.message());
  if (files.empty()) throw LoadError(dir, "no *.safetensors files in " + dir);
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    auto file = std::shared_ptr<SafetensorsFile>(SafetensorsFile::open(p.string()));
    ws.files_.push_back(file);
    for (const auto& [name, t] : file->tensors()) {
      auto [it, inserted] = ws.index_.emplace(name, &t);
      if (!inserted)
        throw LoadError(p.string(), "tensor '" + name + "' also appears in " + it->second->file);
    }
  }
  return ws;
}

const TensorView* WeightStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& WeightStore::get(const std::string& name) const {
  const TensorView* t = find(name);
  if (!t) throw LoadError(dir_, "missing tensor '" + name + "'");
  return *t;
}

// ---------------------------------------------------------------------------------------------

SafetensorsWriter::SafetensorsWriter(std::string path) : path_(std::move(path)) {}

void SafetensorsWriter::declare(const std::string& name, DType dtype, std::vector<int64_t> shape) {
  if (out_) throw std::runtime_error(path_ + ": declare('" + name + "') after begin_data()");
  size_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument(path_ + ": tensor '" + name + "': negative dimension");
    numel *= static_cast<size_t>(d);
  }
  const size_t n = numel * dtype_size(dtype);
  entries_.push_back({name, dtype, std::move(shape), total_, total_ + n});
  total_ += n;
}

void SafetensorsWriter::begin_data() {
  // ordered_json keeps the declaration order, which is also the data order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  // What torch's save_file writes; transformers' from_pretrained refuses files without it.
  header["__metadata__"] = {{"format", "pt"}};
  for (const auto& e : entries_) {
    header[e.name] = {{"dtype", std::string(dtype_name(e.dtype))},
                      {"shape", e.shape},
                      {"data_offsets", {e.begin, e.end}}};
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the HF library does.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');

  out_ = std::fopen(path_.c_str(), "wb");
  if (!out_) throw std::runtime_error(path_ + ": cannot create: " + errno_text());
  unsigned char len[8];
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  if (std::fwrite(len, 1, 8, out_) != 8 ||
      std::fwrite(text.data(), 1, text.size(), out_) != text.size())
    throw std::runtime_error(path_ + ": write failed: " + errno_text());
}

void SafetensorsWriter::append(const void* bytes, size_t n) {
  if (!out_) throw std::runtime_error(path_ + ": append() before begin_data()");
  if (written_ + n > total_)
    throw std::runtime_error(path_ + ": more bytes appended than declared");
  if (n > 0 && std::fwrite(bytes, 1, n, out_) != n)
    throw std::runtime_error(path_ + ": write failed: " + errno_text());
  written_ += n;
}

SafetensorsWriter::~SafetensorsWriter() {
  // Only reached with out_ open when an exception abandoned the write.
  if (out_) std::fclose(out_);
}

void SafetensorsWriter::finish() {
  if (!out_) begin_data();
  std::FILE* f = out_;
  out_ = nullptr;
  const bool flushed = std::fflush(f) == 0;
  const std::string err = flushed ? "" : errno_text();
  const bool closed = std::fclose(f) == 0;
  if (!flushed || !closed)
    throw std::runtime_error(path_ + ": write failed: " + (flushed ? errno_text() : err));
  if (written_ != total_)
    throw std::runtime_error(path_ + ": " + std::to_string(written_) + " of " +
                             std::to_string(total_) + " declared bytes written");
}

}  // namespace precis::engine
