// Every quantized type through the whole model: a GGUF whose weight matrices are blocks of one
// type scores exactly as the same GGUF with those matrices dequantized to f32 (by
// dequantize_row, which test_quant checks bit for bit against the `gguf` package). So prefill
// and decode computing from the blocks equal computing from the weights they encode.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "engine/cpu_isa.hpp"
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

std::vector<float> logits(const std::string& model, const std::vector<int>& tokens,
                          bool int8_activations = false, int max_batched_tokens = 512) {
  EngineOptions o;
  o.model_dir = model;
  o.kv_cache_mb = 16;
  o.int8_activations = int8_activations;
  o.scheduler.max_batched_tokens = max_batched_tokens;
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

// log-probs of `text` by `precis score` under PRECIS_CPU_ISA=isa (a process of its own: the
// variant is fixed per process), with 8-bit activations.
std::vector<double> int8_logprobs(const std::string& model, const std::string& isa,
                                  const std::string& text) {
  std::string out;
  REQUIRE(precis::test::run_command("PRECIS_CPU_ISA=" + isa + " " + std::string(PRECIS_BINARY) +
                                        " score --json --activations int8 --kv-cache-mb 16 "
                                        "--model " +
                                        model + " --prompt '" + text + "' 2>/dev/null",
                                    &out) == 0);
  std::vector<double> lp;
  const nlohmann::json parsed = nlohmann::json::parse(out);  // outlives the loop below
  for (const auto& v : parsed["logprobs"])
    if (!v.is_null()) lp.push_back(v.get<double>());
  return lp;
}

TEST_CASE(
    "every quantized type: 8-bit activations, interleaved GEMM or row kernels, agree; "
    "batching changes no bit") {
  // With int8 activations on a CPU with AVX-512 VNNI the engine repacks these matrices for the
  // interleaved GEMM; with the AVX2 variant it runs the row kernels' dot_q8. Both compute the
  // same integer sums, so the two differ by float summation order only. (Against the f32 path
  // they differ by the activations' rounding, which these random weights amplify without bound:
  // test_int8_activations checks that bound one matmul at a time.)
  const std::string hf = precis::test::cached_model("small", 4, DType::F32);
  const std::string dir = precis::test::scratch_dir("tensor-types-int8");
  REQUIRE(precis::test::run_command(std::string(PRECIS_BINARY) + " quantize --model " + hf +
                                    " --type f32 --out " + dir + "/base.gguf >/dev/null") == 0);
  std::vector<int> tokens = {1};
  for (int i = 1; i < 24; ++i) tokens.push_back(5 + (i * 97) % 1500);
  const bool both = cpu_isa_available(CpuIsa::avx512);
  if (!both) WARN("skipped the interleaved-vs-row-kernel comparison: no AVX-512 VNNI here");
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                        GgmlType::Q5_1, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    const std::string name(ggml_type_info(type).name);
    DYNAMIC_SECTION(name) {
      const std::string q = dir + "/q-" + name + ".gguf";
      write_pair(dir + "/base.gguf", type, q, dir + "/d-" + name + ".gguf");
      // Prefill in steps of 5 tokens: other GEMM tile shapes, the same bits.
      CHECK(logits(q, tokens, true, 5) == logits(q, tokens, true));
      if (!both) continue;
      const std::string text = "In the beginning God created the heaven and the earth";
      const std::vector<double> a = int8_logprobs(q, "avx512", text);
      const std::vector<double> b = int8_logprobs(q, "avx2", text);
      REQUIRE(a.size() == b.size());
      double worst = 0, scale = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, std::fabs(a[i] - b[i]));
        scale = std::max(scale, std::fabs(b[i]));
      }
      INFO(name << ": largest log-prob difference " << worst << " of " << scale);
      // As the f32 test above: float rounding amplified through 4 random layers, where a wrong
      // layout or scale would differ by the log-probs' own size.
      CHECK(worst <= 1e-2 * scale + 1e-3);
    }
  }
}
