// GGUF reader and writer: writer -> reader round trips of every value type, the packed aligned
// layout, a hand-written v2 file, one test per kind of malformed file (each checking that the
// message names the file and the key or tensor), every truncation of a valid file, and the facts
// of the real SmolLM2 file (cross-checked with the Python `gguf` package when written).
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "engine/ggml_type.hpp"
#include "engine/gguf.hpp"
#include "engine/gguf_writer.hpp"
#include "engine/load_error.hpp"
#include "tests/test_support.hpp"

namespace fs = std::filesystem;
using namespace precis::engine;
using Catch::Matchers::Contains;

namespace {

// Little-endian GGUF pieces assembled by hand, for the files the writer will not produce.
class Raw {
 public:
  template <class T>
  Raw& num(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    s_.append(b, sizeof(T));
    return *this;
  }
  Raw& u32(uint32_t v) { return num(v); }
  Raw& u64(uint64_t v) { return num(v); }
  Raw& bytes(const std::string& b) {
    s_ += b;
    return *this;
  }
  Raw& str(const std::string& s) { return u64(s.size()).bytes(s); }
  Raw& pad(size_t align) {
    s_.append((align - s_.size() % align) % align, '\0');
    return *this;
  }
  Raw& zeros(size_t n) {
    s_.append(n, '\0');
    return *this;
  }
  // One metadata entry holding a uint32 / a string.
  Raw& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
  Raw& kv_str(const std::string& key, const std::string& v) { return str(key).u32(8).str(v); }
  // One tensor info record.
  Raw& tensor(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type,
              uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  const std::string& s() const { return s_; }

 private:
  std::string s_;
};

Raw header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Raw r;
  return r.bytes("GGUF").u32(version).u64(n_tensors).u64(n_kv);
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name + ".gguf";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `bytes` to <dir>/<name>.gguf, opens it and returns the LoadError message ("" if it
// opened). Any other exception fails the test.
std::string open_error(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = write_file(dir, name, bytes);
  try {
    GgufFile f(path);
  } catch (const LoadError& e) {
    return e.what();
  }
  return "";
}

// Opens a file with one f32 tensor named "t" of `dims`, `type`, placed at `offset`, with
// `data_bytes` zero bytes of data section.
std::string one_tensor_error(const std::string& dir, const std::string& name,
                             const std::vector<uint64_t>& dims, uint32_t type, uint64_t offset,
                             size_t data_bytes) {
  Raw r = header(1, 0);
  r.tensor("t", dims, type, offset).pad(32).zeros(data_bytes);
  return open_error(dir, name, r.s());
}

std::vector<std::byte> ramp(size_t n, int seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<std::byte>((i * 7 + static_cast<size_t>(seed)) & 0xff);
  return v;
}

uint64_t round_up(uint64_t n, uint64_t a) {
  return (n + a - 1) / a * a;
}

// One value of every type, arrays of every element type, nested and empty arrays.
std::vector<std::pair<std::string, GgufValue>> all_values() {
  using A = GgufArray;
  return {
      {"general.architecture", std::string("llama")},
      {"u8", uint8_t{255}},
      {"i8", int8_t{-128}},
      {"u16", uint16_t{65535}},
      {"i16", int16_t{-32768}},
      {"u32", uint32_t{4000000000u}},
      {"i32", int32_t{-2000000000}},
      {"f32", 1.5f},
      {"bool.true", true},
      {"bool.false", false},
      {"string.empty", std::string()},
      {"string.utf8", std::string("caf\xc3\xa9 \0 nul", 11)},
      {"u64", std::numeric_limits<uint64_t>::max()},
      {"i64", std::numeric_limits<int64_t>::min()},
      {"f64", 0.1},
      {"a.u8", A{std::vector<uint8_t>{0, 1, 255}}},
      {"a.i8", A{std::vector<int8_t>{-1, 2}}},
      {"a.u16", A{std::vector<uint16_t>{7, 65535}}},
      {"a.i16", A{std::vector<int16_t>{-7}}},
      {"a.u32", A{std::vector<uint32_t>{1, 2, 3}}},
      {"a.i32", A{std::vector<int32_t>{-1, 0, 1}}},
      {"a.f32", A{std::vector<float>{0.25f, -2.0f}}},
      {"a.bool", A{std::vector<bool>{true, false, true}}},
      {"a.string", A{std::vector<std::string>{"a", "", "\xc4\xa0t"}}},
      {"a.u64", A{std::vector<uint64_t>{1ull << 63}}},
      {"a.i64", A{std::vector<int64_t>{-5, 5}}},
      {"a.f64", A{std::vector<double>{0.5, -1e300}}},
      {"a.nested",
       A{std::vector<A>{A{std::vector<std::string>{"x", "yz"}}, A{std::vector<std::string>{}}}}},
      {"a.nested3", A{std::vector<A>{A{std::vector<A>{A{std::vector<int32_t>{1, 2}},
                                                      A{std::vector<int32_t>{3}}}}}}},
      {"a.empty.u32", A{std::vector<uint32_t>{}}},
      {"a.empty.string", A{std::vector<std::string>{}}},
      {"a.empty.array", A{std::vector<A>{}}},
  };
}

GgufWriter all_types_writer() {
  GgufWriter w;
  for (const auto& [key, value] : all_values()) w.set(key, value);
  return w;
}

// all_types_writer plus tensors of several types and sizes (none a multiple of 32 bytes, so
// every tensor is followed by padding).
GgufWriter model_like_writer() {
  GgufWriter w = all_types_writer();
  w.add_tensor("f32.5x3", {5, 3}, GgmlType::F32, ramp(60, 1));
  w.add_tensor("q8_0.64x2", {64, 2}, GgmlType::Q8_0, ramp(2 * 2 * 34, 2));
  w.add_tensor("q4_1.32", {32}, GgmlType::Q4_1, ramp(20, 3));
  w.add_tensor("f16.7", {7}, GgmlType::F16, ramp(14, 4));
  w.add_tensor("i8.3x2x2x2", {3, 2, 2, 2}, GgmlType::I8, ramp(24, 5));
  return w;
}

}  // namespace

// ---- round trips -----------------------------------------------------------------------------

TEST_CASE("gguf: every metadata value type survives writer -> reader") {
  const std::string dir = precis::test::scratch_dir("gguf-roundtrip");
  const GgufWriter w = all_types_writer();
  const std::string path = dir + "/all.gguf";
  w.write(path);
  CHECK_FALSE(fs::exists(path + ".partial"));
  GgufFile f(path);
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 32);
  CHECK(f.tensors().empty());

