// The CUDA backend end to end against the CPU backend (the reference): logits, greedy tokens,
// seeded parallel samples, beam search, scoring, copy-on-write and KV bookkeeping, plus the
// device option's errors. Runs only with a CUDA device (tests/gpu/gpu_main.cpp).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "cuda/cuda_backend.hpp"
#include "engine/data_root.hpp"
#include "engine/engine.hpp"
#include "engine/gguf_quantize.hpp"
#include "middleware/device.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

namespace {

const std::string kDefaultModel = (precis::engine::data_root() / "models" / "default").string();

struct Fusions {
  bool decode_rope = false;
  bool gate_silu = false;
};

EngineOptions options(const std::string& dir, bool cuda, bool graphs = true, Fusions fusions = {}) {
  EngineOptions o;
  o.model_dir = dir;
  o.kv_cache_mb = 64;
  if (cuda) {
    precis::cuda::CudaBackendOptions co;
    co.kv_cache_mb = 64;  // explicit: tests may run side by side on one GPU
    co.cuda_graphs = graphs;
    co.fused_decode_rope = fusions.decode_rope;
    co.fused_gate_silu = fusions.gate_silu;
    o.backend_factory = [co](const ModelWeights& w, int block_size) {
      return precis::cuda::make_cuda_backend(w, block_size, co);
    };
  }
  return o;
}

// Largest |a - b| over rows, relative to each row's largest |b|.
double worst_row_error(const std::vector<float>& a, const std::vector<float>& b, int V) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t r = 0; r * V < a.size(); ++r) {
    double scale = 1e-6, err = 0;
    for (int i = 0; i < V; ++i) {
      scale = std::max(scale, std::fabs(static_cast<double>(b[r * V + i])));
      err = std::max(err, std::fabs(static_cast<double>(a[r * V + i]) - b[r * V + i]));
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

}  // namespace

TEST_CASE("CUDA logits match the CPU backend on tiny models in every dtype", "[gpu]") {
  // f32 weights run pedantic f32 GEMMs, so the differences come from the f16 KV cache and the
  // summation order (~1e-3 of the row's scale); f16/bf16 also round the GEMM inputs. `small` has
  // head_dim 32 and GQA ratio 2; tinyllama-shape has head_dim 64 and GQA ratio 8.
  struct Case {
    const char* preset;
    DType dtype;
    double tol;
  };
  const Case cases[] = {{"small", DType::F32, 5e-3},
                        {"small", DType::F16, 1e-2},
                        {"small", DType::BF16, 3e-2},
                        {"tinyllama-shape", DType::F16, 1e-2}};
  for (const Case& k : cases) {
    const std::string dir = precis::test::cached_model(k.preset, 5, k.dtype);
    Engine cpu(options(dir, false));
    Engine gpu(options(dir, true));
    CHECK(gpu.backend().name() == "cuda");
    std::vector<int> tokens = cpu.tokenizer().encode("In the beginning God created", true);
    for (int i = 0; tokens.size() < 40; ++i) tokens.push_back(3 + (i * 37) % 200);
    const auto a = gpu.logits_all(tokens);
    const auto b = cpu.logits_all(tokens);
    const double err = worst_row_error(a, b, cpu.config().vocab_size);
    INFO(k.preset << " dtype " << static_cast<int>(k.dtype) << " worst row-relative error " << err);
    CHECK(err < k.tol);
    CHECK(gpu.kv_stats().blocks_used == 0);
  }
}

TEST_CASE("CUDA runs quantized GGUF models as the CPU does", "[gpu]") {
  // precis quantize writes llama.cpp's layout: adjacent-pair rotary and every matrix (tied
  // embedding/head included) in blocks. Short prompts (T <= 8) take the GEMV kernel, long ones
  // dequantize to f16 for cuBLAS; the activations are f16 on the GPU and f32 on the CPU.
  const std::string hf = precis::test::cached_model("small", 5, DType::F32);
  const std::string dir = precis::test::scratch_dir("cuda-quant");
  for (GgmlType type :
       {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1}) {
    const std::string name(ggml_type_info(type).name);
    const std::string gguf = dir + "/small-" + name + ".gguf";
    quantize_model(hf, type, gguf);
    Engine cpu(options(gguf, false));
    Engine gpu(options(gguf, true));
    CHECK(gpu.config().rope_interleaved);
    std::vector<int> tokens = cpu.tokenizer().encode("In the beginning", true);
    for (int i = 0; tokens.size() < 40; ++i) tokens.push_back(3 + (i * 37) % 200);
    for (size_t len : {size_t{6}, tokens.size()}) {
      const std::vector<int> prompt(tokens.begin(), tokens.begin() + static_cast<long>(len));
      const double err =
          worst_row_error(gpu.logits_all(prompt), cpu.logits_all(prompt), cpu.config().vocab_size);
      INFO(name << ", " << len << " tokens: worst row-relative error " << err);
      CHECK(err < 2e-2);
    }
  }
}

TEST_CASE("CUDA greedy generation of 64 tokens is token-identical to the CPU", "[gpu]") {
  Engine cpu(options(kDefaultModel, false));
  Engine gpu(options(kDefaultModel, true));
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 64;
  p.ignore_eos = true;
  p.logprobs = 3;
  for (const char* prompt :
       {"And it came to pass", "The LORD is my shepherd; I shall not want.", "In the beginning"}) {
    INFO(prompt);
    const auto a = gpu.generate(prompt, p);
    const auto b = cpu.generate(prompt, p);
    REQUIRE(a.completions.size() == 1);
    CHECK(a.completions[0].tokens == b.completions[0].tokens);
    REQUIRE(a.completions[0].logprobs.size() == b.completions[0].logprobs.size());
    for (size_t i = 0; i < a.completions[0].logprobs.size(); ++i) {
      CHECK(std::fabs(a.completions[0].logprobs[i] - b.completions[0].logprobs[i]) < 1e-2);
      CHECK(a.completions[0].top_logprobs[i].size() == 3);
    }
  }
  CHECK(gpu.kv_stats().blocks_used == 0);
}

TEST_CASE("CUDA batches: concurrent requests, chunked prefill and parallel samples", "[gpu]") {
  EngineOptions go = options(kDefaultModel, true), co = options(kDefaultModel, false);
  go.scheduler.max_batched_tokens = co.scheduler.max_batched_tokens = 24;  // chunked prefill
  Engine cpu(co), gpu(go);
  SamplingParams greedy;
  greedy.temperature = 0, greedy.max_tokens = 32, greedy.ignore_eos = true;
  SamplingParams sampled;
  sampled.temperature = 0.7f, sampled.top_k = 40, sampled.top_p = 0.95f, sampled.seed = 1234;
  sampled.n = 4, sampled.max_tokens = 24, sampled.ignore_eos = true;
  const std::string long_prompt =
      "And Boaz said unto Ruth, Hearest thou not, my daughter? Go not to glean in another field, "
      "neither go from hence, but abide here fast by my maidens.";
  for (Engine* e : {&cpu, &gpu}) {
    e->add_request(e->tokenizer().encode(long_prompt, true), greedy);
    e->add_request(e->tokenizer().encode("Blessed are the meek", true), sampled);
    e->add_request(e->tokenizer().encode("In the beginning", true), greedy);
  }
  auto run = [](Engine& e) {
    while (e.step()) {
    }
    auto r = e.take_finished();
    std::sort(r.begin(), r.end(), [](auto& x, auto& y) { return x.id < y.id; });
    return r;
  };
  const auto b = run(cpu), a = run(gpu);
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    INFO("request " << i);
    REQUIRE(a[i].completions.size() == b[i].completions.size());
    // Seeded sampling draws the same uniform on both backends; the token can only differ when
    // that draw lands within ~1e-3 of a boundary between two tokens' probability mass.
    for (size_t c = 0; c < a[i].completions.size(); ++c)
      CHECK(a[i].completions[c].tokens == b[i].completions[c].tokens);
  }
  CHECK(gpu.kv_stats().blocks_used == 0);
}

