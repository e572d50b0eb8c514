// What the "lm" compression scorer needs of a language model: per-token log-probabilities of
// token ids, in one pass or incrementally in a session that keeps its context between calls.
// compress() takes this interface rather than the engine: the embedded engine implements it
// (engine::Engine), and an application may give its own.
//
// Like sampling.hpp this header depends on the standard library only, so the engine implements
// it without depending on the rest of the SDK (a documented deviation from DESIGN.md, whose engine
// uses nothing of ours).
#pragma once

#include <memory>
#include <vector>

namespace precis::engine {
class Tokenizer;
}

namespace precis {

// An appendable scoring context.
class TokenLogprobSession {
 public:
  virtual ~TokenLogprobSession() = default;
  // log p(tokens[i] | everything before it); the very first token of a session has no context:
  // NaN.
  virtual std::vector<float> append(const std::vector<int>& tokens) = 0;
  // append() for tokens whose own log-probs are not wanted (context the next append conditions
  // on): a model may skip computing them. By default, append() with the result dropped.
  virtual void extend(const std::vector<int>& tokens) { append(tokens); }
  // extend(context) then append(tokens), which a model may compute in one pass (a compressor's
  // kept text and its next segment: one batch of rows instead of two).
  virtual std::vector<float> append_after(const std::vector<int>& context,
                                          const std::vector<int>& tokens) {
    extend(context);
    return append(tokens);
  }
  // Forgets everything after the first `n` tokens.
  virtual void truncate(int n) = 0;
  virtual int size() const = 0;
  virtual const std::vector<int>& tokens() const = 0;  // the session's tokens so far
};

class TokenLogprobModel {
 public:
  virtual ~TokenLogprobModel() = default;
  // The tokenizer whose ids the model reads (compress checks it is the one it was given).
  virtual const engine::Tokenizer& tokenizer() const = 0;
  // Tokens the model attends to at most.
  virtual int context_window() const = 0;
  // logprobs[i] = log p(tokens[i] | tokens[<i]); logprobs[0] is NaN.
  virtual std::vector<float> score_tokens(const std::vector<int>& tokens) = 0;
  // score_tokens of each sequence, in order. A model may compute them together (the engine runs
  // them in the same batched steps, which fills its GEMMs with more tokens); by default one at a
  // time.
  virtual std::vector<std::vector<float>> score_many(const std::vector<std::vector<int>>& seqs) {
    std::vector<std::vector<float>> out;
    out.reserve(seqs.size());
    for (const std::vector<int>& s : seqs) out.push_back(score_tokens(s));
    return out;
  }
  // score_many when only the log-probs of sequence k's tokens from[k] on are wanted (a ranking by
  // p(question | context) reads the question's alone): the others may come back NaN, and a model
  // may skip computing them. By default score_many.
  virtual std::vector<std::vector<float>> score_tails(const std::vector<std::vector<int>>& seqs,
                                                      const std::vector<int>& from) {
    (void)from;
    return score_many(seqs);
  }
  virtual std::unique_ptr<TokenLogprobSession> open_logprob_session() = 0;
};

}  // namespace precis
