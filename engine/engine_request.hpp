// One request inside the engine: its parameters, its sequences (a group the scheduler runs and
// preempts together) and what kind of work it is. Private to the engine's own files.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/request_constraint.hpp"

namespace precis::engine {

enum class RequestKind {
  sample,   // n / best_of samples, continuous batching
  beam,     // beam search: the live beams advance together, one selection per step
  score,    // log-probs of every token of the prompt, then done
  session,  // a ScoringSession: scored like `score`, kept (with its KV) until closed
};

// A finished beam search hypothesis (ended in an end token).
struct BeamHypothesis {
  std::vector<int> out;
  std::vector<float> logprobs;
  double cum = 0.0;
};

struct BeamState {
  std::vector<Sequence*> live;               // the live beams, in beam order
  std::map<SeqId, std::vector<float>> rows;  // log-softmax of each ready live beam's next token
  std::vector<BeamHypothesis> finished;
  int steps = 0;  // selections made (= output tokens of each live beam)
};

struct Engine::Request {
  RequestId id = 0;
  RequestKind kind = RequestKind::sample;
  uint64_t arrival = 0;
  SamplingParams params;
  StreamCallback on_text;
  std::vector<int> prompt;
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<size_t> streamed;  // bytes of each sequence's text already streamed
  int num_samples = 1;           // best_of (or n)
  bool forked = false;
  std::chrono::steady_clock::time_point start;
  std::unique_ptr<RequestConstraint> constraint;  // the params' grammar, bound to the vocabulary
  std::string error;
  BeamState beam;
  // score / session: scores[i] = log p(tokens[i] | tokens[<i]) once computed (NaN before and at
  // 0); raw logits rows too when asked for (logits_all).
  std::vector<float> scores;
  bool keep_logits = false;
  std::vector<float> logits;
  // session: the logits after the last token, while valid (a truncate invalidates them).
  std::vector<float> last_row;
};

}  // namespace precis::engine