  // Every key in the order set, with exactly the value set (variant equality compares the
  // type as well as the value, element by element through nested arrays).
  std::vector<std::string> keys;
  for (const auto& [key, value] : all_values()) {
    INFO(key);
    keys.push_back(key);
    CHECK(f.get(key) == value);
  }
  CHECK(f.metadata_keys() == keys);

  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(std::get<uint8_t>(f.get("u8")) == 255);
  CHECK(std::get<int8_t>(f.get("i8")) == -128);
  CHECK(std::get<uint16_t>(f.get("u16")) == 65535);
  CHECK(std::get<int16_t>(f.get("i16")) == -32768);
  CHECK(std::get<uint32_t>(f.get("u32")) == 4000000000u);
  CHECK(std::get<int32_t>(f.get("i32")) == -2000000000);
  CHECK(std::get<float>(f.get("f32")) == 1.5f);
  CHECK(f.get_bool("bool.true"));
  CHECK_FALSE(f.get_bool("bool.false"));
  CHECK(f.get_string("string.empty").empty());
  CHECK(f.get_string("string.utf8") == std::string("caf\xc3\xa9 \0 nul", 11));
  CHECK(std::get<uint64_t>(f.get("u64")) == std::numeric_limits<uint64_t>::max());
  CHECK(std::get<int64_t>(f.get("i64")) == std::numeric_limits<int64_t>::min());
  CHECK(std::get<double>(f.get("f64")) == 0.1);

  CHECK(f.get_string_array("a.string") == std::vector<std::string>{"a", "", "\xc4\xa0t"});
  CHECK(f.get_f32_array("a.f32") == std::vector<float>{0.25f, -2.0f});
  CHECK(f.get_i32_array("a.i32") == std::vector<int32_t>{-1, 0, 1});
  const auto& bools = std::get<GgufArray>(f.get("a.bool"));
  CHECK(bools.type() == GgufType::BOOL);
  CHECK(std::get<std::vector<bool>>(bools.items) == std::vector<bool>{true, false, true});

  const auto& nested = std::get<GgufArray>(f.get("a.nested"));
  REQUIRE(nested.type() == GgufType::ARRAY);
  REQUIRE(nested.size() == 2);
  const auto& inner = std::get<std::vector<GgufArray>>(nested.items);
  CHECK(std::get<std::vector<std::string>>(inner[0].items) == std::vector<std::string>{"x", "yz"});
  CHECK(inner[1].type() == GgufType::STRING);
  CHECK(inner[1].size() == 0);
  CHECK(gguf_value_type_name(f.get("a.nested3")) == "array of array of array of int32");
  CHECK(gguf_value_type_name(f.get("a.empty.array")) == "array of array");
  CHECK(std::get<GgufArray>(f.get("a.empty.u32")).type() == GgufType::UINT32);
  CHECK(std::get<GgufArray>(f.get("a.empty.u32")).size() == 0);
  CHECK(f.get_string_array("a.empty.string").empty());

