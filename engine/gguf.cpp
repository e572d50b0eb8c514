#include "engine/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "engine/load_error.hpp"

namespace precis::engine {

// Numbers are copied out of the file with memcpy, which is only right on a little-endian host
// (every machine this project targets).
static_assert(std::endian::native == std::endian::little, "GGUF reader assumes little-endian");

namespace {

constexpr uint32_t kMaxDims = 4;
// Nested arrays are parsed recursively and each level costs a file only 12 bytes, so without a
// limit a small crafted file could exhaust the stack. Real files nest at most once.
constexpr int kMaxArrayDepth = 16;
constexpr uint32_t kLastValueType = static_cast<uint32_t>(GgufType::FLOAT64);
// The smallest metadata entry (empty key, type, one-byte value) and tensor info (empty name,
// n_dims, one dim, type, offset): bounds for the header's counts before anything is reserved.
constexpr uint64_t kMinEntryBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;

std::string errno_text() {
  return std::strerror(errno);
}

// Reads the file front to back. Every read checks the bytes left first, so no input can make
// the parser touch memory outside [data, data + size); a short read is a LoadError naming
// `where` (the key or tensor being read).
class Cursor {
 public:
  Cursor(const std::string& file, const std::byte* data, size_t size)
      : file_(file), data_(data), size_(size) {}

  const std::string& file() const { return file_; }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const std::string& where) const {
    if (n > remaining())
      throw LoadError(file_, where + ": truncated: needs " + std::to_string(n) +
                                 " bytes at offset " + std::to_string(pos_) + ", only " +
                                 std::to_string(remaining()) + " left in the file");
  }

