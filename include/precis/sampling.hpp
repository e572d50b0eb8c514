// A request's sampling parameters (OpenAI's and vLLM's names and meanings): one type from the
// JSON readers (config file, HTTP body) through the pipeline and the cache key to the engine's
// sampler, checked by one validate(), so that every layer accepts and refuses the same values.
//
// Deviation from DESIGN.md (which keeps the engine below, and independent of, the SDK): the
// engine includes this public header. It depends on the standard library only, so the engine
// still links nothing of the SDK; the engine adds its compiled form of response_format on its
// side (engine/sampling_params.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace precis {

// A sampling parameter out of range: field() names it ("top_p"), rule() says what is allowed and
// what was given ("must be in (0, 1], got 1.5"); what() is both ("top_p must be in ...").
class InvalidSamplingParam : public std::invalid_argument {
 public:
  InvalidSamplingParam(const std::string& field, const std::string& rule)
      : std::invalid_argument(field + " " + rule), field_(field), rule_(rule) {}
  const std::string& field() const { return field_; }
  const std::string& rule() const { return rule_; }

 private:
  std::string field_;
  std::string rule_;
};

// The defaults are the engine's (16 tokens, temperature 1); PipelineConfig starts its `generate`
// at 128 tokens and temperature 0.7.
struct SamplingParams {
  int max_tokens = 16;              // at most 2^20 (a guard, far above any context window)
  float temperature = 1.0f;         // 0 means greedy
  int top_k = 0;                    // 0 or -1: disabled
  float top_p = 1.0f;               // 1: disabled
  float min_p = 0.0f;               // 0: disabled
  float repetition_penalty = 1.0f;  // 1: disabled (CTRL-style: divides positive logits)
  float presence_penalty = 0.0f;    // OpenAI-style, over generated tokens
  float frequency_penalty = 0.0f;   // OpenAI-style, over generated tokens
  std::optional<uint64_t> seed;     // same seed, same output
  std::vector<std::string> stop;    // stop strings (not included in the output)
  int n = 1;                        // samples returned (at most 128, as OpenAI)
  // Samples drawn (>= n, at most 128); 0 means n; the n with highest cumulative logprob are
  // returned.
  int best_of = 0;
  int logprobs = 0;  // top alternatives to report per token, 0..20 (0: only the chosen one)
  bool ignore_eos = false;
  int beam_width = 0;  // > 1: beam search instead of sampling (engine and SDK; not over HTTP)
  // Constrained decoding (the API's response_format): "" none; "json_object": the output is a
  // JSON object; "json_schema": a value matching `json_schema` (a JSON Schema, as JSON text).
  // Not with beam search.
  std::string response_format;
  std::string json_schema;

  // Throws InvalidSamplingParam naming the first field out of range. Value ranges are vLLM's
  // (a superset of OpenAI's: e.g. any finite temperature >= 0); the only caps beyond them bound
  // one request's work (max_tokens, n, best_of), as OpenAI's n <= 128 does.
  void validate() const;
};

}  // namespace precis