  CHECK(gguf_type(f.get("a.f64")) == GgufType::ARRAY);
  CHECK(std::get<std::vector<double>>(std::get<GgufArray>(f.get("a.f64")).items) ==
        std::vector<double>{0.5, -1e300});
  CHECK(std::get<std::vector<uint64_t>>(std::get<GgufArray>(f.get("a.u64")).items) ==
        std::vector<uint64_t>{1ull << 63});
}

TEST_CASE("gguf: a key set twice keeps its first place and its last value") {
  GgufWriter w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.set_string("a", "now a string");
  const std::string bytes = w.to_bytes();
  GgufFile f(bytes.data(), bytes.size(), "mem.gguf");
  CHECK(f.metadata_keys() == std::vector<std::string>{"a", "b"});
  CHECK(f.get_string("a") == "now a string");
}

TEST_CASE("gguf: typed getters convert integer widths only when the value fits") {
  GgufWriter w;
  w.set("small.u8", uint8_t{200});
  w.set("neg.i32", int32_t{-3});
  w.set("pos.i16", int16_t{12});
  w.set("big.u64", uint64_t{1} << 40);
  w.set("huge.u64", std::numeric_limits<uint64_t>::max());
  w.set("half.f64", 0.5);
  w.set("tenth.f64", 0.1);
  w.set("huge.f64", 1e300);
  w.set_string("name", "x");
  w.set_bool("flag", true);
  w.set_array("ids.u8", GgufArray{std::vector<uint8_t>{1, 2, 255}});
  w.set_array("ids.i64", GgufArray{std::vector<int64_t>{-4, 1ll << 40}});
  w.set_array("scores.f64", GgufArray{std::vector<double>{0.5, -2.0}});
  w.set_i32_array("ints", {1});
  const std::string bytes = w.to_bytes();
  GgufFile f(bytes.data(), bytes.size(), "conv.gguf");

  CHECK(f.get_u32("small.u8") == 200);
  CHECK(f.get_i64("small.u8") == 200);
  CHECK(f.get_u64("pos.i16") == 12);
  CHECK(f.get_i64("neg.i32") == -3);
  CHECK(f.get_i64("big.u64") == int64_t{1} << 40);
  CHECK(f.get_f32("half.f64") == 0.5f);
  REQUIRE_THROWS_WITH(f.get_u32("neg.i32"),
                      Contains("conv.gguf") && Contains("'neg.i32'") && Contains("does not fit"));
  REQUIRE_THROWS_WITH(f.get_u32("big.u64"), Contains("'big.u64'") && Contains("does not fit"));
  REQUIRE_THROWS_WITH(f.get_i64("huge.u64"), Contains("'huge.u64'") && Contains("int64"));
  REQUIRE_THROWS_WITH(f.get_f32("tenth.f64"), Contains("'tenth.f64'") && Contains("exactly"));
  REQUIRE_THROWS_WITH(f.get_f32("huge.f64"), Contains("'huge.f64'") && Contains("exactly"));
  REQUIRE_THROWS_WITH(f.get_f32("small.u8"),
                      Contains("'small.u8'") && Contains("expected float32, found uint8"));
  REQUIRE_THROWS_WITH(f.get_string("small.u8"), Contains("conv.gguf") && Contains("'small.u8'") &&
                                                    Contains("expected string, found uint8"));
  REQUIRE_THROWS_WITH(f.get_bool("small.u8"), Contains("'small.u8'") && Contains("bool"));
  REQUIRE_THROWS_WITH(f.get_u32("name"), Contains("'name'") && Contains("found string"));
  REQUIRE_THROWS_WITH(f.get_u32("flag"), Contains("'flag'") && Contains("found bool"));
  REQUIRE_THROWS_WITH(f.get_string("nope"),
                      Contains("conv.gguf") && Contains("'nope'") && Contains("missing"));
  REQUIRE_THROWS_WITH(f.get_u32("nope"), Contains("'nope'") && Contains("missing"));

  // Arrays.
  CHECK(f.get_i32_array("ids.u8") == std::vector<int32_t>{1, 2, 255});
  CHECK(f.get_f32_array("scores.f64") == std::vector<float>{0.5f, -2.0f});
  REQUIRE_THROWS_WITH(f.get_i32_array("ids.i64"),
                      Contains("'ids.i64'") && Contains("element 1") && Contains("int32"));
  REQUIRE_THROWS_WITH(
      f.get_string_array("ints"),
      Contains("'ints'") && Contains("expected array of string, found array of int32"));
  REQUIRE_THROWS_WITH(f.get_f32_array("ints"), Contains("'ints'") && Contains("array of float32"));
  REQUIRE_THROWS_WITH(f.get_i32_array("name"), Contains("'name'") && Contains("found string"));
  REQUIRE_THROWS_WITH(f.get_i32_array("scores.f64"),
                      Contains("'scores.f64'") && Contains("found array of float64"));

  // Optional versions: absent is empty; present with the wrong type still throws.
  CHECK(f.has("name"));
  CHECK_FALSE(f.has("nope"));
  CHECK(f.find("nope") == nullptr);
  CHECK(f.find("name") != nullptr);
  CHECK(f.find_string("nope") == nullptr);
  CHECK(*f.find_string("name") == "x");
  CHECK_FALSE(f.find_u32("nope").has_value());
  CHECK(f.find_u32("small.u8") == 200u);
  CHECK(f.find_u64("small.u8") == 200u);
  CHECK(f.find_i64("neg.i32") == -3);
  CHECK(f.find_f32("half.f64") == 0.5f);
  CHECK(f.find_bool("flag") == true);
  CHECK_FALSE(f.find_bool("nope").has_value());
  CHECK(f.find_string_array("nope") == nullptr);
  REQUIRE_THROWS_WITH(f.find_u32("name"), Contains("'name'"));
  REQUIRE_THROWS_WITH(f.find_string("flag"), Contains("'flag'"));
}

TEST_CASE("gguf: tensors are packed at aligned offsets and point at their bytes") {
  const uint32_t align = GENERATE(0u, 32u, 64u, 128u);  // 0: leave general.alignment unset
  INFO("alignment " << align);
  GgufWriter w = model_like_writer();
  if (align != 0) w.set_u32("general.alignment", align);
  const uint64_t a = align == 0 ? 32 : align;
  CHECK(w.alignment() == a);
  const std::string bytes = w.to_bytes();

  GgufFile f(bytes.data(), bytes.size(), "model.gguf");
  CHECK(f.alignment() == a);
  CHECK(f.data_offset() % a == 0);
  const std::vector<std::string> names = {"f32.5x3", "q8_0.64x2", "q4_1.32", "f16.7", "i8.3x2x2x2"};
  REQUIRE(f.tensors().size() == names.size());
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const GgufTensor& t = f.tensors()[i];
    INFO(t.name);
    CHECK(t.name == names[i]);
    CHECK(f.find_tensor(t.name) == &t);
    CHECK(t.offset == expected_offset);
    CHECK(t.offset % a == 0);
    CHECK(t.data == reinterpret_cast<const std::byte*>(bytes.data()) + f.data_offset() + t.offset);
    const auto want = ramp(t.nbytes, static_cast<int>(i) + 1);
    CHECK(std::memcmp(t.data, want.data(), want.size()) == 0);
    expected_offset = round_up(t.offset + t.nbytes, a);
  }
  CHECK(bytes.size() == f.data_offset() + expected_offset);  // the last tensor is padded too

