#include "engine/engine.hpp"

#include "engine/gguf_model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "engine/cpu_backend.hpp"
#include "engine/load_error.hpp"
#include "engine/token_constraint.hpp"
#include "engine/utf8.hpp"

namespace precis::engine {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

struct Engine::Request {
  RequestId id = 0;
  SamplingParams params;
  StreamCallback on_text;
  std::vector<int> prompt;
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<size_t> streamed;  // bytes of each sequence's text already streamed
  int num_samples = 1;           // best_of (or n)
  bool forked = false;
  Clock::time_point start;
  std::shared_ptr<TokenConstraint> constraint;  // params.constraint bound to the vocabulary
  std::vector<JsonState> constraint_states;     // per sample index
  std::string error;
};

Engine::Engine(EngineOptions options) : options_(std::move(options)) {
  const std::string& dir = options_.model_dir;
  const bool gguf = is_gguf_file(dir);
  if (!std::filesystem::is_directory(dir) && !gguf)
    throw LoadError(dir, std::filesystem::exists(dir)
                             ? "neither a model directory nor a GGUF file"
                             : "model not found (give a GGUF file or a Hugging Face directory)");
  if (gguf) {
    GgufModel m = load_gguf_model(dir);
    weights_ = std::move(m.weights);
    tokenizer_ = std::move(m.tokenizer);
    chat_template_ = std::move(m.chat_template);
  } else {
    weights_ = load_model_weights(dir);
    tokenizer_ = load_model_tokenizer(dir);
  }
  if (tokenizer_->vocab_size() > weights_.config.vocab_size)
    throw LoadError(dir, "the tokenizer has " + std::to_string(tokenizer_->vocab_size()) +
                             " tokens but the model's vocabulary is " +
                             std::to_string(weights_.config.vocab_size));
  for (int id : tokenizer_->eos_ids()) end_ids_.insert(id);
  if (options_.block_size <= 0) throw std::invalid_argument("block size must be positive");
  if (options_.backend_factory) {
    // The factory sizes its own cache: on CUDA kv_cache_mb 0 means "the rest of the GPU's share".
    backend_ = options_.backend_factory(weights_, options_.block_size);
  } else {
    if (!(options_.kv_cache_mb > 0)) throw std::invalid_argument("--kv-cache-mb must be positive");
    const int blocks =
        kv_blocks_for_budget(weights_.config, options_.block_size, options_.kv_cache_mb);
    if (blocks < 1)
      throw std::invalid_argument("--kv-cache-mb " + std::to_string(options_.kv_cache_mb) +
                                  " is too small for one KV block of this model");
    backend_ = std::make_unique<CpuBackend>(
        weights_, blocks, options_.block_size,
        options_.int8_activations ? cpu::Activations::int8 : cpu::Activations::f32);
  }
  kv_ = std::make_unique<KvCacheManager>(backend_->num_blocks(), backend_->block_size(),
                                         options_.prefix_caching);
  scheduler_ = std::make_unique<Scheduler>(options_.scheduler, *kv_);
  constraints_ = std::make_unique<ConstraintCache>(
      *tokenizer_, std::vector<int>(end_ids_.begin(), end_ids_.end()));
}

Engine::~Engine() = default;

RequestId Engine::add_request(std::vector<int> prompt, const SamplingParams& params,
                              StreamCallback on_text) {
  params.validate();
  if (params.beam_width > 1) throw std::invalid_argument("beam_width: use Engine::beam_search");
  const ModelConfig& c = config();
  if (prompt.empty()) throw std::invalid_argument("prompt is empty");
  for (int t : prompt)
    if (t < 0 || t >= c.vocab_size)
      throw std::invalid_argument("prompt token id " + std::to_string(t) +
                                  " is outside the vocabulary");
  if (static_cast<int>(prompt.size()) >= c.max_position_embeddings)
    throw std::invalid_argument("prompt has " + std::to_string(prompt.size()) +
                                " tokens; the model's context window is " +
                                std::to_string(c.max_position_embeddings));
  const long need = static_cast<long>(prompt.size()) + params.max_tokens;
  const long cache_tokens = static_cast<long>(kv_->allocator().num_blocks()) * kv_->block_size();
  if (need > cache_tokens)
    throw std::invalid_argument("request needs " + std::to_string(need) +
                                " tokens of KV cache (prompt + max_tokens) but the cache holds " +
                                std::to_string(cache_tokens) + "; raise --kv-cache-mb");

  auto req = std::make_unique<Request>();
  req->id = next_request_++;
  req->params = params;
  req->on_text = std::move(on_text);
  req->prompt = std::move(prompt);
  req->num_samples = std::max(params.n, params.best_of);
  req->start = Clock::now();
  if (params.constraint) {
    req->constraint = constraints_->get(params.constraint);
    req->constraint_states.push_back(req->constraint->start());
    // A grammar no token can begin fails here, plainly, rather than after a forward pass.
    if (req->constraint->mask(req->constraint_states[0])->allowed == 0)
      throw std::invalid_argument(
          "response format: no token of this model's vocabulary can begin a value of the schema");
  }
  auto seq = std::make_unique<Sequence>();
  seq->id = next_seq_++;
  seq->request = req->id;
  seq->arrival = next_arrival_++;
  seq->tokens = req->prompt;
  seq->prompt_len = static_cast<int>(req->prompt.size());
  seq->rng = make_rng(params.seed, 0);
  scheduler_->add(seq.get());
  req->seqs.push_back(std::move(seq));
  req->streamed.push_back(0);
  const RequestId id = req->id;
  requests_[id] = std::move(req);
  return id;
}

void Engine::abort(RequestId id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  for (auto& s : it->second->seqs) {
    if (s->status != SeqStatus::Finished) {
      scheduler_->remove(s.get());
      s->status = SeqStatus::Finished;
      s->finish_reason = "abort";
    }
  }
  finish_request_if_done(*it->second);
}

bool Engine::step() {
  if (requests_.empty()) return false;
  SchedulerOutput plan = scheduler_->schedule();
  last_step_ = {};
  if (plan.chunks.empty()) return !requests_.empty();
  for (const ScheduledChunk& ch : plan.chunks) {
    // A decode step runs exactly the one sampled token after a fully cached history.
    if (ch.num_tokens == 1 && ch.seq->num_uncomputed() == 1 && ch.seq->num_output() > 0)
      ++last_step_.decode_sequences;
    else
      last_step_.prefill_tokens += ch.num_tokens;
  }
  backend_->copy_blocks(plan.copies);
  std::vector<BatchSequence> batch;
  batch.reserve(plan.chunks.size());
  for (const ScheduledChunk& ch : plan.chunks) {
    BatchSequence b;
    b.tokens = std::span<const int>(ch.seq->tokens).subspan(ch.seq->num_computed, ch.num_tokens);
    b.start_pos = ch.seq->num_computed;
    b.block_table = kv_->block_table(ch.seq->id);
    batch.push_back(b);
  }
  peak_blocks_ = std::max(peak_blocks_, kv_->allocator().num_used());

  // Sequences whose every token is cached after this step have a next-token distribution: the
  // last logits row of their chunk (forward returns one row per chunk, in order).
  struct Draw {
    Sequence* seq;
    int row;
  };
  std::vector<Draw> draws;
  bool on_device = backend_->samples_on_device();
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    Sequence& seq = *plan.chunks[i].seq;
    seq.num_computed += plan.chunks[i].num_tokens;
    // Named now, written by the forward below before any later schedule() can match them.
    kv_->cache_full_blocks(seq.id, seq.tokens, seq.num_computed);
    if (seq.num_computed != static_cast<int>(seq.tokens.size())) continue;
    for (Sequence* s : samplers_for(seq)) {
      draws.push_back({s, static_cast<int>(i)});
      // Penalties and constraints change the logits on the host first.
      const SamplingParams& p = requests_.at(s->request)->params;
      if (has_penalties(p) || p.constraint) on_device = false;
    }
  }

