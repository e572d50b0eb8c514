#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "engine/dtype.hpp"
#include "engine/load_error.hpp"
#include "engine/safetensors.hpp"
#include "tests/test_support.hpp"

namespace fs = std::filesystem;
using namespace precis::engine;
using Catch::Matchers::Contains;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file assembled by hand, so malformed headers can be written.
std::string raw_file(const std::string& header, const std::string& data, uint64_t len_override = 0,
                     bool use_override = false) {
  const uint64_t n = use_override ? len_override : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

// Writes `header` + `data_bytes` zero bytes to <scratch>/<name>.safetensors and returns the
// LoadError message from opening it (empty if it opened).
std::string open_error(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name + ".safetensors";
  write_bytes(path, bytes);
  try {
    SafetensorsFile::open(path);
  } catch (const LoadError& e) {
    return e.what();
  }
  return "";
}

std::string tensor_json(const std::string& name, const std::string& dtype, const std::string& shape,
                        const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

// Appends rather than `"{" + s`: GCC 12 raises a false -Wrestrict on operator+ with a literal.
std::string obj(std::initializer_list<std::string> entries) {
  std::string out = "{";
  for (const auto& e : entries) {
    if (out.size() > 1) out += ",";
    out += e;
  }
  out += "}";
  return out;
}

}  // namespace

TEST_CASE("safetensors: file shorter than the 8-byte header length") {
  auto dir = precis::test::scratch_dir("st-truncated");
  auto err = open_error(dir, "short", std::string("\x05\x00\x00", 3));
  CHECK_THAT(err, Contains("short.safetensors"));
  CHECK_THAT(err, Contains("truncated"));
  CHECK_THAT(err, Contains("header length"));
  CHECK_THAT(open_error(dir, "empty", ""), Contains("truncated"));
}

TEST_CASE("safetensors: header length past the end of the file") {
  auto dir = precis::test::scratch_dir("st-hdrlen");
  auto err = open_error(dir, "long", raw_file("{}", "", 1000, true));
  CHECK_THAT(err, Contains("long.safetensors"));
  CHECK_THAT(err, Contains("header length 1000"));
  // A huge length must not wrap around when added to the offset.
  CHECK_THAT(open_error(dir, "huge", raw_file("{}", "", ~uint64_t{0}, true)),
             Contains("header length"));
}

TEST_CASE("safetensors: header that is not JSON or not an object") {
  auto dir = precis::test::scratch_dir("st-json");
  auto err = open_error(dir, "bad", raw_file("{\"x\": [1, 2", ""));
  CHECK_THAT(err, Contains("bad.safetensors"));
  CHECK_THAT(err, Contains("not valid JSON"));
  CHECK_THAT(open_error(dir, "arr", raw_file("[1, 2]", "")), Contains("not a JSON object"));
}

TEST_CASE("safetensors: unknown or missing dtype names the tensor") {
  auto dir = precis::test::scratch_dir("st-dtype");
  auto err = open_error(
      dir, "i64", raw_file(obj({tensor_json("x", "I64", "[1]", "[0,8]")}), std::string(8, 0)));
  CHECK_THAT(err, Contains("i64.safetensors"));
  CHECK_THAT(err, Contains("tensor 'x': unknown dtype 'I64'"));
  err = open_error(dir, "nodtype",
                   raw_file("{\"y\":{\"shape\":[1],\"data_offsets\":[0,4]}}", std::string(4, 0)));
  CHECK_THAT(err, Contains("tensor 'y'"));
  CHECK_THAT(err, Contains("'dtype'"));
}

TEST_CASE("safetensors: bad shape field") {
  auto dir = precis::test::scratch_dir("st-shape");
  for (std::string shape : {"[-1]", "[1.5]", "\"4\"", "[\"4\"]"}) {
    auto err = open_error(
        dir, "shape", raw_file(obj({tensor_json("w", "F32", shape, "[0,4]")}), std::string(4, 0)));
    CHECK_THAT(err, Contains("shape.safetensors"));
    CHECK_THAT(err, Contains("tensor 'w'"));
    CHECK_THAT(err, Contains("'shape'"));
  }
}

TEST_CASE("safetensors: byte size disagrees with shape x dtype") {
  auto dir = precis::test::scratch_dir("st-size");
  auto err = open_error(
      dir, "size", raw_file(obj({tensor_json("w", "F32", "[3]", "[0,8]")}), std::string(8, 0)));
  CHECK_THAT(err, Contains("size.safetensors"));
  CHECK_THAT(err, Contains("tensor 'w'"));
  CHECK_THAT(err, Contains("shape"));
  CHECK_THAT(err, Contains("12 bytes"));
  // Same bytes as two BF16 values is fine; four is not.
  CHECK(open_error(
            dir, "ok",
            raw_file(obj({tensor_json("w", "BF16", "[2,2]", "[0,8]")}), std::string(8, 0))) == "");
  // A shape whose element count overflows must be rejected, not wrapped.
  CHECK_THAT(
      open_error(dir, "ovf",
                 raw_file(obj({tensor_json("w", "F32", "[4611686018427387904,16]", "[0,8]")}),
                          std::string(8, 0))),
      Contains("tensor 'w'"));
}

TEST_CASE("safetensors: data_offsets outside the data section or malformed") {
  auto dir = precis::test::scratch_dir("st-offsets");
  auto err = open_error(
      dir, "outside", raw_file(obj({tensor_json("w", "F32", "[4]", "[0,16]")}), std::string(8, 0)));
  CHECK_THAT(err, Contains("outside.safetensors"));
  CHECK_THAT(err, Contains("tensor 'w'"));
  CHECK_THAT(err, Contains("outside the data"));
  err = open_error(dir, "reversed",
                   raw_file(obj({tensor_json("w", "F32", "[1]", "[8,4]")}), std::string(8, 0)));
  CHECK_THAT(err, Contains("'data_offsets'"));
  err = open_error(dir, "three",
                   raw_file(obj({tensor_json("w", "F32", "[1]", "[0,4,8]")}), std::string(8, 0)));
  CHECK_THAT(err, Contains("'data_offsets'"));
  err = open_error(dir, "neg",
                   raw_file(obj({tensor_json("w", "F32", "[1]", "[-4,0]")}), std::string(8, 0)));
  CHECK_THAT(err, Contains("'data_offsets'"));
}

TEST_CASE("safetensors: overlapping tensors") {
  auto dir = precis::test::scratch_dir("st-overlap");
  auto err = open_error(dir, "overlap",
                        raw_file(obj({tensor_json("a", "F32", "[2]", "[0,8]"),
                                      tensor_json("b", "F32", "[2]", "[4,12]")}),
                                 std::string(12, 0)));
  CHECK_THAT(err, Contains("overlap.safetensors"));
  CHECK_THAT(err, Contains("tensor 'b'"));
  CHECK_THAT(err, Contains("overlaps tensor 'a'"));
  // Adjacent is fine; an empty tensor anywhere is fine.
  CHECK(open_error(dir, "adjacent",
                   raw_file(obj({tensor_json("a", "F32", "[2]", "[0,8]"),
                                 tensor_json("b", "F32", "[0]", "[4,4]"),
                                 tensor_json("c", "F32", "[1]", "[8,12]")}),
                            std::string(12, 0))) == "");
}

TEST_CASE("safetensors: __metadata__ is ignored, zero tensors are fine") {
  auto dir = precis::test::scratch_dir("st-meta");
  const std::string path = dir + "/m.safetensors";
  write_bytes(path, raw_file(obj({"\"__metadata__\":{\"format\":\"pt\"}",
                                  tensor_json("w", "F16", "[2]", "[0,4]")}),
                             std::string("\x00\x3c\x00\xc0", 4)));
  auto f = SafetensorsFile::open(path);
  REQUIRE(f->tensors().size() == 1);
  const TensorView& w = f->tensors().at("w");
  CHECK(w.dtype == DType::F16);
  CHECK(w.shape == std::vector<int64_t>{2});
  CHECK(w.file == path);
  uint16_t h[2];
  std::memcpy(h, w.data, 4);
  CHECK(f16_to_f32(h[0]) == 1.0f);
  CHECK(f16_to_f32(h[1]) == -2.0f);

  write_bytes(path, raw_file("{}", ""));
  CHECK(SafetensorsFile::open(path)->tensors().empty());
}

TEST_CASE("safetensors: writer -> reader round trip is bit exact for f32, f16, bf16") {
  auto dir = precis::test::scratch_dir("st-roundtrip");
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    const std::string path = dir + "/rt-" + std::string(dtype_name(dt)) + ".safetensors";
    const std::vector<std::pair<std::string, std::vector<int64_t>>> specs = {
        {"z.last_declared_first", {3, 5}}, {"a.scalar", {}}, {"m.empty", {0, 4}}, {"b.vec", {7}}};
    std::vector<std::vector<unsigned char>> bytes;
    SafetensorsWriter w(path);
    for (const auto& [name, shape] : specs) {
      w.declare(name, dt, shape);
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      std::vector<unsigned char> b(static_cast<size_t>(n) * dtype_size(dt));
      for (int64_t i = 0; i < n; ++i) {
        const float v = dist(rng);
        unsigned char* p = b.data() + static_cast<size_t>(i) * dtype_size(dt);
        if (dt == DType::F32) std::memcpy(p, &v, 4);
        uint16_t h = dt == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
        if (dt != DType::F32) std::memcpy(p, &h, 2);
      }
      bytes.push_back(std::move(b));
    }
    w.begin_data();
    for (const auto& b : bytes) {
      // Split the appends to check that a tensor may arrive in pieces.
      const size_t half = b.size() / 2;
      w.append(b.data(), half);
      w.append(b.data() + half, b.size() - half);
    }
    w.finish();

    auto f = SafetensorsFile::open(path);
    REQUIRE(f->tensors().size() == specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      const TensorView& t = f->tensors().at(specs[i].first);
      CHECK(t.dtype == dt);
      CHECK(t.shape == specs[i].second);
      REQUIRE(t.nbytes == bytes[i].size());
      CHECK((t.nbytes == 0 || std::memcmp(t.data, bytes[i].data(), t.nbytes) == 0));
    }

    // Header padded to 8 bytes so the data section is aligned, and declaration order kept.
    std::ifstream in(path, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint64_t hlen = 0;
    for (int i = 0; i < 8; ++i)
      hlen |= static_cast<uint64_t>(static_cast<unsigned char>(all[static_cast<size_t>(i)]))
              << (8 * i);
    CHECK(hlen % 8 == 0);
    const std::string header = all.substr(8, hlen);
    CHECK(header.find("z.last_declared_first") < header.find("a.scalar"));
  }
}

TEST_CASE("safetensors: writer rejects missing or extra bytes") {
  auto dir = precis::test::scratch_dir("st-writer-errors");
  {
    SafetensorsWriter w(dir + "/short.safetensors");
    w.declare("x", DType::F32, {4});
    w.begin_data();
    float v[3] = {1, 2, 3};
    w.append(v, sizeof v);
    CHECK_THROWS_WITH(w.finish(), Contains("short.safetensors"));
  }
  {
    SafetensorsWriter w(dir + "/long.safetensors");
    w.declare("x", DType::F32, {1});
    w.begin_data();
    float v[2] = {1, 2};
    CHECK_THROWS_WITH(w.append(v, sizeof v), Contains("long.safetensors"));
  }
  SafetensorsWriter w(dir + "/no-such-dir/x.safetensors");
  w.declare("x", DType::F32, {1});
  CHECK_THROWS_WITH(w.begin_data(), Contains("no-such-dir/x.safetensors"));
}

TEST_CASE("weight store: sharded index with a tensor missing from its shard") {
  auto dir = precis::test::scratch_dir("st-sharded-missing");
  write_bytes(dir + "/model-00001-of-00002.safetensors",
              raw_file(obj({tensor_json("a", "F32", "[1]", "[0,4]")}), std::string(4, 0)));
  write_bytes(dir + "/model-00002-of-00002.safetensors",
              raw_file(obj({tensor_json("b", "F32", "[1]", "[0,4]")}), std::string(4, 0)));
  write_bytes(
      dir + "/model.safetensors.index.json",
      R"({"metadata": {"total_size": 8}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                  "b": "model-00002-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}})");
  try {
    WeightStore::open_dir(dir);
    FAIL("expected LoadError");
  } catch (const LoadError& e) {
    CHECK_THAT(e.what(), Contains("model.safetensors.index.json"));
    CHECK_THAT(e.what(), Contains("missing tensor 'c' in shard model-00002-of-00002.safetensors"));
  }

  // Without the stray entry it loads, and only the mapped tensors are visible.
  write_bytes(dir + "/model.safetensors.index.json",
              R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
                  "b": "model-00002-of-00002.safetensors"}})");
  auto ws = WeightStore::open_dir(dir);
  CHECK(ws.size() == 2);
  CHECK(ws.find("a") != nullptr);
  CHECK(ws.get("b").file == dir + "/model-00002-of-00002.safetensors");
  CHECK_THROWS_WITH(ws.get("nope"), Contains("missing tensor 'nope'") && Contains(dir));

  // A shard that is not there names the shard file.
  write_bytes(dir + "/model.safetensors.index.json",
              R"({"weight_map": {"a": "model-00009-of-00009.safetensors"}})");
  CHECK_THROWS_WITH(WeightStore::open_dir(dir), Contains("model-00009-of-00009.safetensors"));
  write_bytes(dir + "/model.safetensors.index.json", R"({"weight_map": [1]})");
  CHECK_THROWS_WITH(WeightStore::open_dir(dir), Contains("'weight_map'"));
}