  const GgufTensor& f32 = *f.find_tensor("f32.5x3");
  CHECK(f32.type == GgmlType::F32);
  CHECK(f32.dims == std::vector<int64_t>{5, 3});
  CHECK(f32.nbytes == 60);
  CHECK(f32.numel() == 15);
  CHECK(f32.rows() == 3);
  const GgufTensor& q8 = *f.find_tensor("q8_0.64x2");
  CHECK(q8.type == GgmlType::Q8_0);
  CHECK(q8.nbytes == 2 * 2 * 34);
  CHECK(f.find_tensor("q4_1.32")->nbytes == 20);
  CHECK(f.find_tensor("f16.7")->nbytes == 14);
  CHECK(f.find_tensor("i8.3x2x2x2")->dims.size() == 4);
  CHECK(f.find_tensor("i8.3x2x2x2")->rows() == 8);
  CHECK(f.find_tensor("missing") == nullptr);

  // The same bytes through the mmap path give the same description.
  const std::string dir = precis::test::scratch_dir("gguf-align");
  const std::string path = dir + "/model-" + std::to_string(a) + ".gguf";
  w.write(path);
  CHECK(read_file(path) == bytes);
  GgufFile m(path);
  CHECK(m.path() == path);
  CHECK(m.file_size() == bytes.size());
  CHECK(m.data_offset() == f.data_offset());
  REQUIRE(m.tensors().size() == f.tensors().size());
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    CHECK(m.tensors()[i].offset == f.tensors()[i].offset);
    CHECK(std::memcmp(m.tensors()[i].data, f.tensors()[i].data, f.tensors()[i].nbytes) == 0);
  }
}

// Pins the byte layout (the one gguf-py and llama.cpp write; gguf-py's GGUFWriter produced this
// exact file from the same input when this test was written).
TEST_CASE("gguf: writer output is the standard layout, byte for byte") {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.add_tensor("a", {3}, GgmlType::F32, ramp(12, 0));
  w.add_tensor("b", {32}, GgmlType::Q8_0, ramp(34, 1));
  Raw r = header(2, 2);
  r.kv_str("general.architecture", "llama").kv_u32("llama.block_count", 2);
  r.tensor("a", {3}, 0, 0).tensor("b", {32}, 8, 32).pad(32);
  const auto a = ramp(12, 0);
  const auto b = ramp(34, 1);
  r.bytes(std::string(reinterpret_cast<const char*>(a.data()), a.size())).pad(32);
  r.bytes(std::string(reinterpret_cast<const char*>(b.data()), b.size())).pad(32);
  CHECK(w.to_bytes() == r.s());
}

TEST_CASE("gguf: a version 2 file is read (same layout as v3, 64-bit counts)") {
  Raw r = header(1, 3, 2);
  r.kv_str("general.architecture", "llama").kv_u32("llama.block_count", 7);
  r.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(2).str("<s>").str("</s>");
  r.tensor("w", {4, 2}, 0, 0).pad(32);
  for (int i = 0; i < 8; ++i) r.num(static_cast<float>(i));
  const std::string dir = precis::test::scratch_dir("gguf-v2");
  GgufFile f(write_file(dir, "v2", r.s()));
  CHECK(f.version() == 2);
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_u32("llama.block_count") == 7);
  CHECK(f.get_string_array("tokenizer.ggml.tokens") == std::vector<std::string>{"<s>", "</s>"});
  REQUIRE(f.tensors().size() == 1);
  const GgufTensor& t = f.tensors()[0];
  CHECK(t.dims == std::vector<int64_t>{4, 2});
  CHECK(t.nbytes == 32);
  float last = 0;
  std::memcpy(&last, t.data + 28, 4);
  CHECK(last == 7.0f);
}

TEST_CASE("gguf: a file without tensors may end before the alignment padding") {
  Raw r = header(0, 1);
  r.kv_u32("x", 1);  // 24 + 17 = 41 bytes, not a multiple of 32
  GgufFile f(r.s().data(), r.s().size(), "short.gguf");
  CHECK(f.get_u32("x") == 1);
  CHECK(f.tensors().empty());
}