  std::vector<SampleResult> results;
  std::vector<bool> failed(draws.size(), false);
  if (on_device) {
    std::vector<RowSampling> rows;
    for (const Draw& d : draws) {
      const SamplingParams& p = requests_.at(d.seq->request)->params;
      // The same draw, from the same generator, as sample_token would make on the host.
      const double u = p.temperature >= kGreedyBelow ? uniform01(d.seq->rng) : 0.0;
      rows.push_back({d.row, &p, u});
    }
    backend_->forward_sample(batch, rows, results);
  } else {
    std::vector<float> logits;
    backend_->forward(batch, logits);
    const size_t V = static_cast<size_t>(config().vocab_size);
    std::vector<float> masked;
    for (size_t k = 0; k < draws.size(); ++k) {
      const Draw& d = draws[k];
      Request& req = *requests_.at(d.seq->request);
      std::span<const float> row(logits.data() + d.row * V, V);
      if (req.constraint) {
        if (!mask_for_constraint(req, *d.seq, row, masked)) {
          results.emplace_back();
          failed[k] = true;  // nothing to append
          continue;
        }
        row = masked;
      }
      std::span<const int> all(d.seq->tokens);
      results.push_back(sample_token(row, req.params, all.subspan(0, d.seq->prompt_len),
                                     all.subspan(d.seq->prompt_len), d.seq->rng));
    }
  }
  std::vector<RequestId> touched;
  for (size_t k = 0; k < draws.size(); ++k) {
    if (!failed[k]) append_token(*draws[k].seq, results[k].token, results[k]);
    touched.push_back(draws[k].seq->request);
  }
  for (RequestId id : touched) {
    auto it = requests_.find(id);
    if (it != requests_.end()) finish_request_if_done(*it->second);
  }
  return !requests_.empty();
}

