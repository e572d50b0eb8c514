// The embedded engine: model + tokenizer + KV cache + scheduler + sampler. Requests are added,
// then step() runs one scheduled batch at a time (continuous batching); generate() is the
// blocking convenience on top. Not thread-safe: one thread drives an Engine.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/kv_cache.hpp"
#include "engine/model_weights.hpp"
#include "engine/sampler.hpp"
#include "engine/scheduler.hpp"
#include "engine/scoring_session.hpp"
#include "engine/sequence.hpp"
#include "engine/tokenizer.hpp"
#include "precis/token_logprobs.hpp"

namespace precis::engine {

struct EngineOptions {
  std::string model_dir;
  double kv_cache_mb = 512;  // KV memory budgeted up front (the CPU backend's)
  int block_size = 16;
  SchedulerConfig scheduler;
  // Empty: the CPU backend with kv_cache_mb of KV memory. Otherwise the factory builds the
  // backend (e.g. CUDA) and sizes its own KV cache.
  BackendFactory backend_factory;
  // CPU backend: quantized weights meet activations quantized to 8 bits per 32, as llama.cpp
  // does (with AVX-512 VNNI the weights are repacked for an integer GEMM: 2-4x faster prefill and
  // scoring; log-probs off by a few hundredths to a tenth of a nat, which can change an answer),
  // instead of f32 ones (the reference, the default). Dense weights are unaffected.
  bool int8_activations = false;
  // Automatic prefix caching: full KV blocks are kept, named by their prefix's hash, after their
  // requests end, and a request whose prompt starts with cached blocks skips computing them.
  // Outputs are the same either way; off only frees the cache of blocks nobody holds.
  bool prefix_caching = true;
  // CPU backend: K and V stored in f16 (half the memory per token; attention still sums in f32)
  // or f32 (the exact reference). A backend_factory decides for its own backend.
  KvCacheDtype kv_cache_dtype = KvCacheDtype::f16;
};

struct Completion {
  int index = 0;
  std::vector<int> tokens;
  std::string text;
  std::vector<float> logprobs;  // per output token
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  double cumulative_logprob = 0.0;
  std::string finish_reason;
  std::vector<float> all_logits;  // logits_all only: a row per token
};

struct GenerationResult {
  RequestId id = 0;
  std::vector<int> prompt_tokens;
  std::vector<Completion> completions;  // n of them (best of best_of), or beam_width beams
  // Why the request failed mid-way ("" when it did not): a constraint that no token of the
  // vocabulary can continue. Its completions then finish with "error".
  std::string error;
  double seconds = 0.0;
  int preemptions = 0;
};

struct ScoreResult {
  std::vector<int> tokens;
  std::vector<std::string> pieces;
  std::vector<float> logprobs;  // logprobs[0] is NaN: the first token has no context
};

// Called with each new piece of text of sample `index` as it is produced (complete UTF-8 only).
using StreamCallback = std::function<void(int index, const std::string& delta)>;

// What the last step() ran: prompt tokens (prefill chunks) and sequences that decoded one token.
struct StepStats {
  int prefill_tokens = 0;
  int decode_sequences = 0;
};

class ConstraintCache;
enum class RequestKind;

struct KvStats {
  int blocks_total = 0;
  int blocks_used = 0;
  int block_size = 0;
  int peak_blocks_used = 0;
  bool prefix_caching = false;
  int blocks_cached_free = 0;  // cached blocks no request holds, evicted when space is needed
  uint64_t prefix_queried_tokens = 0;  // prompt tokens of admitted sequences
  uint64_t prefix_hit_tokens = 0;      // of those, found in the prefix cache
  uint64_t prefix_evicted_blocks = 0;  // cached blocks given new contents
};

// A TokenLogprobModel, so that prompt compression scores with it without knowing the engine.
class Engine : public TokenLogprobModel {
 public:
  explicit Engine(EngineOptions options);
  ~Engine() override;

  const ModelConfig& config() const { return weights_.config; }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  int context_window() const override { return weights_.config.max_position_embeddings; }
  // The model's Jinja chat template when its file carries one (GGUF), else "".
  const std::string& chat_template() const { return chat_template_; }
  Backend& backend() { return *backend_; }

  // Queues a request: sampling (n / best_of), or beam search when params.beam_width > 1. Throws
  // std::invalid_argument for bad parameters or a request that can never fit (longer than the
  // context window, or its group of sequences larger than the whole KV cache).
  RequestId add_request(std::vector<int> prompt_tokens, const SamplingParams& params,
                        StreamCallback on_text = {});
  void abort(RequestId id);
  // Runs one scheduled batch. Returns false when nothing is left to do.
  bool step();
  bool has_unfinished() const { return requests_.size() > open_sessions_; }
  // Results of finished requests, in completion order; each is handed out once.
  std::vector<GenerationResult> take_finished();