TEST_CASE("CUDA beam search and scoring agree with the CPU", "[gpu]") {
  Engine cpu(options(kDefaultModel, false));
  Engine gpu(options(kDefaultModel, true));
  SamplingParams p;
  p.beam_width = 4;
  p.max_tokens = 16;
  const auto prompt = cpu.tokenizer().encode("And God said, Let there be light", true);
  const auto a = gpu.beam_search(prompt, p);
  const auto b = cpu.beam_search(prompt, p);
  REQUIRE(a.completions.size() == b.completions.size());
  for (size_t i = 0; i < a.completions.size(); ++i) {
    CHECK(a.completions[i].tokens == b.completions[i].tokens);
    CHECK(std::fabs(a.completions[i].cumulative_logprob - b.completions[i].cumulative_logprob) <
          5e-2);
  }
  const auto sa = gpu.score("Then Naomi her mother in law said unto her, My daughter.");
  const auto sb = cpu.score("Then Naomi her mother in law said unto her, My daughter.");
  REQUIRE(sa.tokens == sb.tokens);
  for (size_t i = 1; i < sa.logprobs.size(); ++i)
    CHECK(std::fabs(sa.logprobs[i] - sb.logprobs[i]) < 1e-2);
  CHECK(gpu.kv_stats().blocks_used == 0);
}

