// Every quantized type through the whole model: a GGUF whose weight matrices are blocks of one
// type scores exactly as the same GGUF with those matrices dequantized to f32 (by
// dequantize_row, which test_quant checks bit for bit against the `gguf` package). So prefill
// and decode computing from the blocks equal computing from the weights they encode.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>

#include "engine/dtype.hpp"
#include "engine/engine.hpp"
#include "engine/gguf.hpp"
#include "engine/gguf_writer.hpp"
#include "engine/quant.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

namespace {

// Random blocks of `type` whose f16 scale fields are small, finite values (random bytes
// elsewhere), so the weights are varied but the activations stay in range.
std::vector<std::byte> random_blocks(GgmlType type, uint64_t bytes, std::mt19937& rng) {
  std::vector<std::byte> out(bytes);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
  const GgmlTypeInfo info = ggml_type_info(type);
  std::uniform_real_distribution<float> scale(0.0005f, 0.004f);
  for (uint64_t at = 0; at < bytes; at += info.block_bytes) {
    auto put = [&](size_t offset, float v) {
      const uint16_t h = f32_to_f16(v);
      std::memcpy(out.data() + at + offset, &h, 2);
    };
    switch (type) {
      case GgmlType::Q6_K:
        put(208, scale(rng));  // d is last in block_q6_K
        break;
      case GgmlType::Q4_K:
      case GgmlType::Q5_K:
        put(0, scale(rng) / 8), put(2, scale(rng) / 8);  // d, dmin (times 6-bit scales)
        break;
      default:  // q8_0, q4_0, q5_0: d first; q4_1, q5_1: d then m
        put(0, scale(rng) * (type == GgmlType::Q8_0 ? 1 : 8));  // q8_0's q reach 127
        if (type == GgmlType::Q4_1 || type == GgmlType::Q5_1) put(2, -scale(rng) * 40);
    }
  }
  return out;
}

// Rewrites `src` with every 2-D weight whose rows are whole blocks of `type` as random blocks
// (`quantized`) or as the f32 values those blocks encode (`dequantized`).
void write_pair(const std::string& src, GgmlType type, const std::string& quantized,
                const std::string& dequantized) {
  const GgufFile f(src);
  GgufWriter q, d;
  for (const std::string& key : f.metadata_keys()) q.set(key, f.get(key)), d.set(key, f.get(key));
  std::mt19937 rng(11);
  int converted = 0;
  for (const GgufTensor& t : f.tensors()) {
    const bool convert = t.dims.size() == 2 && t.name != "token_embd.weight" &&
                         ggml_row_bytes(type, static_cast<uint64_t>(t.dims[0])).has_value();
    if (!convert) {
      q.add_tensor(t.name, t.dims, t.type, t.data, t.nbytes);
      d.add_tensor(t.name, t.dims, t.type, t.data, t.nbytes);
      continue;
    }
    ++converted;
    const int64_t cols = t.dims[0], rows = t.dims[1];
    const uint64_t row_bytes = quant_row_bytes(type, cols);
    const std::vector<std::byte> blocks = random_blocks(type, row_bytes * rows, rng);
    std::vector<float> values(static_cast<size_t>(cols * rows));
    for (int64_t r = 0; r < rows; ++r)
      dequantize_row(type, blocks.data() + r * row_bytes, values.data() + r * cols, cols);
    q.add_tensor(t.name, t.dims, type, blocks.data(), blocks.size());
    d.add_tensor(t.name, t.dims, GgmlType::F32, values.data(), values.size() * sizeof(float));
  }
  REQUIRE(converted >= 4);
  q.write(quantized);
  d.write(dequantized);
}

std::vector<float> logits(const std::string& model, const std::vector<int>& tokens) {
  EngineOptions o;
  o.model_dir = model;
  o.kv_cache_mb = 16;
  Engine e(o);
  return e.logits_all(tokens);
}

}  // namespace

TEST_CASE("every quantized type: the model computes from blocks as from their f32 values") {
  // "small": hidden 256 (whole q4_K/q5_K/q6_K super-blocks for q/k/v/o/gate/up; ffn_down's
  // 688-long rows stay f32 for the K types).
  const std::string hf = precis::test::cached_model("small", 4, DType::F32);
  const std::string dir = precis::test::scratch_dir("tensor-types");
  REQUIRE(precis::test::run_command(std::string(PRECIS_BINARY) + " quantize --model " + hf +
                                    " --type f32 --out " + dir + "/base.gguf >/dev/null") == 0);
  std::vector<int> tokens = {1};
  for (int i = 1; i < 24; ++i) tokens.push_back(5 + (i * 97) % 1500);
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                        GgmlType::Q5_1, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    const std::string name(ggml_type_info(type).name);
    DYNAMIC_SECTION(name) {
      write_pair(dir + "/base.gguf", type, dir + "/q-" + name + ".gguf",
                 dir + "/d-" + name + ".gguf");
      const auto a = logits(dir + "/q-" + name + ".gguf", tokens);
      const auto b = logits(dir + "/d-" + name + ".gguf", tokens);
      REQUIRE(a.size() == b.size());
      double worst = 0, scale = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        REQUIRE(std::isfinite(a[i]));
        worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(double(b[i])));
      }
      INFO(name << ": largest logit difference " << worst << " of " << scale);
      // Float rounding only (summation order), amplified through 4 random layers; a wrong
      // block layout would differ by the logits' own size.
      CHECK(worst <= 1e-3 * scale);
    }
  }
}