  template <class T>
  T read(const std::string& where) {
    need(sizeof(T), where);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // `n` elements in one copy; n * sizeof(T) must not overflow (callers bound n by remaining()).
  template <class T>
  std::vector<T> read_vector(uint64_t n, const std::string& where) {
    need(n * sizeof(T), where);
    std::vector<T> v(n);
    if (n > 0) std::memcpy(v.data(), data_ + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return v;
  }

  std::string read_string(const std::string& where) {
    const uint64_t n = read<uint64_t>(where);
    if (n > remaining())
      throw LoadError(file_, where + ": truncated: string length " + std::to_string(n) +
                                 " at offset " + std::to_string(pos_ - 8) + ", only " +
                                 std::to_string(remaining()) + " bytes left in the file");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const std::string& file_;
  const std::byte* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// Calls f(std::integral_constant<size_t, I>) for the I equal to `type`, so one generic lambda
// can handle every value type with the C++ type of that variant alternative.
template <class F, size_t... I>
void dispatch_type(GgufType type, F&& f, std::index_sequence<I...>) {
  const auto t = static_cast<size_t>(type);
  ((t == I ? (f(std::integral_constant<size_t, I>{}), 0) : 0), ...);
}
template <class F>
void dispatch_type(GgufType type, F&& f) {
  dispatch_type(type, std::forward<F>(f), std::make_index_sequence<kLastValueType + 1>{});
}

// Bytes of the smallest encoding of one value of `t`.
uint64_t min_encoded_size(GgufType t) {
  switch (t) {
    case GgufType::UINT16:
    case GgufType::INT16:
      return 2;
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::FLOAT32:
      return 4;
    case GgufType::UINT64:
    case GgufType::INT64:
    case GgufType::FLOAT64:
    case GgufType::STRING:  // its length
      return 8;
    case GgufType::ARRAY:  // element type and length
      return 12;
    default:
      return 1;
  }
}

GgufType read_value_type(Cursor& c, const std::string& where, const char* what) {
  const uint32_t id = c.read<uint32_t>(where);
  if (id > kLastValueType)
    throw LoadError(c.file(), where + ": unknown " + what + " type " + std::to_string(id));
  return static_cast<GgufType>(id);
}

GgufArray read_array(Cursor& c, const std::string& where, int depth);

// `n` elements of the array alternative I, n already checked against the bytes left.
template <size_t I>
void read_array_items(Cursor& c, uint64_t n, GgufArray& a, const std::string& where, int depth) {
  using Vec = std::variant_alternative_t<I, decltype(GgufArray::items)>;
  using T = typename Vec::value_type;
  if constexpr (std::is_same_v<T, bool>) {
    // Read as bytes: copying a byte other than 0 or 1 into a bool is undefined behaviour.
    const std::vector<uint8_t> raw = c.read_vector<uint8_t>(n, where);
    a.items.emplace<I>(raw.begin(), raw.end());
  } else if constexpr (std::is_arithmetic_v<T>) {
    a.items.emplace<I>(c.read_vector<T>(n, where));
  } else {
    Vec& v = a.items.emplace<I>();
    // Nested arrays grow as they are read instead: reserving at every level of a nest, each
    // bounded only by the bytes left, could claim several times the file size at once.
    if constexpr (std::is_same_v<T, std::string>) v.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, std::string>)
        v.push_back(c.read_string(where));
      else
        v.push_back(read_array(c, where, depth + 1));
    }
  }
}

GgufArray read_array(Cursor& c, const std::string& where, int depth) {
  if (depth > kMaxArrayDepth)
    throw LoadError(
        c.file(), where + ": arrays nested more than " + std::to_string(kMaxArrayDepth) + " deep");
  const GgufType t = read_value_type(c, where, "array element");
  const uint64_t n = c.read<uint64_t>(where);
  // Checked before anything is allocated: a crafted length of 2^60 must fail here, not in new.
  if (n > c.remaining() / min_encoded_size(t))
    throw LoadError(c.file(), where + ": truncated or corrupt: array of " + std::to_string(n) +
                                  " " + gguf_type_name(t) + " needs more than the " +
                                  std::to_string(c.remaining()) + " bytes left in the file");
  GgufArray a;
  dispatch_type(t, [&](auto I) { read_array_items<decltype(I)::value>(c, n, a, where, depth); });
  return a;
}

GgufValue read_value(Cursor& c, GgufType t, const std::string& where) {
  GgufValue v;
  dispatch_type(t, [&](auto I) {
    constexpr size_t i = decltype(I)::value;
    using T = std::variant_alternative_t<i, GgufValue>;
    if constexpr (std::is_same_v<T, std::string>)
      v.emplace<i>(c.read_string(where));
    else if constexpr (std::is_same_v<T, GgufArray>)
      v.emplace<i>(read_array(c, where, 1));
    else if constexpr (std::is_same_v<T, bool>)
      v.emplace<i>(c.read<uint8_t>(where) != 0);  // any non-zero byte is true
    else
      v.emplace<i>(c.read<T>(where));
  });
  return v;
}

// A key or tensor name for a message, quoted; a crafted file's megabyte-long name is clipped so
// the message stays readable.
std::string quoted(const std::string& name) {
  constexpr size_t kMax = 120;
  return "'" + (name.size() <= kMax ? name : name.substr(0, kMax) + "...") + "'";
}

std::string key_where(const std::string& key) {
  return "metadata key " + quoted(key);
}

std::string tensor_where(const std::string& name) {
  return "tensor " + quoted(name);
}

// ---- integer and float conversions for the typed getters ------------------------------------

// An integer value widened without loss: non-negative values in `u`, negative ones in `i`.
struct WideInt {
  bool negative = false;
  uint64_t u = 0;
  int64_t i = 0;
  std::string text() const { return negative ? std::to_string(i) : std::to_string(u); }
};

template <class T>
std::optional<WideInt> widen(T x) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if constexpr (std::is_signed_v<T>)
      if (x < 0) return WideInt{true, 0, static_cast<int64_t>(x)};
    return WideInt{false, static_cast<uint64_t>(x), 0};
  } else {
    return std::nullopt;
  }
}

std::optional<WideInt> as_integer(const GgufValue& v) {
  return std::visit([](const auto& x) { return widen(x); }, v);
}

template <class T>
std::optional<T> narrow(const WideInt& w) {
  if (w.negative) {
    if constexpr (std::is_signed_v<T>)
      if (w.i >= std::numeric_limits<T>::min()) return static_cast<T>(w.i);
    return std::nullopt;
  }
  if (w.u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(w.u);
  return std::nullopt;
}

// A float64 as float32 when no value is lost (NaN and infinities included).
std::optional<float> exact_f32(double d) {
  if (std::isnan(d)) return static_cast<float>(d);
  // Converting a finite double beyond float's range is undefined, so check before the cast.
  if (std::isfinite(d) && std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max()))
    return std::nullopt;
  const float f = static_cast<float>(d);
  if (static_cast<double>(f) != d) return std::nullopt;
  return f;
}

[[noreturn]] void wrong_type(const std::string& file, const std::string& key, const char* want,
                             const GgufValue& v) {
  throw LoadError(file,
                  key_where(key) + ": expected " + want + ", found " + gguf_value_type_name(v));
}

template <class T>
T to_int(const std::string& file, const std::string& key, const GgufValue& v, const char* want) {
  const std::optional<WideInt> w = as_integer(v);
  if (!w) wrong_type(file, key, want, v);
  const std::optional<T> n = narrow<T>(*w);
  if (!n)
    throw LoadError(file, key_where(key) + ": value " + w->text() + " (" + gguf_value_type_name(v) +
                              ") does not fit " + want);
  return *n;
}

float to_f32(const std::string& file, const std::string& key, const GgufValue& v) {
  if (const float* f = std::get_if<float>(&v)) return *f;
  const double* d = std::get_if<double>(&v);
  if (!d) wrong_type(file, key, "float32", v);
  const std::optional<float> f = exact_f32(*d);
  if (!f)
    throw LoadError(file, key_where(key) + ": float64 value " + std::to_string(*d) +
                              " is not exactly representable as float32");
  return *f;
}

std::string array_type_name(const GgufArray& a) {
  std::string name = "array of " + gguf_type_name(a.type());
  if (const auto* nested = std::get_if<std::vector<GgufArray>>(&a.items))
    if (!nested->empty()) name = "array of " + array_type_name(nested->front());
  return name;
}

// Bytes of a tensor of `type` with `dims` (dims[0] a multiple of the block size), or nullopt
// when the element count or byte size overflows 64 bits.
std::optional<uint64_t> tensor_bytes(const GgmlTypeInfo& info, const std::vector<int64_t>& dims) {
  const auto row_len = static_cast<uint64_t>(dims[0]);
  uint64_t rows = 1;
  for (size_t d = 1; d < dims.size(); ++d)
    if (__builtin_mul_overflow(rows, static_cast<uint64_t>(dims[d]), &rows)) return std::nullopt;
  uint64_t numel = 0;
  if (__builtin_mul_overflow(row_len, rows, &numel) ||
      numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return std::nullopt;
  // ggml_row_bytes multiplies blocks by block_bytes unchecked; a dims[0] near 2^63 would wrap.
  if (row_len / info.block_elems > std::numeric_limits<uint64_t>::max() / info.block_bytes)
    return std::nullopt;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(*ggml_row_bytes(info.type, row_len), rows, &bytes))
    return std::nullopt;
  return bytes;
}

// One tensor info record, everything but its placement in the data section.
GgufTensor read_tensor_info(Cursor& c, uint64_t index) {
  GgufTensor t;
  t.name = c.read_string("tensor info " + std::to_string(index) + " (name)");
  const std::string where = tensor_where(t.name);
  const uint32_t n_dims = c.read<uint32_t>(where);
  if (n_dims == 0 || n_dims > kMaxDims)
    throw LoadError(c.file(), where + ": " + std::to_string(n_dims) + " dimensions (must be 1 to " +
                                  std::to_string(kMaxDims) + ")");
  for (uint32_t d = 0; d < n_dims; ++d) {
    // ggml stores dims as int64; a u64 past INT64_MAX is a negative dim there.
    const auto dim = static_cast<int64_t>(c.read<uint64_t>(where));
    if (dim <= 0)
      throw LoadError(c.file(), where + ": dimension " + std::to_string(d) + " is " +
                                    std::to_string(dim) + " (must be at least 1)");
    t.dims.push_back(dim);
  }
  const uint32_t type_id = c.read<uint32_t>(where);
  const std::optional<GgmlTypeInfo> info = ggml_type_info(type_id);
  if (!info) throw LoadError(c.file(), where + ": unknown ggml type id " + std::to_string(type_id));
  t.type = info->type;
  t.offset = c.read<uint64_t>(where);

  if (static_cast<uint64_t>(t.dims[0]) % info->block_elems != 0)
    throw LoadError(c.file(), where + ": row length " + std::to_string(t.dims[0]) +
                                  " is not a multiple of " + std::string(info->name) +
                                  "'s block size " + std::to_string(info->block_elems));
  const std::optional<uint64_t> bytes = tensor_bytes(*info, t.dims);
  if (!bytes) throw LoadError(c.file(), where + ": dimensions too large (size overflows)");
  t.nbytes = *bytes;
  return t;
}

}  // namespace

