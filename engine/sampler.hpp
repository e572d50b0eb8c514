// Turns one row of logits into a token: penalties, temperature, top-k, top-p, min-p, seeded
// random draw, and the log-probability of the chosen token.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/sampling_params.hpp"

namespace precis::engine {

struct TokenLogprob {
  int token = 0;
  float logprob = 0.0f;
};

struct SampleResult {
  int token = 0;
  float logprob = 0.0f;  // log-softmax of the raw (unpenalised, untempered) logits at `token`
  std::vector<TokenLogprob> top;  // top `params.logprobs` alternatives by raw log-prob, best first
};

// Below this temperature a division by it would overflow or make sampling indistinguishable from
// argmax, so sampling is greedy and draws nothing (vLLM uses the same cut-off).
constexpr float kGreedyBelow = 1e-5f;

// The one uniform draw in [0, 1) a sampled token consumes. Our own conversion instead of
// std::uniform_real_distribution, whose algorithm differs between standard libraries: the same
// seed must give the same tokens everywhere (and on every backend: on-device sampling is handed
// this value).
double uniform01(std::mt19937_64& rng);

// A sequence's random source: std::mt19937_64, seeded from params.seed (mixed with the sample
// index so n samples differ) or from std::random_device when no seed is given.
std::mt19937_64 make_rng(const std::optional<uint64_t>& seed, uint64_t sample_index);

// `logits` is one row (vocab size). `prompt_tokens` feeds the repetition penalty together with
// `output_tokens`; presence/frequency penalties count `output_tokens` only (as OpenAI and vLLM do).
SampleResult sample_token(std::span<const float> logits, const SamplingParams& params,
                          std::span<const int> prompt_tokens, std::span<const int> output_tokens,
                          std::mt19937_64& rng);

// sample_token with the random draw already made: `uniform` is what sample_token would take from
// `rng` (uniform01, drawn only when temperature >= kGreedyBelow). Backends that sample on the
// device follow the same algorithm with the same draw, so seeds give the same tokens everywhere.
SampleResult sample_token_with_uniform(std::span<const float> logits, const SamplingParams& params,
                                       std::span<const int> prompt_tokens,
                                       std::span<const int> output_tokens, double uniform);

// True when params change logits by the tokens seen so far (repetition, presence, frequency);
// such rows are sampled on the host.
inline bool has_penalties(const SamplingParams& p) {
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
}

// The penalty step of sample_token, in place: repetition penalty over the distinct tokens of
// prompt and output, then frequency and presence penalties over output counts. Token ids outside
// the row are ignored. Exposed so the exact arithmetic can be tested.
void apply_penalties(std::span<float> logits, const SamplingParams& params,
                     std::span<const int> prompt_tokens, std::span<const int> output_tokens);

// log-softmax of a row, in f64 accumulation for accuracy (NaN logits count as impossible).
std::vector<float> log_softmax(std::span<const float> logits);
// One entry of it: log p(token) under the row. The one log-softmax of the engine: sampling,
// beam search and scoring all go through these two.
float token_logprob(std::span<const float> logits, int token);

// The earliest position in `text` where any stop string occurs, or npos.
size_t find_stop(const std::string& text, const std::vector<std::string>& stop);

}  // namespace precis::engine