TEST_CASE("weight store: directory without index") {
  auto dir = precis::test::scratch_dir("st-dir");
  CHECK_THROWS_WITH(WeightStore::open_dir(dir), Contains("no *.safetensors files in"));
  write_bytes(dir + "/b.safetensors",
              raw_file(obj({tensor_json("x", "F32", "[1]", "[0,4]")}), std::string(4, 0)));
  write_bytes(dir + "/a.safetensors",
              raw_file(obj({tensor_json("y", "F32", "[1]", "[0,4]")}), std::string(4, 0)));
  auto ws = WeightStore::open_dir(dir);
  CHECK(ws.size() == 2);
  CHECK(ws.dir() == dir);
  // The same name in two files is ambiguous.
  write_bytes(dir + "/c.safetensors",
              raw_file(obj({tensor_json("x", "F32", "[1]", "[0,4]")}), std::string(4, 0)));
  CHECK_THROWS_WITH(WeightStore::open_dir(dir),
                    Contains("tensor 'x'") && Contains("c.safetensors"));
}

TEST_CASE("dtype: f16 -> f32 -> f16 is the identity for every finite f16") {
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0) continue;  // NaN
    const auto h16 = static_cast<uint16_t>(h);
    INFO("h = " << h);
    REQUIRE(f32_to_f16(f16_to_f32(h16)) == h16);
  }
  CHECK(f32_to_f16(std::numeric_limits<float>::quiet_NaN()) != 0x7c00);
  CHECK(std::isnan(f16_to_f32(0x7e00)));
}