  // Blocking helpers: they queue a request and step the engine (every other request with it)
  // until that one is done.
  GenerationResult generate(const std::string& prompt, const SamplingParams& params,
                            StreamCallback on_text = {});
  GenerationResult generate_tokens(std::vector<int> prompt_tokens, const SamplingParams& params,
                                   StreamCallback on_text = {});
  // Beam search (params.beam_width beams, even 1; params.max_tokens steps); beams share KV
  // blocks. Runs through the scheduler like any request (add_request with beam_width > 1).
  GenerationResult beam_search(std::vector<int> prompt_tokens, const SamplingParams& params);

  // Per-token log-probabilities of `text` (with BOS), computed in the scheduler's steps.
  ScoreResult score(const std::string& text);
  // logprobs[i] = log p(tokens[i] | tokens[<i]); logprobs[0] is NaN.
  std::vector<float> score_tokens(const std::vector<int>& tokens) override;
  // Every sequence queued at once, so the scheduler packs them into the same steps.
  std::vector<std::vector<float>> score_many(const std::vector<std::vector<int>>& seqs) override;
  // Computes logits rows only for tokens from[k] - 1 on (and each chunk's last).
  std::vector<std::vector<float>> score_tails(const std::vector<std::vector<int>>& seqs,
                                              const std::vector<int>& from) override;
  // A sequence in the KV cache for incremental scoring, run by the scheduler like any other and
  // preemptible; frees its blocks when destroyed. Must not outlive the engine.
  std::unique_ptr<ScoringSession> open_scoring_session();
  std::unique_ptr<TokenLogprobSession> open_logprob_session() override;
  // Raw logits for every position of `tokens`, for tests against a reference.
  std::vector<float> logits_all(const std::vector<int>& tokens);

  KvStats kv_stats() const;
  StepStats last_step() const { return last_step_; }
  const KvCacheManager& kv() const { return *kv_; }

 private:
  friend class ScoringSession;
  struct Request;
  RequestId queue(std::vector<int> prompt, const SamplingParams& params, StreamCallback on_text,
                  RequestKind kind);
  // Throws std::invalid_argument naming `what` for an id outside the vocabulary.
  void check_token_ids(std::span<const int> tokens, const char* what) const;
  Request& new_request(std::vector<int> prompt, const SamplingParams& params, RequestKind kind);
  Sequence& new_sequence(Request& req, std::vector<int> tokens);
  // logits_from: Sequence::logits_from of the scoring sequence.
  RequestId add_scoring(std::vector<int> tokens, bool keep_logits, int logits_from = 0);
  GenerationResult run_until_finished(RequestId id);
  // The sequences that sample from `seq`'s next-token distribution: itself, plus the other
  // samples of its request when its prompt has just completed (forked, sharing its blocks).
  std::vector<Sequence*> samplers_for(Sequence& seq);
  void append_token(Sequence& seq, int token, const SampleResult& s);
  void finish_request_if_done(Request& r);
  // Masks row `row` of `logits` by the request's constraint; false at a dead end (no token fits).
  bool mask_for_constraint(Request& req, Sequence& seq, std::span<const float> row,
                           std::vector<float>& masked);
  void fail_sequence(Request& req, Sequence& seq, const std::string& why);
  // Scoring: the log-probs that a chunk's logits rows give (rows[r] follows tokens[from + r]).
  void record_scores(Request& req, Sequence& seq, int from, int num_rows, const float* rows);
  // Beam search (beam_search.cpp): keeps a ready beam's row; once every live beam has one,
  // selects the next beams and forks them, and finishes the request when the search is over.
  void beam_row(Request& req, Sequence& seq, std::span<const float> logits);
  void beam_select(Request& req);
  void finish_beam_request(Request& req);
  // ScoringSession's work (scoring_session.cpp).
  // Scores tokens[scores_from..] (none when scores_from is tokens.size()).
  std::vector<float> session_append(RequestId id, const std::vector<int>& tokens,
                                    int scores_from = 0);
  void session_truncate(RequestId id, int n);
  void session_close(RequestId id);

  EngineOptions options_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::set<int> end_ids_;      // tokens that end a generation (eos, end of turn)
  std::string chat_template_;  // the model's own (GGUF tokenizer.chat_template), "" if none
  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<Backend> backend_;
  // step()'s logits, kept between steps: a fresh vocabulary-sized buffer per step costs page
  // faults (it is above malloc's mmap threshold) on every decoded token.
  std::vector<float> step_logits_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ConstraintCache> constraints_;  // grammars bound to this vocabulary
  std::map<RequestId, std::unique_ptr<Request>> requests_;
  std::vector<GenerationResult> finished_;
  RequestId next_request_ = 1;
  SeqId next_seq_ = 1;
  uint64_t next_arrival_ = 1;
  int peak_blocks_ = 0;
  StepStats last_step_;
  size_t open_sessions_ = 0;
};

}  // namespace precis::engine
