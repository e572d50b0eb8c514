// The f16 KV cache of the CPU backend: its kernels against scalar references, memory per token,
// the engine's log-probs against the f32 cache, and the option's errors. (The logits of both
// against an independent PyTorch forward pass: test_engine_reference.)
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "engine/cpu_backend.hpp"
#include "engine/cpu_kv_kernels.hpp"
#include "engine/dtype.hpp"
#include "engine/engine.hpp"
#include "middleware/device.hpp"
#include "precis/precis.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;
using namespace precis::engine::cpu;
using precis::test::cached_model;

namespace {

std::vector<float> random_values(int n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace

TEST_CASE("f16 KV kernels equal their scalar definitions on every length") {
  // Lengths around the 8- and 16-wide vector steps, and head sizes models use.
  for (int n : {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 80, 128, 130}) {
    DYNAMIC_SECTION("n = " << n) {
      auto x = random_values(n, 11u + n, 3.f);
      x[0] = 1e-6f;               // an f16 subnormal
      if (n > 2) x[2] = 70000.f;  // past f16's range: rounds to infinity, as IEEE says
      std::vector<uint16_t> h(static_cast<size_t>(n));
      store_f16(x.data(), h.data(), n);
      for (int i = 0; i < n; ++i) CHECK(h[i] == f32_to_f16(x[i]));  // round to nearest even
      if (n > 2) x[2] = h[2] = 0;                                   // keep the sums finite below
      if (n > 2) h[2] = f32_to_f16(0.f);

      const auto q = random_values(n, 99u + n, 1.f);
      double want = 0;
      for (int i = 0; i < n; ++i) want += static_cast<double>(q[i]) * f16_to_f32(h[i]);
      double mag = 0;
      for (int i = 0; i < n; ++i) mag += std::fabs(q[i] * f16_to_f32(h[i]));
      CHECK(std::fabs(dot_f16(q.data(), h.data(), n) - want) <= 1e-6 * mag + 1e-7);

      auto y = random_values(n, 7u + n, 1.f);
      const auto y0 = y;
      axpy_f16(0.37f, h.data(), y.data(), n);
      for (int i = 0; i < n; ++i)
        CHECK(y[i] == Approx(y0[i] + 0.37f * f16_to_f32(h[i])).epsilon(1e-6).margin(1e-6));
    }
  }
}

TEST_CASE("an f16 KV cache holds twice the tokens of an f32 one in the same memory") {
  const ModelConfig c = load_model_weights(cached_model("tiny", 3, DType::F32)).config;
  for (double mb : {1.0, 8.0, 100.0}) {
    const int f16 = kv_blocks_for_budget(c, 16, mb, KvCacheDtype::f16);
    const int f32 = kv_blocks_for_budget(c, 16, mb, KvCacheDtype::f32);
    CHECK(f16 >= 2 * f32);
    CHECK(f16 <= 2 * f32 + 1);
  }
}

TEST_CASE("log-probs with an f16 KV cache stay within a few thousandths of a nat of f32") {
  const std::string dir = cached_model("small", 5, DType::F32);
  auto engine_with = [&](KvCacheDtype kv) {
    EngineOptions o;
    o.model_dir = dir;
    o.kv_cache_mb = 32;
    o.kv_cache_dtype = kv;
    return std::make_unique<Engine>(o);
  };
  auto half = engine_with(KvCacheDtype::f16), full = engine_with(KvCacheDtype::f32);
  const auto tokens = half->tokenizer().encode(
      "And it came to pass, when men began to multiply on the face of the earth, and daughters "
      "were born unto them, that the sons of God saw the daughters of men that they were fair.",
      true);
  REQUIRE(tokens.size() > 30);
  const auto a = half->score_tokens(tokens), b = full->score_tokens(tokens);
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 1; i < a.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  INFO("largest difference " << worst << " nats");
  CHECK(worst < 5e-3);
  CHECK(worst > 0);  // the f16 path really ran

  // Generation shares prompt blocks by copy-on-write (n = 3): same rules for f16 storage.
  SamplingParams p;
  p.n = 3;
  p.max_tokens = 12;
  p.temperature = 0.8f;
  p.seed = 5;
  const auto r1 = half->generate_tokens(tokens, p), r2 = half->generate_tokens(tokens, p);
  REQUIRE(r1.completions.size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(r1.completions[i].tokens == r2.completions[i].tokens);
}

TEST_CASE("the KV cache dtype option names what was wrong") {
  CHECK(precis::kv_cache_dtype_option("f16", "--kv-cache-dtype") == KvCacheDtype::f16);
  CHECK(precis::kv_cache_dtype_option("f32", "--kv-cache-dtype") == KvCacheDtype::f32);
  CHECK_THROWS_WITH(precis::kv_cache_dtype_option("bf16", "--kv-cache-dtype"),
                    "--kv-cache-dtype must be f16 or f32, got 'bf16'");
  CHECK_THROWS_WITH(precis::PipelineConfig::from_json(R"({"model": {"kv_cache_dtype": "q8"}})"),
                    Catch::Contains("kv_cache_dtype"));
  CHECK(precis::PipelineConfig::from_json(R"({"model": {"kv_cache_dtype": "f32"}})")
            .model.kv_cache_dtype == "f32");
  CHECK(precis::PipelineConfig().model.kv_cache_dtype == "f16");
}