// ---- free functions ----------------------------------------------------------------------------

std::string gguf_type_name(uint32_t id) {
  static const char* const kNames[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                       "int32",  "float32", "bool",   "string", "array",
                                       "uint64", "int64",   "float64"};
  if (id <= kLastValueType) return kNames[id];
  return "type " + std::to_string(id);
}

std::string gguf_value_type_name(const GgufValue& v) {
  if (const auto* a = std::get_if<GgufArray>(&v)) return array_type_name(*a);
  return gguf_type_name(gguf_type(v));
}

size_t GgufArray::size() const {
  return std::visit([](const auto& v) { return v.size(); }, items);
}

uint64_t GgufTensor::numel() const {
  uint64_t n = 1;
  for (int64_t d : dims) n *= static_cast<uint64_t>(d);
  return n;
}

// ---- GgufFile: opening and parsing ---------------------------------------------------------

GgufFile::GgufFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw LoadError(path, "cannot open: " + errno_text());
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const std::string err = errno_text();
    ::close(fd);
    throw LoadError(path, "cannot stat: " + err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw LoadError(path, "not a regular file");
  }
  const auto size = static_cast<size_t>(st.st_size);
  // mmap refuses a length of 0; an empty file is left to parse() to report as truncated.
  if (size > 0) {
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const std::string map_err = m == MAP_FAILED ? errno_text() : "";
    ::close(fd);  // the mapping keeps the file alive
    if (m == MAP_FAILED) throw LoadError(path, "cannot mmap: " + map_err);
    map_ = m;
    map_size_ = size;
  } else {
    ::close(fd);
  }
  base_ = static_cast<const std::byte*>(map_);
  size_ = size;
  try {
    parse();
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    if (map_) ::munmap(map_, map_size_);
    throw;
  }
}