std::vector<Sequence*> Engine::samplers_for(Sequence& seq) {
  Request& req = *requests_.at(seq.request);
  std::vector<Sequence*> samplers{&seq};
  if (!req.forked && req.num_samples > 1) {
    // Prompt done: the other samples start here, sharing every prompt block.
    req.forked = true;
    for (int k = 1; k < req.num_samples; ++k) {
      auto child = std::make_unique<Sequence>();
      child->id = next_seq_++;
      child->request = req.id;
      child->sample_index = k;
      child->arrival = next_arrival_++;
      child->tokens = seq.tokens;
      child->prompt_len = seq.prompt_len;
      child->num_computed = seq.num_computed;
      child->rng = make_rng(req.params.seed, k);
      if (req.constraint) req.constraint_states.push_back(req.constraint_states[0]);
      kv_->fork(seq.id, child->id);
      scheduler_->add_running(child.get());
      samplers.push_back(child.get());
      req.seqs.push_back(std::move(child));
      req.streamed.push_back(0);
    }
  }
  return samplers;
}

void Engine::append_token(Sequence& seq, int token, const SampleResult& r) {
  Request& req = *requests_.at(seq.request);
  const SamplingParams& p = req.params;
  seq.tokens.push_back(token);
  seq.logprobs.push_back(r.logprob);
  seq.top_logprobs.push_back(r.top);
  seq.cumulative_logprob += r.logprob;
  bool done = false;
  // A constrained sample's end token was allowed only because its value is complete.
  if (end_ids_.count(token) && (!p.ignore_eos || req.constraint)) {
    seq.finish_reason = "stop";
    done = true;
  } else {
    const size_t before = seq.text.size();
    seq.text += tokenizer_->token_bytes(token);
    if (!p.stop.empty()) {
      // A stop string can start up to (longest stop - 1) bytes before the new piece.
      size_t longest = 0;
      for (const auto& s : p.stop) longest = std::max(longest, s.size());
      const size_t from = before > longest ? before - longest : 0;
      const size_t at = find_stop(seq.text.substr(from), p.stop);
      if (at != std::string::npos) {
        seq.text.resize(from + at);
        seq.finish_reason = "stop";
        done = true;
      }
    }
    if (!done && req.constraint) {
      JsonState& state = req.constraint_states[seq.sample_index];
      if (!req.constraint->advance(state, token)) {
        // Only a sampler that picked a masked token (all logits -inf) gets here.
        fail_sequence(req, seq, "response format: the model produced a token outside the schema");
        return;
      }
      if (TokenConstraint::closed(state)) {  // the value is whole and nothing may follow
        seq.finish_reason = "stop";
        done = true;
      }
    }
    if (!done && seq.num_output() >= p.max_tokens) {
      seq.finish_reason = "length";
      done = true;
    }
    if (!done && static_cast<int>(seq.tokens.size()) >= config().max_position_embeddings) {
      seq.finish_reason = "length";
      done = true;
    }
  }
  // Stream whole UTF-8 characters only, and hold back bytes that may begin a stop string.
  if (req.on_text && req.num_samples == p.n) {
    size_t& sent = req.streamed[seq.sample_index];
    size_t safe = complete_utf8_prefix(seq.text);
    if (!done) {
      size_t hold = 0;
      for (const auto& s : p.stop) hold = std::max(hold, s.size() > 0 ? s.size() - 1 : 0);
      safe = safe > hold ? safe - hold : 0;
      safe = complete_utf8_prefix(seq.text.substr(0, safe));
    } else {
      safe = seq.text.size();
    }
    if (safe > sent) {
      req.on_text(seq.sample_index, seq.text.substr(sent, safe - sent));
      sent = safe;
    }
  }
  if (done) {
    seq.status = SeqStatus::Finished;
    scheduler_->remove(&seq);
  }
}

