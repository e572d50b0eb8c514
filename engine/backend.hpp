// The one forward-pass interface every backend implements. It serves prefill, chunked prefill,
// decode, scoring and beam search alike: a batch of sequences, each with the new tokens to run,
// the position of the first one, and the block table saying where its KV lives. The backend owns
// the KV memory; the block manager (kv_cache.hpp) owns the bookkeeping.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/kv_cache.hpp"
#include "engine/kv_cache_dtype.hpp"
#include "engine/model_config.hpp"
#include "engine/sampler.hpp"

namespace precis::engine {

struct BatchSequence {
  std::span<const int> tokens;       // new tokens; their K/V are written to the cache
  int start_pos = 0;                 // position of tokens[0] == tokens already in the cache
  std::span<const int> block_table;  // covers start_pos + tokens.size() positions
  bool all_logits = false;           // logits for every new token (scoring), else the last only
  int logits_from = 0;               // with all_logits: positions below give none (but the last)
};

// One draw a backend that samples on its device makes: from logits row `logits_row` of the
// forward (rows in output order, as forward() returns them), with `params` (no penalties) and the
// sequence's uniform draw (see sample_token_with_uniform).
struct RowSampling {
  int logits_row = 0;
  const SamplingParams* params = nullptr;
  double uniform = 0.0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual const ModelConfig& config() const = 0;
  virtual int num_blocks() const = 0;
  virtual int block_size() const = 0;

  // Copy-on-write copies decided by the block manager; run before the forward that writes them.
  virtual void copy_blocks(std::span<const BlockCopy> copies) = 0;

  // Runs the model over the batch. `logits` receives, for each sequence in order, one row of
  // vocab_size floats per requested position (all new tokens, or the last one).
  virtual void forward(std::span<const BatchSequence> batch, std::vector<float>& logits) = 0;

  // Backends whose logits live in device memory sample there, so only token ids and log-probs
  // cross back: forward, then one SampleResult per entry of `rows`, in order.
  virtual bool samples_on_device() const { return false; }
  virtual void forward_sample(std::span<const BatchSequence> /*batch*/,
                              std::span<const RowSampling> /*rows*/,
                              std::vector<SampleResult>& /*results*/) {
    throw std::logic_error("the " + name() + " backend does not sample on its device");
  }
};

struct ModelWeights;
// Builds the backend for loaded weights; it decides how many KV blocks it can hold. Lets callers
// above the engine (which may know about GPUs) choose the backend without the engine knowing.
using BackendFactory =
    std::function<std::unique_ptr<Backend>(const ModelWeights& weights, int block_size)>;

// Number of KV blocks that fit in `megabytes` for this model with K and V stored as `dtype`.
int kv_blocks_for_budget(const ModelConfig& c, int block_size, double megabytes,
                         KvCacheDtype dtype = KvCacheDtype::f16);

}  // namespace precis::engine
