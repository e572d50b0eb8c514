// The engine's on-device sampling path (Backend::forward_sample), exercised on the CPU with a
// backend that "samples on its device" by running the host algorithm on the uniform draw it is
// handed. The engine must produce exactly what host sampling produces: the same forks for n and
// best_of, the same draws from each sequence's seeded generator, the same rows, and host
// sampling for requests with penalties.
#include <catch2/catch.hpp>

#include "engine/cpu_backend.hpp"
#include "engine/engine.hpp"
#include "engine/json_grammar.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;
using precis::test::cached_model;

namespace {

class SamplingCpuBackend final : public Backend {
 public:
  SamplingCpuBackend(const ModelWeights& w, int blocks, int block_size, int* device_draws)
      : cpu_(w, blocks, block_size), device_draws_(device_draws) {}
  std::string name() const override { return "sampling-cpu"; }
  const ModelConfig& config() const override { return cpu_.config(); }
  int num_blocks() const override { return cpu_.num_blocks(); }
  int block_size() const override { return cpu_.block_size(); }
  void copy_blocks(std::span<const BlockCopy> copies) override { cpu_.copy_blocks(copies); }
  void forward(std::span<const BatchSequence> batch, std::vector<float>& logits) override {
    cpu_.forward(batch, logits);
  }
  bool samples_on_device() const override { return true; }
  void forward_sample(std::span<const BatchSequence> batch, std::span<const RowSampling> rows,
                      std::vector<SampleResult>& results) override {
    std::vector<float> logits;
    cpu_.forward(batch, logits);
    const size_t V = static_cast<size_t>(config().vocab_size);
    results.clear();
    for (const RowSampling& r : rows) {
      REQUIRE(!has_penalties(*r.params));
      results.push_back(
          sample_token_with_uniform(std::span<const float>(logits.data() + r.logits_row * V, V),
                                    *r.params, {}, {}, r.uniform));
      ++*device_draws_;
    }
  }

 private:
  CpuBackend cpu_;
  int* device_draws_;
};

EngineOptions options(int* device_draws) {
  EngineOptions o;
  o.model_dir = cached_model("tiny", 11, DType::F32);
  o.kv_cache_mb = 32;
  if (device_draws) {
    o.backend_factory = [device_draws](const ModelWeights& w, int block_size) {
      const int blocks = kv_blocks_for_budget(w.config, block_size, 32);
      return std::make_unique<SamplingCpuBackend>(w, blocks, block_size, device_draws);
    };
  }
  return o;
}

// Runs three requests together (so draws from several sequences share each step).
std::vector<GenerationResult> run(Engine& e, const std::vector<SamplingParams>& params) {
  const char* prompts[] = {"In the beginning", "And the LORD spake unto Moses, saying",
                           "Blessed are the meek"};
  for (size_t i = 0; i < params.size(); ++i)
    e.add_request(e.tokenizer().encode(prompts[i % 3], true), params[i]);
  while (e.step()) {
  }
  auto out = e.take_finished();
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

}  // namespace

TEST_CASE("sampling on the device gives exactly what host sampling gives") {
  std::vector<SamplingParams> params(5);
  params[0].temperature = 0;  // greedy
  params[1].temperature = 0.8f, params[1].top_k = 20, params[1].seed = 7, params[1].n = 3;
  params[2].temperature = 1.2f, params[2].top_p = 0.9f, params[2].seed = 8, params[2].n = 2,
  params[2].best_of = 4;
  params[3].temperature = 1.0f, params[3].min_p = 0.05f, params[3].seed = 9, params[3].logprobs = 5;
  params[4].temperature = 0.9f, params[4].seed = 10, params[4].repetition_penalty = 1.3f;
  for (auto& p : params) p.max_tokens = 24, p.ignore_eos = true;
  params[4].max_tokens = 4;  // the penalised request leaves early; later steps go to the device

  Engine host(options(nullptr));
  int device_draws = 0;
  Engine device(options(&device_draws));
  const auto a = run(host, params);
  const auto b = run(device, params);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("request " << i);
    REQUIRE(a[i].completions.size() == b[i].completions.size());
    for (size_t c = 0; c < a[i].completions.size(); ++c) {
      CHECK(a[i].completions[c].tokens == b[i].completions[c].tokens);
      CHECK(a[i].completions[c].logprobs == b[i].completions[c].logprobs);
      CHECK(a[i].completions[c].top_logprobs.size() == b[i].completions[c].top_logprobs.size());
    }
  }
  // The device path was taken for the steps without a penalised request, and the penalised
  // request forced host sampling for the steps it was in.
  CHECK(device_draws > 0);
  CHECK(device_draws < 24 * (1 + 3 + 4 + 1) + 4);
  CHECK(device.kv_stats().blocks_used == 0);
}

TEST_CASE("constrained requests are sampled on the host, the same as without device sampling") {
  // The mask is applied to host logits, so a backend that samples on its device is bypassed for
  // every step a constrained request is in, and the tokens equal the host-only engine's.
  std::vector<SamplingParams> params(2);
  for (auto& p : params) p.max_tokens = 16, p.temperature = 1.0f, p.seed = 3, p.n = 2;
  params[1].constraint = JsonGrammar::any_object();
  Engine host(options(nullptr));
  int device_draws = 0;
  Engine device(options(&device_draws));
  const auto a = run(host, params);
  const auto b = run(device, params);
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (size_t i = 0; i < 2; ++i)
    for (size_t c = 0; c < a[i].completions.size(); ++c)
      CHECK(a[i].completions[c].tokens == b[i].completions[c].tokens);
  for (const auto& c : b[1].completions) CHECK(c.text.find_first_not_of(' ') == c.text.find('{'));
  // Only the unconstrained request's steps after the constrained one finished used the device.
  CHECK(device_draws <= 2 * 16);
}

TEST_CASE("a backend factory sizes its own KV cache: kv_cache_mb 0 is accepted") {
  // The CUDA default: --kv-cache-mb left out means "the rest of the GPU's memory share", which
  // the factory works out. Only the engine's own CPU backend needs a positive budget.
  int draws = 0;
  EngineOptions o = options(&draws);
  o.kv_cache_mb = 0;
  Engine e(o);
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 3;
  p.ignore_eos = true;
  CHECK(e.generate_tokens(e.tokenizer().encode("In the beginning", true), p)
            .completions.at(0)
            .tokens.size() == 3);
  EngineOptions cpu = options(nullptr);
  cpu.kv_cache_mb = 0;
  CHECK_THROWS_WITH(Engine(cpu), "--kv-cache-mb must be positive");
}