bool Engine::mask_for_constraint(Request& req, Sequence& seq, std::span<const float> row,
                                 std::vector<float>& masked) {
  const JsonState& state = req.constraint_states[seq.sample_index];
  const auto mask = req.constraint->mask(state);
  if (mask->allowed == 0) {
    fail_sequence(req, seq,
                  "response format: no token of this model's vocabulary can continue the value "
                  "after " +
                      std::to_string(seq.text.size()) + " bytes of output");
    return false;
  }
  masked.assign(row.begin(), row.end());
  apply_token_mask(masked, *mask);
  return true;
}

void Engine::fail_sequence(Request& req, Sequence& seq, const std::string& why) {
  if (req.error.empty()) req.error = why;
  seq.finish_reason = "error";
  seq.status = SeqStatus::Finished;
  scheduler_->remove(&seq);
}

void Engine::finish_request_if_done(Request& req) {
  for (const auto& s : req.seqs)
    if (s->status != SeqStatus::Finished) return;
  GenerationResult res;
  res.id = req.id;
  res.prompt_tokens = req.prompt;
  res.seconds = std::chrono::duration<double>(Clock::now() - req.start).count();
  res.error = req.error;
  std::vector<Sequence*> order;
  for (const auto& s : req.seqs) {
    order.push_back(s.get());
    res.preemptions += s->preemptions;
  }
  if (req.params.best_of > req.params.n) {
    // best_of: keep the n samples with the highest cumulative log-probability.
    std::stable_sort(order.begin(), order.end(), [](const Sequence* a, const Sequence* b) {
      return a->cumulative_logprob > b->cumulative_logprob;
    });
    order.resize(std::min<size_t>(order.size(), req.params.n));
  }
  for (size_t i = 0; i < order.size(); ++i) {
    const Sequence& s = *order[i];
    Completion c;
    c.index = static_cast<int>(i);
    c.tokens.assign(s.tokens.begin() + s.prompt_len, s.tokens.end());
    c.text = s.text;
    c.logprobs = s.logprobs;
    c.top_logprobs = s.top_logprobs;
    c.cumulative_logprob = s.cumulative_logprob;
    c.finish_reason = s.finish_reason;
    res.completions.push_back(std::move(c));
  }
  finished_.push_back(std::move(res));
  requests_.erase(req.id);
}

std::vector<GenerationResult> Engine::take_finished() {
  std::vector<GenerationResult> out;
  out.swap(finished_);
  return out;
}