GgufFile::GgufFile(const void* data, size_t size, std::string name)
    : path_(std::move(name)), base_(static_cast<const std::byte*>(data)), size_(size) {
  parse();
}

GgufFile::~GgufFile() {
  if (map_) ::munmap(map_, map_size_);
}

namespace {

uint32_t read_version(Cursor& c) {
  c.need(4, "header (magic)");
  char magic[4];
  for (char& m : magic) m = static_cast<char>(c.read<uint8_t>("header (magic)"));
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    static const char kHex[] = "0123456789abcdef";
    std::string found;
    for (char m : magic) {
      const auto b = static_cast<unsigned char>(m);
      found += std::string(found.empty() ? "" : " ") + kHex[b >> 4] + kHex[b & 15];
    }
    throw LoadError(c.file(), "header: bad magic: expected \"GGUF\" (47 47 55 46), found " + found +
                                  " (not a GGUF file)");
  }
  const uint32_t version = c.read<uint32_t>("header (version)");
  if (version == 2 || version == 3) return version;
  const std::string v = std::to_string(version);
  if (version == 1)
    throw LoadError(c.file(),
                    "header: unsupported GGUF version 1 (32-bit counts; convert the "
                    "model again with a current llama.cpp)");
  // A big-endian file (the only thing v3 added) reads here as a byte-swapped 2 or 3.
  const uint32_t swapped = __builtin_bswap32(version);
  if (swapped == 2 || swapped == 3)
    throw LoadError(c.file(), "header: unsupported GGUF version " + v +
                                  ": a big-endian file (only little-endian GGUF is read)");
  throw LoadError(c.file(), "header: unsupported GGUF version " + v + " (supported: 2, 3)");
}

