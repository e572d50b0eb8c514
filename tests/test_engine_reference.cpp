// The engine's logits against an independent PyTorch implementation of the Llama forward pass
// (tests/reference/llama_reference.py), and the paged, batched path against a single sequence
// laid out contiguously.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "engine/cpu_backend.hpp"
#include "engine/engine.hpp"
#include "engine/model_weights.hpp"
#include "tests/reference_support.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;
using precis::test::cached_model;

namespace {

using precis::test::kReferencePython;
using precis::test::max_row_relative_error;
using precis::test::reference_logits;

std::vector<int> some_tokens(int n, int vocab, int salt) {
  std::vector<int> t{1};
  for (int i = 1; i < n; ++i) t.push_back(3 + (i * 37 + salt * 11) % (vocab - 3));
  return t;
}

}  // namespace

// f32 KV: the exact path, within float rounding (1e-4). f16 KV: each stored K and V element is
// rounded to 11 significant bits (relative error <= 2^-12 = 2.4e-4); through a few layers of
// attention that stays within 2e-3 of the logits' row scale.
TEST_CASE(
    "logits agree with the PyTorch reference: 1e-4 relative with an f32 KV cache, 2e-3 "
    "with f16",
    "[reference]") {
  if (!std::filesystem::exists(kReferencePython) ||
      precis::test::run_command(std::string(kReferencePython) +
                                " -c 'import torch, numpy' 2>/dev/null") != 0) {
    FAIL("PyTorch is required: apt-get install python3-torch python3-numpy");
  }
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (const char* preset : {"tiny", "small"})
      for (KvCacheDtype kv : {KvCacheDtype::f32, KvCacheDtype::f16}) {
        DYNAMIC_SECTION(preset << " " << dtype_name(dt) << ", KV " << kv_cache_dtype_name(kv)) {
          const std::string dir = cached_model(preset, 7, dt);
          EngineOptions o;
          o.model_dir = dir;
          o.kv_cache_mb = 64;
          o.kv_cache_dtype = kv;
          Engine eng(o);
          const auto tokens = some_tokens(40, eng.tokenizer().vocab_size(), 1);
          const auto ours = eng.logits_all(tokens);
          const auto ref = reference_logits(dir, tokens);
          REQUIRE(ours.size() == ref.size());
          const double err = max_row_relative_error(ours, ref, eng.config().vocab_size);
          INFO("max row-relative error " << err);
          CHECK(err < (kv == KvCacheDtype::f32 ? 1e-4 : 2e-3));
        }
      }
}

TEST_CASE("paged batched forward equals a single contiguous sequence", "[paged]") {
  const std::string dir = cached_model("tiny", 3, DType::F32);
  ModelWeights w = load_model_weights(dir);
  const int V = w.config.vocab_size, bs = 4;
  const auto a = some_tokens(23, 300, 1), b = some_tokens(9, 300, 2), c = some_tokens(17, 300, 3);

  // Reference: sequence `a` alone, blocks 0,1,2,... in order, all tokens in one call.
  CpuBackend contiguous(w, 64, bs);
  std::vector<int> table_a(8);
  std::iota(table_a.begin(), table_a.end(), 0);
  BatchSequence only_a{a, 0, table_a, true};
  std::vector<float> want;
  contiguous.forward(std::span<const BatchSequence>(&only_a, 1), want);

  // Paged: scattered blocks, `a` split into chunks of different sizes, batched with b and c.
  CpuBackend paged(w, 64, bs);
  std::vector<int> ta{40, 3, 17, 9, 60, 22}, tb{5, 33, 12}, tc{50, 1, 2, 44, 7};
  std::vector<float> got;
  const std::vector<int> cuts{0, 5, 6, 16, 23};  // chunk sizes 5, 1, 10, 7
  for (size_t k = 0; k + 1 < cuts.size(); ++k) {
    std::span<const int> chunk(a.data() + cuts[k], cuts[k + 1] - cuts[k]);
    std::vector<BatchSequence> batch;
    if (k == 1) batch.push_back({b, 0, tb, false});
    batch.push_back({chunk, cuts[k], ta, true});
    if (k == 2) batch.push_back({c, 0, tc, true});
    std::vector<float> logits;
    paged.forward(batch, logits);
    const size_t offset = (k == 1) ? V : 0;  // b contributes its last row first
    got.insert(got.end(), logits.begin() + offset, logits.begin() + offset + chunk.size() * V);
  }
  REQUIRE(got.size() == want.size());
  double worst = 0.0;
  size_t first_diff = got.size();
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i] && first_diff == got.size()) first_diff = i;
    worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
  }
  INFO("largest difference " << worst << ", first at row " << first_diff / V);
  // Same arithmetic in the same order whatever the batch: bit-identical.
  CHECK(worst == 0.0);
}