#if defined(__F16C__)
TEST_CASE("dtype: f16 conversion agrees with the F16C instructions") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float ours = f16_to_f32(static_cast<uint16_t>(h));
    const float hw = _cvtsh_ss(static_cast<unsigned short>(h));
    if (std::isnan(hw)) {
      REQUIRE(std::isnan(ours));
    } else {
      REQUIRE(std::memcmp(&ours, &hw, 4) == 0);
    }
  }
  std::mt19937_64 rng(7);
  auto check = [](float f) {
    const uint16_t hw = static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
    INFO("f = " << f);
    REQUIRE(f32_to_f16(f) == hw);
  };
  for (int i = 0; i < 2'000'000; ++i) {
    // Random bit patterns cover every exponent; NaN payloads legitimately differ.
    uint32_t bits = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &bits, 4);
    if (!std::isnan(f)) check(f);
    // And values near the f16 range, where rounding, subnormals and overflow happen.
    std::uniform_real_distribution<float> near(-70000.0f, 70000.0f);
    check(near(rng));
    check(std::ldexp(near(rng), -40));
  }
  // Exact ties: round half to even in normal, subnormal and overflow ranges.
  for (float f : {1.0f + std::ldexp(1.0f, -11), 1.0f + 3 * std::ldexp(1.0f, -11),
                  std::ldexp(1.0f, -25), 3 * std::ldexp(1.0f, -25), 65504.0f, 65519.0f, 65520.0f,
                  -65520.0f, std::numeric_limits<float>::infinity(), 0.0f, -0.0f})
    check(f);
}
#endif