TEST_CASE("gguf: tensors may overlap; a known type without kernels is just recorded") {
  Raw r = header(3, 0);
  r.tensor("a", {8}, 0, 0).tensor("b", {4, 2}, 0, 0);
  r.tensor("iq2", {256}, static_cast<uint32_t>(GgmlType::IQ2_XXS), 64).pad(32).zeros(64 + 66);
  GgufFile f(r.s().data(), r.s().size(), "overlap.gguf");
  CHECK(f.find_tensor("a")->data == f.find_tensor("b")->data);
  CHECK(f.find_tensor("iq2")->type == GgmlType::IQ2_XXS);
  CHECK(f.find_tensor("iq2")->nbytes == 66);
}

// ---- malformed files: each error names the file and the key or tensor -------------------------

TEST_CASE("gguf: unreadable paths") {
  const std::string dir = precis::test::scratch_dir("gguf-paths");
  REQUIRE_THROWS_WITH(GgufFile(dir + "/absent.gguf"),
                      Contains("absent.gguf") && Contains("cannot open"));
  REQUIRE_THROWS_WITH(GgufFile(dir), Contains(dir) && Contains("not a regular file"));
  CHECK_THAT(open_error(dir, "empty", ""), Contains("empty.gguf") && Contains("truncated"));
}

TEST_CASE("gguf: bad magic") {
  const std::string dir = precis::test::scratch_dir("gguf-magic");
  Raw r;
  r.bytes("GGML").u32(3).u64(0).u64(0);
  CHECK_THAT(open_error(dir, "magic", r.s()),
             Contains("magic.gguf") && Contains("bad magic") && Contains("47 47 4d 4c"));
}

TEST_CASE("gguf: unsupported versions") {
  const std::string dir = precis::test::scratch_dir("gguf-version");
  CHECK_THAT(open_error(dir, "v1", header(0, 0, 1).s()),
             Contains("v1.gguf") && Contains("unsupported GGUF version 1"));
  CHECK_THAT(open_error(dir, "v4", header(0, 0, 4).s()),
             Contains("v4.gguf") && Contains("unsupported GGUF version 4"));
  CHECK_THAT(open_error(dir, "big", header(0, 0, 0x03000000).s()),
             Contains("big.gguf") && Contains("big-endian"));
}

TEST_CASE("gguf: truncated header") {
  const std::string dir = precis::test::scratch_dir("gguf-trunc-header");
  CHECK_THAT(open_error(dir, "hdr", header(0, 0).s().substr(0, 14)),
             Contains("hdr.gguf") && Contains("header") && Contains("truncated"));
}

TEST_CASE("gguf: truncated key string") {
  const std::string dir = precis::test::scratch_dir("gguf-trunc-key");
  Raw r = header(0, 2);
  r.kv_u32("first", 1).u64(50).bytes("second");  // says 50 bytes, has 6
  CHECK_THAT(open_error(dir, "key", r.s()), Contains("key.gguf") &&
                                                Contains("metadata entry 1 (after 'first')") &&
                                                Contains("string length 50"));
  // The second key's 8-byte length is cut after 5 bytes (the header's count check passes: 26
  // bytes are enough for two minimal entries).
  Raw cut = header(0, 2);
  cut.kv_u32("first", 1).bytes("abcde");
  CHECK_THAT(open_error(dir, "keylen", cut.s()),
             Contains("keylen.gguf") && Contains("metadata entry 1") && Contains("truncated"));
}

TEST_CASE("gguf: truncated string value") {
  const std::string dir = precis::test::scratch_dir("gguf-trunc-string");
  Raw r = header(0, 1);
  r.str("general.name").u32(8).u64(100).bytes("abc");
  CHECK_THAT(open_error(dir, "str", r.s()),
             Contains("str.gguf") && Contains("'general.name'") && Contains("truncated"));
}

TEST_CASE("gguf: truncated array") {
  const std::string dir = precis::test::scratch_dir("gguf-trunc-array");
  Raw r = header(0, 1);
  r.str("tokenizer.ggml.token_type").u32(9).u32(5).u64(3).u32(1).u32(2);  // 3 declared, 2 there
  CHECK_THAT(open_error(dir, "arr", r.s()), Contains("arr.gguf") &&
                                                Contains("'tokenizer.ggml.token_type'") &&
                                                Contains("truncated"));
}

TEST_CASE("gguf: absurd array lengths fail before allocating") {
  const std::string dir = precis::test::scratch_dir("gguf-absurd-array");
  const uint64_t huge = uint64_t{1} << 60;
  for (uint32_t elem : {0u, 5u, 8u, 9u, 12u}) {  // u8, i32, string, array, f64
    INFO("element type " << elem);
    Raw r = header(0, 1);
    r.str("tokenizer.ggml.tokens").u32(9).u32(elem).u64(huge).zeros(64);
    CHECK_THAT(open_error(dir, "huge" + std::to_string(elem), r.s()),
               Contains("huge" + std::to_string(elem) + ".gguf") &&
                   Contains("'tokenizer.ggml.tokens'") && Contains("1152921504606846976"));
  }
  Raw max = header(0, 1);
  max.str("k").u32(9).u32(12).u64(std::numeric_limits<uint64_t>::max());
  CHECK_THAT(open_error(dir, "max", max.s()), Contains("'k'") && Contains("truncated or corrupt"));
}

