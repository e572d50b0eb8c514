// The engine's form of a request's sampling parameters: the public precis::SamplingParams (one
// type and one validator from the HTTP reader to here) plus what only the engine can hold, the
// compiled grammar of its response_format.
#pragma once

#include <memory>

#include "precis/sampling.hpp"

namespace precis::engine {

struct JsonGrammar;
struct GbnfGrammar;

struct SamplingParams : precis::SamplingParams {
  // Constrained decoding: when set, every sample is a value of this grammar (json_grammar.hpp).
  // Tokens it does not allow are masked before temperature, top-k/p and min-p, so the reported
  // log-probabilities are those of the masked distribution; an end token ends such a sample even
  // with ignore_eos. Not with beam search. compile_sampling() sets it from response_format;
  // engine callers may also set it directly.
  std::shared_ptr<const JsonGrammar> constraint;
  // The same for a GBNF grammar (gbnf_grammar.hpp): every sample is a sentence of it. At most
  // one of constraint and grammar.
  std::shared_ptr<const GbnfGrammar> grammar;

  // precis::SamplingParams::validate(), then the rules of `constraint` and `grammar`: a
  // response_format must have been compiled into the former, at most one of them is set, and
  // they need sampling, not beam search.
  void validate() const;
};

// `params` with its response_format compiled into `constraint`. Throws UnsupportedSchema (an
// std::invalid_argument) for a schema the grammar cannot enforce, InvalidSamplingParam for
// parameters out of range.
SamplingParams compile_sampling(const precis::SamplingParams& params);

}  // namespace precis::engine