// Refuses a count that could not fit in the bytes left even at `min_bytes` per item, before
// anything is reserved for it.
void check_count(const Cursor& c, uint64_t count, uint64_t min_bytes, const char* what) {
  if (count > c.remaining() / min_bytes)
    throw LoadError(c.file(), std::string("header: ") + what + " count " + std::to_string(count) +
                                  " needs at least " + std::to_string(min_bytes) +
                                  " bytes each, only " + std::to_string(c.remaining()) +
                                  " bytes left (truncated or corrupt)");
}

}  // namespace

void GgufFile::parse() {
  Cursor c(path_, base_, size_);
  version_ = read_version(c);
  const uint64_t tensor_count = c.read<uint64_t>("header (tensor count)");
  const uint64_t kv_count = c.read<uint64_t>("header (metadata count)");
  check_count(c, kv_count, kMinEntryBytes, "metadata");

  keys_.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    const std::string entry = "metadata entry " + std::to_string(i) +
                              (keys_.empty() ? "" : " (after " + quoted(keys_.back()) + ")") +
                              " key";
    std::string key = c.read_string(entry);
    const std::string where = key_where(key);
    if (has(key)) throw LoadError(path_, where + ": duplicate key");
    const GgufType type = read_value_type(c, where, "value");
    GgufValue value = read_value(c, type, where);
    keys_.push_back(key);
    values_.emplace(std::move(key), std::move(value));
  }
  set_alignment();

  check_count(c, tensor_count, kMinTensorInfoBytes, "tensor");
  tensors_.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensor t = read_tensor_info(c, i);
    if (!tensor_index_.emplace(t.name, tensors_.size()).second)
      throw LoadError(path_, tensor_where(t.name) + ": duplicate tensor name");
    tensors_.push_back(std::move(t));
  }
  place_tensors(c.pos());
}

void GgufFile::set_alignment() {
  const std::string key = "general.alignment";
  if (!has(key)) return;
  const uint32_t a = get_u32(key);
  if (a == 0 || (a & (a - 1)) != 0)
    throw LoadError(path_, key_where(key) + ": " + std::to_string(a) + " is not a power of two");
  alignment_ = a;
}

// The data section starts at the first aligned offset after the tensor infos. Tensors may
// overlap or leave gaps (only llama.cpp's own loader insists on its packed layout); each must be
// aligned and lie inside the file. A file without tensors may end before the padding.
void GgufFile::place_tensors(uint64_t infos_end) {
  data_offset_ = (infos_end + alignment_ - 1) / alignment_ * alignment_;
  for (GgufTensor& t : tensors_) {
    const std::string where = tensor_where(t.name);
    if (t.offset % alignment_ != 0)
      throw LoadError(path_, where + ": offset " + std::to_string(t.offset) +
                                 " is not a multiple of the alignment " +
                                 std::to_string(alignment_));
    const uint64_t data_size = size_ > data_offset_ ? size_ - data_offset_ : 0;
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      throw LoadError(path_, where + ": data (" + std::to_string(t.nbytes) + " bytes at offset " +
                                 std::to_string(t.offset) +
                                 " of the data section, which starts at " +
                                 std::to_string(data_offset_) + ") is outside the file (" +
                                 std::to_string(size_) + " bytes; truncated?)");
    t.data = base_ + data_offset_ + t.offset;
  }
}