TEST_CASE("gguf: absurd metadata and tensor counts") {
  const std::string dir = precis::test::scratch_dir("gguf-absurd-counts");
  CHECK_THAT(open_error(dir, "kv", header(0, uint64_t{1} << 62).s()),
             Contains("kv.gguf") && Contains("metadata count 4611686018427387904"));
  CHECK_THAT(open_error(dir, "tensors", header(uint64_t{1} << 62, 0).s()),
             Contains("tensors.gguf") && Contains("tensor count 4611686018427387904"));
}

TEST_CASE("gguf: unknown metadata value type") {
  const std::string dir = precis::test::scratch_dir("gguf-value-type");
  Raw r = header(0, 1);
  r.str("general.odd").u32(13).u32(0);
  CHECK_THAT(open_error(dir, "vt", r.s()),
             Contains("vt.gguf") && Contains("'general.odd'") && Contains("unknown value type 13"));
  Raw a = header(0, 1);
  a.str("general.odd.array").u32(9).u32(99).u64(0);
  CHECK_THAT(open_error(dir, "at", a.s()), Contains("at.gguf") && Contains("'general.odd.array'") &&
                                               Contains("unknown array element type 99"));
}

TEST_CASE("gguf: arrays nested too deep") {
  const std::string dir = precis::test::scratch_dir("gguf-deep");
  Raw r = header(0, 1);
  r.str("deep").u32(9);
  for (int i = 0; i < 1000; ++i) r.u32(9).u64(1);
  r.u32(0).u64(0);
  CHECK_THAT(open_error(dir, "deep", r.s()),
             Contains("deep.gguf") && Contains("'deep'") && Contains("nested"));
}

TEST_CASE("gguf: duplicate key") {
  const std::string dir = precis::test::scratch_dir("gguf-dup-key");
  Raw r = header(0, 2);
  r.kv_u32("llama.block_count", 1).kv_u32("llama.block_count", 2);
  CHECK_THAT(open_error(dir, "dupkey", r.s()), Contains("dupkey.gguf") &&
                                                   Contains("'llama.block_count'") &&
                                                   Contains("duplicate key"));
  // A crafted key of 5000 bytes is clipped in the message.
  const std::string long_key(5000, 'k');
  Raw l = header(0, 2);
  l.kv_u32(long_key, 1).kv_u32(long_key, 2);
  const std::string err = open_error(dir, "longkey", l.s());
  CHECK_THAT(err, Contains("longkey.gguf") && Contains("kkk...'") && Contains("duplicate key"));
  CHECK(err.size() < 400);
}

TEST_CASE("gguf: general.alignment must be a power of two") {
  const std::string dir = precis::test::scratch_dir("gguf-alignment");
  for (uint32_t bad : {0u, 48u, 3u}) {
    Raw r = header(0, 1);
    r.kv_u32("general.alignment", bad);
    const std::string name = "align" + std::to_string(bad);
    CHECK_THAT(open_error(dir, name, r.s()), Contains(name + ".gguf") &&
                                                 Contains("'general.alignment'") &&
                                                 Contains("not a power of two"));
  }
  Raw s = header(0, 1);
  s.kv_str("general.alignment", "32");
  CHECK_THAT(open_error(dir, "alignstr", s.s()),
             Contains("'general.alignment'") && Contains("found string"));
  // Any integer type that holds a power of two is taken.
  Raw ok = header(1, 1);
  ok.str("general.alignment").u32(10).u64(64).tensor("t", {4}, 0, 0).pad(64).zeros(16);
  GgufFile f(ok.s().data(), ok.s().size(), "align64.gguf");
  CHECK(f.alignment() == 64);
  CHECK(f.data_offset() % 64 == 0);
}

TEST_CASE("gguf: truncated tensor info") {
  const std::string dir = precis::test::scratch_dir("gguf-trunc-info");
  Raw r = header(1, 0);
  r.str("blk.0.attn_q.weight").u32(2).u64(64);  // the second dim, type and offset are missing
  CHECK_THAT(open_error(dir, "info", r.s()),
             Contains("info.gguf") && Contains("'blk.0.attn_q.weight'") && Contains("truncated"));
  Raw name = header(2, 0);
  name.tensor("a", {4}, 0, 0).u64(40).bytes(std::string(30, 'x'));  // the second name is cut
  CHECK_THAT(open_error(dir, "name", name.s()),
             Contains("name.gguf") && Contains("tensor info 1") && Contains("truncated"));
}

TEST_CASE("gguf: unknown tensor type id") {
  const std::string dir = precis::test::scratch_dir("gguf-tensor-type");
  CHECK_THAT(one_tensor_error(dir, "tt", {32}, 77, 0, 64),
             Contains("tt.gguf") && Contains("tensor 't'") && Contains("unknown ggml type id 77"));
}

TEST_CASE("gguf: tensor dimension count") {
  const std::string dir = precis::test::scratch_dir("gguf-ndims");
  CHECK_THAT(one_tensor_error(dir, "five", {1, 1, 1, 1, 1}, 0, 0, 64),
             Contains("five.gguf") && Contains("tensor 't'") && Contains("5 dimensions"));
  CHECK_THAT(one_tensor_error(dir, "zero", {}, 0, 0, 64),
             Contains("zero.gguf") && Contains("tensor 't'") && Contains("0 dimensions"));
}