TEST_CASE("CUDA graphs: replayed decode steps equal eager ones, padding rows change nothing",
          "[gpu]") {
  Engine eager(options(kDefaultModel, true, false));
  Engine graphs(options(kDefaultModel, true, true));
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 40;
  p.ignore_eos = true;
  // 3 and 11 sequences: padded to the 4- and 16-row graphs; 1 sequence: the 1-row graph.
  for (int n : {1, 3, 11}) {
    INFO(n << " sequences");
    std::vector<precis::engine::GenerationResult> a, b;
    for (Engine* e : {&eager, &graphs}) {
      for (int i = 0; i < n; ++i)
        e->add_request(e->tokenizer().encode("And the LORD said unto " + std::to_string(i), true),
                       p);
      while (e->step()) {
      }
      auto r = e->take_finished();
      std::sort(r.begin(), r.end(), [](auto& x, auto& y) { return x.id < y.id; });
      (e == &eager ? a : b) = std::move(r);
    }
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].completions[0].tokens == b[i].completions[0].tokens);
      for (size_t k = 0; k < a[i].completions[0].logprobs.size(); ++k)
        CHECK(std::fabs(a[i].completions[0].logprobs[k] - b[i].completions[0].logprobs[k]) < 1e-3);
    }
  }
  CHECK(graphs.kv_stats().blocks_used == 0);
}

namespace {

// Greedy generations of n concurrent sequences, in request order.
std::vector<precis::engine::GenerationResult> greedy_batches(Engine& e, int n) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 8;
  p.ignore_eos = true;
  p.logprobs = 2;
  for (int i = 0; i < n; ++i)
    e.add_request(e.tokenizer().encode("And it came to pass " + std::to_string(i), true), p);
  while (e.step()) {
  }
  auto r = e.take_finished();
  std::sort(r.begin(), r.end(), [](auto& x, auto& y) { return x.id < y.id; });
  return r;
}

}  // namespace

TEST_CASE("CUDA decode fusions agree with the unfused backend", "[gpu]") {
  // The RoPE fused into decode attention gives the same bits by construction
  // (test_cuda_attention checks the kernel), so tokens and log-probs are compared with ==; the
  // fused gate/up + SiLU GEMV sums in another order than the default GEMV, so its log-probs get
  // a tolerance. Eager and graph-replayed, 1 sequence (one-row steps: both fusions apply) and 3
  // (the 4-row graph with a padding row: the RoPE fusion only); an f16 model (half-split
  // rotary, the dense GEMV) and a GGUF file (interleaved rotary; quantized weights, which the
  // SiLU fusion leaves alone). The emulator runs this slowly, so the runs are short.
  const std::string f16 = precis::test::cached_model("small", 5, DType::F16);
  const std::string hf = precis::test::cached_model("small", 5, DType::F32);
  const std::string gguf = precis::test::scratch_dir("cuda-fusions") + "/small-q8_0.gguf";
  quantize_model(hf, GgmlType::Q8_0, gguf);
  for (const std::string& model : {f16, gguf}) {
    for (bool graphs : {false, true}) {
      Engine unfused(options(model, true, graphs));
      Engine rope(options(model, true, graphs, {true, false}));
      Engine both(options(model, true, graphs, {true, true}));
      for (int n : {1, 3}) {
        INFO(model << (graphs ? " graphs, " : " eager, ") << n << " sequences");
        const auto a = greedy_batches(unfused, n);
        const auto b = greedy_batches(rope, n);
        const auto c = greedy_batches(both, n);
        REQUIRE(a.size() == b.size());
        REQUIRE(a.size() == c.size());
        for (size_t i = 0; i < a.size(); ++i) {
          CHECK(a[i].completions[0].tokens == b[i].completions[0].tokens);
          CHECK(a[i].completions[0].logprobs == b[i].completions[0].logprobs);
          CHECK(a[i].completions[0].tokens == c[i].completions[0].tokens);
          const auto& la = a[i].completions[0].logprobs;
          const auto& lc = c[i].completions[0].logprobs;
          REQUIRE(la.size() == lc.size());
          for (size_t k = 0; k < la.size(); ++k) CHECK(std::fabs(la[k] - lc[k]) < 1e-3);
        }
      }
      CHECK(rope.kv_stats().blocks_used == 0);
      CHECK(both.kv_stats().blocks_used == 0);
    }
  }
}

TEST_CASE("--device choices resolve on a machine with a GPU", "[gpu]") {
  EngineOptions eo;
  eo.model_dir = kDefaultModel;
  CHECK(precis::apply_device(eo, {"auto", 0.9, true}) == "cuda");
  CHECK(precis::apply_device(eo, {"cpu", 0.9, true}) == "cpu");
  CHECK_THROWS_WITH(precis::apply_device(eo, {"tpu", 0.9, true}),
                    Catch::Contains("--device must be cpu, cuda or auto"));
  eo.kv_cache_mb = 0;
  CHECK_THROWS_WITH(precis::apply_device(eo, {"cuda", 1.5, true}),
                    Catch::Contains("--gpu-memory-fraction"));
  CHECK(precis::cuda_unavailable_reason().empty());
}