GenerationResult Engine::generate_tokens(std::vector<int> prompt, const SamplingParams& params,
                                         StreamCallback on_text) {
  if (params.beam_width > 1) return beam_search(std::move(prompt), params);
  const RequestId id = add_request(std::move(prompt), params, std::move(on_text));
  // Other requests may be in flight too; they keep running, and their results stay queued.
  while (true) {
    for (auto it = finished_.begin(); it != finished_.end(); ++it) {
      if (it->id == id) {
        GenerationResult r = std::move(*it);
        finished_.erase(it);
        return r;
      }
    }
    if (!step() && finished_.empty()) throw std::logic_error("request vanished");
  }
}

GenerationResult Engine::generate(const std::string& prompt, const SamplingParams& params,
                                  StreamCallback on_text) {
  return generate_tokens(tokenizer_->encode(prompt, /*add_bos=*/true), params, std::move(on_text));
}

SeqId Engine::run_private_prefill(const std::vector<int>& tokens, bool all_logits,
                                  std::vector<float>& logits) {
  if (tokens.empty()) throw std::invalid_argument("no tokens to run");
  const ModelConfig& c = config();
  if (static_cast<int>(tokens.size()) > c.max_position_embeddings)
    throw std::invalid_argument("text has " + std::to_string(tokens.size()) +
                                " tokens; the model's context window is " +
                                std::to_string(c.max_position_embeddings));
  for (int t : tokens)
    if (t < 0 || t >= c.vocab_size)
      throw std::invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary");
  const SeqId id = next_seq_++;
  std::vector<BlockCopy> copies;
  if (!kv_->append_slots(id, static_cast<int>(tokens.size()), copies))
    throw std::runtime_error("text of " + std::to_string(tokens.size()) +
                             " tokens does not fit in the free KV cache; raise --kv-cache-mb");
  BatchSequence b;
  b.tokens = tokens;
  b.start_pos = 0;
  b.block_table = kv_->block_table(id);
  b.all_logits = all_logits;
  peak_blocks_ = std::max(peak_blocks_, kv_->allocator().num_used());
  backend_->forward(std::span<const BatchSequence>(&b, 1), logits);
  return id;
}

std::unique_ptr<ScoringSession> Engine::open_scoring_session() {
  return std::unique_ptr<ScoringSession>(new ScoringSession(*backend_, *kv_, next_seq_++));
}

std::vector<float> Engine::logits_all(const std::vector<int>& tokens) {
  std::vector<float> logits;
  const SeqId id = run_private_prefill(tokens, true, logits);
  kv_->free(id);
  return logits;
}

std::vector<float> Engine::score_tokens(const std::vector<int>& tokens) {
  std::vector<float> logits;
  const SeqId id = run_private_prefill(tokens, true, logits);
  kv_->free(id);
  const int V = config().vocab_size;
  std::vector<float> out(tokens.size(), std::numeric_limits<float>::quiet_NaN());
  for (size_t i = 1; i < tokens.size(); ++i) {
    const std::span<const float> row(logits.data() + (i - 1) * V, static_cast<size_t>(V));
    out[i] = token_logprob(row, tokens[i]);
  }
  return out;
}

ScoreResult Engine::score(const std::string& text) {
  ScoreResult r;
  r.tokens = tokenizer_->encode(text, /*add_bos=*/true);
  for (int t : r.tokens) r.pieces.push_back(tokenizer_->piece(t));
  r.logprobs = score_tokens(r.tokens);
  return r;
}

KvStats Engine::kv_stats() const {
  KvStats s;
  s.blocks_total = kv_->allocator().num_blocks();
  s.blocks_used = kv_->allocator().num_used();
  s.block_size = kv_->block_size();
  s.peak_blocks_used = peak_blocks_;
  if (const PrefixCache* cache = kv_->allocator().prefix_cache()) {
    s.prefix_caching = true;
    s.blocks_cached_free = cache->num_evictable();
    s.prefix_queried_tokens = cache->queried_tokens();
    s.prefix_hit_tokens = cache->hit_tokens();
    s.prefix_evicted_blocks = cache->evictions();
  }
  return s;
}

}  // namespace precis::engine