TEST_CASE("gguf: tensor dimension not positive") {
  const std::string dir = precis::test::scratch_dir("gguf-dim");
  CHECK_THAT(one_tensor_error(dir, "dim0", {4, 0}, 0, 0, 64),
             Contains("dim0.gguf") && Contains("tensor 't'") && Contains("dimension 1 is 0"));
  CHECK_THAT(one_tensor_error(dir, "dimneg", {std::numeric_limits<uint64_t>::max()}, 0, 0, 64),
             Contains("dimneg.gguf") && Contains("tensor 't'") && Contains("dimension 0 is -1"));
}

TEST_CASE("gguf: tensor dimensions whose size overflows") {
  const std::string dir = precis::test::scratch_dir("gguf-overflow");
  const uint64_t big = uint64_t{1} << 40;
  CHECK_THAT(one_tensor_error(dir, "ovf", {big, big}, 0, 0, 64),
             Contains("ovf.gguf") && Contains("tensor 't'") && Contains("too large"));
  CHECK_THAT(one_tensor_error(dir, "ovf64", {uint64_t{1} << 62}, 28, 0, 64),
             Contains("ovf64.gguf") && Contains("tensor 't'") && Contains("too large"));
}

TEST_CASE("gguf: row length not a multiple of the block size") {
  const std::string dir = precis::test::scratch_dir("gguf-block");
  CHECK_THAT(one_tensor_error(dir, "blk", {48, 2}, 2, 0, 256),
             Contains("blk.gguf") && Contains("tensor 't'") &&
                 Contains("row length 48 is not a multiple of q4_0's block size 32"));
}

TEST_CASE("gguf: duplicate tensor name") {
  const std::string dir = precis::test::scratch_dir("gguf-dup-tensor");
  Raw r = header(2, 0);
  r.tensor("output.weight", {4}, 0, 0).tensor("output.weight", {4}, 0, 32).pad(32).zeros(64);
  CHECK_THAT(open_error(dir, "dupt", r.s()), Contains("dupt.gguf") && Contains("'output.weight'") &&
                                                 Contains("duplicate tensor name"));
}

TEST_CASE("gguf: tensor offset not aligned") {
  const std::string dir = precis::test::scratch_dir("gguf-unaligned");
  CHECK_THAT(one_tensor_error(dir, "unal", {4}, 0, 8, 64),
             Contains("unal.gguf") && Contains("tensor 't'") &&
                 Contains("offset 8 is not a multiple of the alignment 32"));
}

TEST_CASE("gguf: tensor data outside the file") {
  const std::string dir = precis::test::scratch_dir("gguf-outside");
  CHECK_THAT(one_tensor_error(dir, "past", {16}, 0, 32, 64),
             Contains("past.gguf") && Contains("tensor 't'") && Contains("outside the file"));
  CHECK_THAT(one_tensor_error(dir, "far", {4}, 0, uint64_t{1} << 63, 64),
             Contains("far.gguf") && Contains("tensor 't'") && Contains("outside the file"));
  // No data section at all: the file ends with the tensor infos.
  Raw r = header(1, 0);
  r.tensor("t", {4}, 0, 0);
  CHECK_THAT(open_error(dir, "nodata", r.s()),
             Contains("nodata.gguf") && Contains("tensor 't'") && Contains("outside the file"));
}

// Every prefix of a valid file must fail with a LoadError, never crash or read past the end
// (the buffer is copied to its own allocation so AddressSanitizer sees any overread).
TEST_CASE("gguf: a file cut at every byte offset is a LoadError") {
  const std::string full = model_like_writer().to_bytes();
  GgufFile whole(full.data(), full.size(), "whole.gguf");
  const GgufTensor& last = whole.tensors().back();
  const uint64_t end = whole.data_offset() + last.offset + last.nbytes;
  REQUIRE(end < full.size());  // the last tensor is followed by padding
  for (size_t cut = 0; cut < end; ++cut) {
    const std::vector<char> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    try {
      GgufFile f(prefix.data(), prefix.size(), "cut.gguf");
      FAIL("a file cut at " << cut << " of " << full.size() << " bytes opened");
    } catch (const LoadError& e) {
      if (std::string(e.what()).find("cut.gguf") == std::string::npos)
        FAIL("message without the file name: " << e.what());
    }
  }
  // The padding after the last tensor is not needed (llama.cpp does not need it either).
  for (size_t cut = end; cut <= full.size(); ++cut) {
    const std::vector<char> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_NOTHROW(GgufFile(prefix.data(), prefix.size(), "tail.gguf"));
  }
  // A sample through the mmap path too.
  const std::string dir = precis::test::scratch_dir("gguf-cut");
  for (size_t cut = 0; cut < end; cut += 97) {
    INFO("cut at " << cut);
    CHECK_THAT(open_error(dir, "cut", full.substr(0, cut)), Contains("cut.gguf"));
  }
}

// ---- writer argument checks ---------------------------------------------------------------