// ---- GgufFile: lookups -------------------------------------------------------------------------

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw LoadError(path_, key_where(key) + ": missing");
  return *v;
}

const std::string& GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = get(key);
  const auto* s = std::get_if<std::string>(&v);
  if (!s) wrong_type(path_, key, "string", v);
  return *s;
}

uint32_t GgufFile::get_u32(const std::string& key) const {
  return to_int<uint32_t>(path_, key, get(key), "uint32");
}

uint64_t GgufFile::get_u64(const std::string& key) const {
  return to_int<uint64_t>(path_, key, get(key), "uint64");
}

int64_t GgufFile::get_i64(const std::string& key) const {
  return to_int<int64_t>(path_, key, get(key), "int64");
}

float GgufFile::get_f32(const std::string& key) const {
  return to_f32(path_, key, get(key));
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = get(key);
  const bool* b = std::get_if<bool>(&v);
  if (!b) wrong_type(path_, key, "bool", v);
  return *b;
}

const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = get(key);
  const auto* a = std::get_if<GgufArray>(&v);
  const auto* s = a ? std::get_if<std::vector<std::string>>(&a->items) : nullptr;
  if (!s) wrong_type(path_, key, "array of string", v);
  return *s;
}

std::vector<float> GgufFile::get_f32_array(const std::string& key) const {
  const GgufValue& v = get(key);
  const auto* a = std::get_if<GgufArray>(&v);
  if (!a) wrong_type(path_, key, "array of float32", v);
  if (const auto* f = std::get_if<std::vector<float>>(&a->items)) return *f;
  const auto* d = std::get_if<std::vector<double>>(&a->items);
  if (!d) wrong_type(path_, key, "array of float32", v);
  std::vector<float> out;
  out.reserve(d->size());
  for (size_t i = 0; i < d->size(); ++i) {
    const std::optional<float> f = exact_f32((*d)[i]);
    if (!f)
      throw LoadError(path_, key_where(key) + ": element " + std::to_string(i) +
                                 " is not exactly representable as float32");
    out.push_back(*f);
  }
  return out;
}

std::vector<int32_t> GgufFile::get_i32_array(const std::string& key) const {
  const GgufValue& v = get(key);
  const auto* a = std::get_if<GgufArray>(&v);
  if (!a) wrong_type(path_, key, "array of int32", v);
  std::vector<int32_t> out;
  bool integers = true;
  std::visit(
      [&](const auto& items) {
        using T = typename std::decay_t<decltype(items)>::value_type;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          out.reserve(items.size());
          for (size_t i = 0; i < items.size(); ++i) {
            const std::optional<int32_t> n = narrow<int32_t>(*widen(items[i]));
            if (!n)
              throw LoadError(path_, key_where(key) + ": element " + std::to_string(i) + " is " +
                                         widen(items[i])->text() + ", outside int32");
            out.push_back(*n);
          }
        } else {
          integers = false;
        }
      },
      a->items);
  if (!integers) wrong_type(path_, key, "array of int32", v);
  return out;
}

const std::string* GgufFile::find_string(const std::string& key) const {
  return has(key) ? &get_string(key) : nullptr;
}

std::optional<uint32_t> GgufFile::find_u32(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_u32(key);
}

std::optional<uint64_t> GgufFile::find_u64(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_u64(key);
}

std::optional<int64_t> GgufFile::find_i64(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_i64(key);
}

std::optional<float> GgufFile::find_f32(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_f32(key);
}

std::optional<bool> GgufFile::find_bool(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_bool(key);
}

const std::vector<std::string>* GgufFile::find_string_array(const std::string& key) const {
  return has(key) ? &get_string_array(key) : nullptr;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace precis::engine
