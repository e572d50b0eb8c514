// The one validator of a request's sampling parameters (precis::SamplingParams::validate), and
// their compilation into the engine's form.
#include "engine/sampling_params.hpp"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/json_grammar.hpp"

namespace precis {

namespace {

// Constrained decoding masks one sequence's tokens; beams share no such state.
[[noreturn]] void reject_beam_with_format(int beam_width) {
  throw InvalidSamplingParam("response_format",
                             "(constrained decoding) needs sampling, not beam search (beam_width " +
                                 std::to_string(beam_width) + ")");
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

[[noreturn]] void reject(const char* field, const std::string& rule, const std::string& got) {
  throw InvalidSamplingParam(field, "must be " + rule + ", got " + got);
}

// Caps that bound one request's work; the engine refuses what its KV cache cannot hold anyway.
constexpr int kMaxTokens = 1 << 20;
constexpr int kMaxSamples = 128;

}  // namespace

void SamplingParams::validate() const {
  if (max_tokens < 1 || max_tokens > kMaxTokens)
    reject("max_tokens", "in [1, " + std::to_string(kMaxTokens) + "]", std::to_string(max_tokens));
  if (!(temperature >= 0.0f)) reject("temperature", ">= 0", fmt(temperature));
  if (!std::isfinite(temperature)) reject("temperature", "finite", fmt(temperature));
  if (top_k < -1) reject("top_k", ">= 0, or -1 to disable", std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f)) reject("top_p", "in (0, 1]", fmt(top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f)) reject("min_p", "in [0, 1]", fmt(min_p));
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
    reject("repetition_penalty", "> 0 and finite", fmt(repetition_penalty));
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    reject("presence_penalty", "in [-2, 2]", fmt(presence_penalty));
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    reject("frequency_penalty", "in [-2, 2]", fmt(frequency_penalty));
  if (logprobs < 0 || logprobs > 20) reject("logprobs", "in [0, 20]", std::to_string(logprobs));
  if (n < 1 || n > kMaxSamples)
    reject("n", "in [1, " + std::to_string(kMaxSamples) + "]", std::to_string(n));
  if (best_of > kMaxSamples)
    reject("best_of", "<= " + std::to_string(kMaxSamples), std::to_string(best_of));
  if (best_of != 0 && best_of < n)
    reject("best_of", "0 or >= n (" + std::to_string(n) + ")", std::to_string(best_of));
  if (beam_width < 0) reject("beam_width", ">= 0", std::to_string(beam_width));
  if (response_format != "" && response_format != "json_object" && response_format != "json_schema")
    reject("response_format", "\"\", \"json_object\" or \"json_schema\"",
           "\"" + response_format + "\"");
  if (response_format == "json_schema" && json_schema.empty())
    reject("json_schema", "a JSON Schema (as JSON text) with response_format json_schema",
           "nothing");
  if (!response_format.empty() && beam_width > 1) reject_beam_with_format(beam_width);
}

}  // namespace precis

namespace precis::engine {

void SamplingParams::validate() const {
  precis::SamplingParams::validate();
  if (!response_format.empty() && !constraint)
    throw std::invalid_argument("response_format " + response_format +
                                " is not compiled: give the engine compile_sampling()'s result");
  if (constraint && beam_width > 1) reject_beam_with_format(beam_width);
  if (grammar && beam_width > 1)
    throw InvalidSamplingParam("grammar", "(constrained decoding) needs sampling, not beam search");
  if (grammar && constraint)
    throw InvalidSamplingParam("grammar", "and a response format cannot both constrain a request");
}

SamplingParams compile_sampling(const precis::SamplingParams& params) {
  params.validate();
  SamplingParams p{params, nullptr, nullptr};
  if (params.response_format == "json_object") {
    p.constraint = JsonGrammar::any_object();
  } else if (params.response_format == "json_schema") {
    const nlohmann::json schema = nlohmann::json::parse(params.json_schema, nullptr, false);
    if (schema.is_discarded())
      throw InvalidSamplingParam("json_schema", "must be JSON text, got " + params.json_schema);
    p.constraint = JsonGrammar::from_schema(schema);
  }
  return p;
}

}  // namespace precis::engine
