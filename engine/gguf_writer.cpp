#include "engine/gguf_writer.hpp"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <type_traits>

namespace precis::engine {

// Numbers are appended with memcpy, so the host order must be GGUF's (little-endian).
static_assert(std::endian::native == std::endian::little, "GGUF writer assumes little-endian");

namespace {

constexpr uint32_t kVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;
constexpr size_t kMaxNameBytes = 63;  // ggml's GGML_MAX_NAME (64) counts the terminating NUL
constexpr size_t kMaxDims = 4;
const std::string kAlignmentKey = "general.alignment";

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

void put_array(std::string& out, const GgufArray& a);

// The payload of one value, without its type id (arrays carry their element type inside).
template <class T>
void put_payload(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, std::string>)
    put_string(out, v);
  else if constexpr (std::is_same_v<T, GgufArray>)
    put_array(out, v);
  else if constexpr (std::is_same_v<T, bool>)
    put<uint8_t>(out, v ? 1 : 0);
  else
    put<T>(out, v);
}

// An array: element type, count, then the elements' payloads (a nested array's elements are
// arrays again, each with its own type and count, as gguf-py writes them).
void put_array(std::string& out, const GgufArray& a) {
  put<uint32_t>(out, static_cast<uint32_t>(a.type()));
  put<uint64_t>(out, a.size());
  std::visit(
      [&](const auto& items) {
        // Named element type: a std::vector<bool> element is a proxy, not a bool.
        using T = typename std::decay_t<decltype(items)>::value_type;
        for (const auto& x : items) put_payload<T>(out, x);
      },
      a.items);
}

void put_value(std::string& out, const GgufValue& v) {
  put<uint32_t>(out, static_cast<uint32_t>(gguf_type(v)));
  std::visit([&](const auto& x) { put_payload(out, x); }, v);
}

void pad_to(std::string& out, uint64_t alignment) {
  out.append((alignment - out.size() % alignment) % alignment, '\0');
}

uint64_t padded(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

[[noreturn]] void bad_tensor(const std::string& name, const std::string& what) {
  throw std::invalid_argument("GgufWriter: tensor '" + name + "': " + what);
}

// The byte size `dims` of `type` take; throws naming the tensor when they are not valid.
uint64_t checked_tensor_bytes(const std::string& name, const std::vector<int64_t>& dims,
                              GgmlType type) {
  if (dims.empty() || dims.size() > kMaxDims)
    bad_tensor(name, std::to_string(dims.size()) + " dimensions (must be 1 to 4)");
  uint64_t rows = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] <= 0) bad_tensor(name, "dimension " + std::to_string(d) + " is not positive");
    if (d > 0 && __builtin_mul_overflow(rows, static_cast<uint64_t>(dims[d]), &rows))
      bad_tensor(name, "dimensions too large");
  }
  const std::optional<uint64_t> row = ggml_row_bytes(type, static_cast<uint64_t>(dims[0]));
  if (!row)
    bad_tensor(name, "row length " + std::to_string(dims[0]) + " is not a multiple of " +
                         std::string(ggml_type_info(type).name) + "'s block size");
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(*row, rows, &bytes)) bad_tensor(name, "dimensions too large");
  return bytes;
}

void check_alignment_value(const GgufValue& v) {
  const auto* a = std::get_if<uint32_t>(&v);
  if (!a || *a == 0 || (*a & (*a - 1)) != 0)
    throw std::invalid_argument("GgufWriter: " + kAlignmentKey +
                                " must be a uint32 power of two, got " +
                                (a ? std::to_string(*a) : gguf_value_type_name(v)));
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key == kAlignmentKey) check_alignment_value(value);
  auto [it, inserted] = values_.insert_or_assign(key, std::move(value));
  if (inserted) keys_.push_back(key);
}

void GgufWriter::set_string_array(const std::string& key, std::vector<std::string> v) {
  set(key, GgufArray{std::move(v)});
}

void GgufWriter::set_f32_array(const std::string& key, std::vector<float> v) {
  set(key, GgufArray{std::move(v)});
}

void GgufWriter::set_i32_array(const std::string& key, std::vector<int32_t> v) {
  set(key, GgufArray{std::move(v)});
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> dims, GgmlType type,
                            std::vector<std::byte> bytes) {
  if (name.size() > kMaxNameBytes)
    bad_tensor(name, "name longer than " + std::to_string(kMaxNameBytes) + " bytes");
  for (const Tensor& t : tensors_)
    if (t.name == name) bad_tensor(name, "added twice");
  const uint64_t expected = checked_tensor_bytes(name, dims, type);
  if (bytes.size() != expected)
    bad_tensor(name, std::to_string(bytes.size()) + " bytes given, " +
                         std::string(ggml_type_info(type).name) + " with these dims takes " +
                         std::to_string(expected));
  tensors_.push_back({name, std::move(dims), type, std::move(bytes)});
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> dims, GgmlType type,
                            const void* data, size_t nbytes) {
  const auto* p = static_cast<const std::byte*>(data);
  add_tensor(name, std::move(dims), type, std::vector<std::byte>(p, p + nbytes));
}

uint32_t GgufWriter::alignment() const {
  auto it = values_.find(kAlignmentKey);
  return it == values_.end() ? kDefaultAlignment : std::get<uint32_t>(it->second);
}

std::string GgufWriter::head() const {
  const uint64_t align = alignment();
  std::string out = "GGUF";
  put<uint32_t>(out, kVersion);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, keys_.size());
  for (const std::string& key : keys_) {
    put_string(out, key);
    put_value(out, values_.at(key));
  }
  // Tensors are packed in order, each starting at an aligned offset of the data section.
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) put<uint64_t>(out, static_cast<uint64_t>(d));
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offset);
    offset += padded(t.bytes.size(), align);
  }
  pad_to(out, align);
  return out;
}

std::string GgufWriter::to_bytes() const {
  std::string out = head();
  for (const Tensor& t : tensors_) {
    out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
    pad_to(out, alignment());
  }
  return out;
}

void GgufWriter::write(const std::string& path) const {
  const std::string tmp = path + ".partial";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw std::runtime_error(tmp + ": cannot create: " + std::strerror(errno));
  const std::string zeros(alignment(), '\0');
  bool ok = true;
  auto put_bytes = [&](const void* p, size_t n) {
    ok = ok && (n == 0 || std::fwrite(p, 1, n, f) == n);
  };
  const std::string h = head();
  put_bytes(h.data(), h.size());
  for (const Tensor& t : tensors_) {
    put_bytes(t.bytes.data(), t.bytes.size());
    put_bytes(zeros.data(), padded(t.bytes.size(), alignment()) - t.bytes.size());
  }
  ok = std::fflush(f) == 0 && ok;
  const std::string err = ok ? "" : std::strerror(errno);
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = err.empty() ? std::strerror(errno) : err;
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": write failed: " + why);
  }
}

}  // namespace precis::engine