TEST_CASE("gguf writer: refuses tensors and alignments llama.cpp would not load") {
  GgufWriter w;
  w.add_tensor("t", {4}, GgmlType::F32, ramp(16, 0));
  REQUIRE_THROWS_WITH(w.add_tensor("t", {4}, GgmlType::F32, ramp(16, 0)),
                      Contains("'t'") && Contains("added twice"));
  REQUIRE_THROWS_WITH(w.add_tensor("u", {4}, GgmlType::F32, ramp(15, 0)),
                      Contains("'u'") && Contains("15 bytes given"));
  REQUIRE_THROWS_WITH(w.add_tensor("v", {33}, GgmlType::Q4_0, ramp(18, 0)),
                      Contains("'v'") && Contains("block size"));
  REQUIRE_THROWS_WITH(w.add_tensor("x", {}, GgmlType::F32, ramp(0, 0)), Contains("dimensions"));
  REQUIRE_THROWS_WITH(w.add_tensor("y", {1, 1, 1, 1, 1}, GgmlType::F32, ramp(4, 0)),
                      Contains("dimensions"));
  REQUIRE_THROWS_WITH(w.add_tensor("z", {4, 0}, GgmlType::F32, ramp(0, 0)),
                      Contains("not positive"));
  REQUIRE_THROWS_WITH(w.add_tensor(std::string(64, 'n'), {4}, GgmlType::F32, ramp(16, 0)),
                      Contains("longer than 63"));
  REQUIRE_THROWS_AS(w.set_u32("general.alignment", 48), std::invalid_argument);
  REQUIRE_THROWS_AS(w.set_u64("general.alignment", 64), std::invalid_argument);
  w.set_u32("general.alignment", 64);
  CHECK(w.alignment() == 64);
  REQUIRE_THROWS_AS(w.write("/nonexistent-dir/x.gguf"), std::runtime_error);
}

// ---- the real default model -----------------------------------------------------------------

// The expected facts were read with the Python `gguf` package (GGUFReader), not with this reader.
TEST_CASE("gguf: SmolLM2-135M-Instruct Q4_1 facts") {
  const std::string path = PRECIS_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!fs::exists(path)) {
    std::cout << "skipped: default model not fetched (bash scripts/fetch-default-model.sh)\n";
    WARN("skipped: default model not fetched (bash scripts/fetch-default-model.sh)");
    return;
  }
  GgufFile f(path);
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 32);
  CHECK(f.data_offset() == 1785664);
  CHECK(f.metadata_keys().size() == 33);
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_u32("llama.block_count") == 30);
  CHECK(f.get_u32("llama.embedding_length") == 576);
  CHECK(f.get_u32("llama.feed_forward_length") == 1536);
  CHECK(f.get_u32("llama.attention.head_count") == 9);
  CHECK(f.get_u32("llama.attention.head_count_kv") == 3);
  CHECK(f.get_u32("llama.context_length") == 8192);
  CHECK(f.get_f32("llama.rope.freq_base") == 100000.0f);
  CHECK(f.get_f32("llama.attention.layer_norm_rms_epsilon") == 1e-5f);
  CHECK(f.get_string("tokenizer.ggml.model") == "gpt2");
  CHECK(f.get_string("tokenizer.ggml.pre") == "smollm");
  CHECK_FALSE(f.get_bool("tokenizer.ggml.add_bos_token"));
  CHECK(f.get_u32("tokenizer.ggml.bos_token_id") == 1);
  CHECK(f.get_u32("tokenizer.ggml.eos_token_id") == 2);
  CHECK(f.get_string_array("general.languages") == std::vector<std::string>{"en"});
  CHECK_THAT(f.get_string("tokenizer.chat_template"), Contains("<|im_start|>"));

  const auto& tokens = f.get_string_array("tokenizer.ggml.tokens");
  REQUIRE(tokens.size() == 49152);
  CHECK(tokens[0] == "<|endoftext|>");
  CHECK(tokens[1] == "<|im_start|>");
  CHECK(tokens[2] == "<|im_end|>");
  CHECK(tokens.back() == "ectable");
  const auto& merges = f.get_string_array("tokenizer.ggml.merges");
  REQUIRE(merges.size() == 48900);
  CHECK(merges[0] == "\xc4\xa0 t");  // "Ġ t"
  const std::vector<int32_t> types = f.get_i32_array("tokenizer.ggml.token_type");
  REQUIRE(types.size() == 49152);
  CHECK(types[0] == 3);
  CHECK(types.back() == 1);
  CHECK_FALSE(f.has("tokenizer.ggml.scores"));

  CHECK(f.tensors().size() == 272);
  const GgufTensor* embd = f.find_tensor("token_embd.weight");
  REQUIRE(embd != nullptr);
  CHECK(embd->type == GgmlType::Q8_0);
  CHECK(embd->dims == std::vector<int64_t>{576, 49152});
  CHECK(embd->offset == 0);
  CHECK(embd->nbytes == 30081024);
  CHECK(f.find_tensor("output.weight") == nullptr);  // tied to token_embd
  const GgufTensor* q = f.find_tensor("blk.0.attn_q.weight");
  REQUIRE(q != nullptr);
  CHECK(q->type == GgmlType::Q4_1);
  CHECK(q->dims == std::vector<int64_t>{576, 576});
  CHECK(q->offset == 33806656 - 1785664);
  CHECK(q->nbytes == 207360);
  CHECK(f.find_tensor("blk.0.attn_norm.weight")->type == GgmlType::F32);
  const GgufTensor& last = f.tensors().back();
  CHECK(last.name == "output_norm.weight");
  CHECK(f.data_offset() + last.offset + last.nbytes == f.file_size());
}
