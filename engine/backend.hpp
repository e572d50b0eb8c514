// The one forward-pass interface every backend implements. It serves prefill, chunked prefill,
// decode, scoring and beam search alike: a batch of sequences, each with the new tokens to run,
// the position of the first one, and the block table saying where its KV lives. The backend owns
// the KV memory; the block manager (kv_cache.hpp) owns the bookkeeping.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "engine/kv_cache.hpp"
#include "engine/model_config.hpp"

namespace precis::engine {

struct BatchSequence {
  std::span<const int> tokens;       // new tokens; their K/V are written to the cache
  int start_pos = 0;                 // position of tokens[0] == tokens already in the cache
  std::span<const int> block_table;  // covers start_pos + tokens.size() positions
  bool all_logits = false;           // logits for every new token (scoring), else the last only
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
};

// Number of KV blocks that fit in `megabytes` for this model with f32 K and V.
int kv_blocks_for_budget(const ModelConfig& c, int block_size, double megabytes);

}  // namespace precis::engine
