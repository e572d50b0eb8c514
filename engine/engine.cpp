#include "engine/engine.hpp"

#include "engine/gguf_model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "engine/admission.hpp"
#include "engine/batch_rows.hpp"
#include "engine/cpu_backend.hpp"
#include "engine/engine_request.hpp"
#include "engine/load_error.hpp"
#include "engine/token_constraint.hpp"
#include "engine/utf8.hpp"

namespace precis::engine {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

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
    const int blocks = kv_blocks_for_budget(weights_.config, options_.block_size,
                                            options_.kv_cache_mb, options_.kv_cache_dtype);
    if (blocks < 1)
      throw std::invalid_argument("--kv-cache-mb " + std::to_string(options_.kv_cache_mb) +
                                  " is too small for one KV block of this model");
    backend_ = std::make_unique<CpuBackend>(
        weights_, blocks, options_.block_size,
        options_.int8_activations ? cpu::Activations::int8 : cpu::Activations::f32,
        options_.kv_cache_dtype);
  }
  kv_ = std::make_unique<KvCacheManager>(backend_->num_blocks(), backend_->block_size(),
                                         options_.prefix_caching);
  scheduler_ = std::make_unique<Scheduler>(options_.scheduler, *kv_);
  constraints_ = std::make_unique<ConstraintCache>(
      *tokenizer_, std::vector<int>(end_ids_.begin(), end_ids_.end()));
}

Engine::~Engine() = default;

void Engine::check_token_ids(std::span<const int> tokens, const char* what) const {
  for (int t : tokens)
    if (t < 0 || t >= config().vocab_size)
      throw std::invalid_argument(std::string(what) + " " + std::to_string(t) +
                                  " is outside the vocabulary");
}

Engine::Request& Engine::new_request(std::vector<int> prompt, const SamplingParams& params,
                                     RequestKind kind) {
  if (prompt.empty()) throw std::invalid_argument("prompt is empty");
  check_token_ids(prompt, "prompt token id");
  AdmissionShape shape{static_cast<int>(prompt.size()), 0, 1};  // scoring: no output
  if (kind == RequestKind::sample || kind == RequestKind::beam) {
    shape.max_output = params.max_tokens;
    shape.group_size = kind == RequestKind::beam ? std::max(1, params.beam_width)
                                                 : std::max(params.n, params.best_of);
  }
  const AdmissionDecision fits = check_fits(shape, config(), *kv_);
  if (fits.verdict == Admission::never) throw std::invalid_argument(fits.reason);

  auto req = std::make_unique<Request>();
  req->id = next_request_++;
  req->kind = kind;
  req->arrival = next_arrival_++;
  req->params = params;
  req->prompt = std::move(prompt);
  req->num_samples = kind == RequestKind::sample ? std::max(params.n, params.best_of) : 1;
  req->start = Clock::now();
  Request& r = *req;
  requests_[r.id] = std::move(req);
  return r;
}

Sequence& Engine::new_sequence(Request& req, std::vector<int> tokens) {
  auto seq = std::make_unique<Sequence>();
  seq->id = next_seq_++;
  seq->request = req.id;
  seq->sample_index = static_cast<int>(req.seqs.size());
  seq->arrival = req.arrival;  // one group: scheduled and preempted together
  seq->prompt_len = static_cast<int>(req.prompt.size());
  seq->tokens = std::move(tokens);
  seq->all_logits = req.kind == RequestKind::score || req.kind == RequestKind::session;
  req.seqs.push_back(std::move(seq));
  req.streamed.push_back(0);
  return *req.seqs.back();
}

RequestId Engine::add_request(std::vector<int> prompt, const SamplingParams& params,
                              StreamCallback on_text) {
  const RequestKind kind = params.beam_width > 1 ? RequestKind::beam : RequestKind::sample;
  return queue(std::move(prompt), params, std::move(on_text), kind);
}

RequestId Engine::queue(std::vector<int> prompt, const SamplingParams& params,
                        StreamCallback on_text, RequestKind kind) {
  params.validate();
  if (kind == RequestKind::beam &&
      static_cast<long>(prompt.size()) + params.max_tokens > config().max_position_embeddings)
    throw std::invalid_argument("prompt + max_tokens exceeds the model's context window");
  Request& req = new_request(std::move(prompt), params, kind);
  req.on_text = std::move(on_text);
  try {
    if (params.constraint)
      req.constraint = std::make_unique<RequestConstraint>(constraints_->get(params.constraint));
    else if (params.grammar)
      req.constraint = std::make_unique<RequestConstraint>(constraints_->get(params.grammar));
    // A grammar no token can begin fails here, plainly, rather than after a forward pass.
    if (req.constraint && req.constraint->mask(0)->allowed == 0)
      throw std::invalid_argument(
          params.constraint
              ? "response format: no token of this model's vocabulary can begin a value of the "
                "schema"
              : "grammar: no token of this model's vocabulary can begin a sentence of it");
  } catch (...) {
    requests_.erase(req.id);
    throw;
  }
  Sequence& seq = new_sequence(req, req.prompt);
  seq.rng = make_rng(params.seed, 0);
  if (kind == RequestKind::beam) req.beam.live.push_back(&seq);
  scheduler_->add(&seq);
  return req.id;
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
  // Where each chunk's logits rows start, and how many of its leading tokens have none (the same
  // rule flatten_rows applies: skipped_logits_rows).
  std::vector<int> first_row, skipped;
  int rows = 0;
  for (const ScheduledChunk& ch : plan.chunks) {
    BatchSequence b;
    b.tokens = std::span<const int>(ch.seq->tokens).subspan(ch.seq->num_computed, ch.num_tokens);
    b.start_pos = ch.seq->num_computed;
    b.block_table = kv_->block_table(ch.seq->id);
    b.all_logits = ch.seq->all_logits;
    b.logits_from = ch.seq->logits_from;
    batch.push_back(b);
    first_row.push_back(rows);
    const int skip = skipped_logits_rows(b);
    skipped.push_back(skip);
    rows += ch.num_tokens - skip;
  }
  peak_blocks_ = std::max(peak_blocks_, kv_->allocator().num_used());

  // Sequences whose every token is cached after this step have a next-token distribution: the
  // last logits row of their chunk. Samples draw from it; beams and scoring read the whole row,
  // so those need the logits on the host.
  struct Draw {
    Sequence* seq;
    int row;
  };
  std::vector<Draw> draws;
  std::vector<size_t> host_rows;  // chunks whose rows beams or scoring read
  bool on_device = backend_->samples_on_device();
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    Sequence& seq = *plan.chunks[i].seq;
    const RequestKind kind = requests_.at(seq.request)->kind;
    if (kind != RequestKind::sample) {
      host_rows.push_back(i);
      on_device = false;
    }
    seq.num_computed += plan.chunks[i].num_tokens;
    // Named now, written by the forward below before any later schedule() can match them.
    kv_->cache_full_blocks(seq.id, seq.tokens, seq.num_computed);
    if (kind != RequestKind::sample) continue;
    if (seq.num_computed != static_cast<int>(seq.tokens.size())) continue;
    for (Sequence* s : samplers_for(seq)) {
      draws.push_back({s, first_row[i]});
      // Penalties and constraints change the logits on the host first.
      const SamplingParams& p = requests_.at(s->request)->params;
      if (has_penalties(p) || p.constraint || p.grammar) on_device = false;
    }
  }

  std::vector<SampleResult> results;
  std::vector<bool> failed(draws.size(), false);
  std::vector<RequestId> touched;
  if (on_device) {
    std::vector<RowSampling> sampling;
    for (const Draw& d : draws) {
      const SamplingParams& p = requests_.at(d.seq->request)->params;
      // The same draw, from the same generator, as sample_token would make on the host.
      const double u = p.temperature >= kGreedyBelow ? uniform01(d.seq->rng) : 0.0;
      sampling.push_back({d.row, &p, u});
    }
    backend_->forward_sample(batch, sampling, results);
  } else {
    std::vector<float>& logits = step_logits_;
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
    for (size_t i : host_rows) {
      Sequence& seq = *plan.chunks[i].seq;
      Request& req = *requests_.at(seq.request);
      const float* chunk_rows = logits.data() + static_cast<size_t>(first_row[i]) * V;
      if (req.kind == RequestKind::beam) {
        if (seq.num_computed == static_cast<int>(seq.tokens.size())) {
          beam_row(req, seq, std::span<const float>(chunk_rows, V));
          touched.push_back(req.id);
        }
      } else {
        const int n = plan.chunks[i].num_tokens, skip = skipped[i];
        record_scores(req, seq, seq.num_computed - n + skip, n - skip, chunk_rows);
        if (req.kind == RequestKind::score &&
            seq.num_computed == static_cast<int>(seq.tokens.size())) {
          seq.status = SeqStatus::Finished;
          seq.finish_reason = "stop";
          scheduler_->remove(&seq);
          touched.push_back(req.id);
        }
      }
    }
  }
  for (size_t k = 0; k < draws.size(); ++k) {
    if (!failed[k]) append_token(*draws[k].seq, results[k].token, results[k]);
    touched.push_back(draws[k].seq->request);
  }
  for (RequestId id : touched) {
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    if (it->second->kind == RequestKind::beam)
      beam_select(*it->second);
    else
      finish_request_if_done(*it->second);
  }
  return !requests_.empty();
}

void Engine::record_scores(Request& req, Sequence& seq, int from, int num_rows, const float* rows) {
  const size_t V = static_cast<size_t>(config().vocab_size);
  const int size = static_cast<int>(seq.tokens.size());
  if (static_cast<int>(req.scores.size()) < size)
    req.scores.resize(size, std::numeric_limits<float>::quiet_NaN());
  if (req.keep_logits) {
    req.logits.resize(static_cast<size_t>(size) * V);
    std::copy(rows, rows + num_rows * V, req.logits.begin() + static_cast<long>(from * V));
  }
  // Row r follows token from + r and predicts the next one.
  for (int r = 0; r < num_rows && from + r + 1 < size; ++r)
    req.scores[from + r + 1] =
        token_logprob(std::span<const float>(rows + r * V, V), seq.tokens[from + r + 1]);
  if (req.kind == RequestKind::session && from + num_rows == size)
    req.last_row.assign(rows + (num_rows - 1) * V, rows + num_rows * V);
}

std::vector<Sequence*> Engine::samplers_for(Sequence& seq) {
  Request& req = *requests_.at(seq.request);
  std::vector<Sequence*> samplers{&seq};
  if (!req.forked && req.num_samples > 1) {
    // Prompt done: the other samples start here, sharing every prompt block.
    req.forked = true;
    for (int k = 1; k < req.num_samples; ++k) {
      Sequence& child = new_sequence(req, seq.tokens);
      child.num_computed = seq.num_computed;
      child.rng = make_rng(req.params.seed, static_cast<uint64_t>(k));
      if (req.constraint) req.constraint->add_sample();
      kv_->fork(seq.id, child.id);
      scheduler_->add_running(&child);
      samplers.push_back(&child);
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
      if (!req.constraint->advance(seq.sample_index, token)) {
        // Only a sampler that picked a masked token (all logits -inf) gets here.
        fail_sequence(req, seq,
                      std::string(req.constraint->name()) +
                          ": the model produced a token outside the grammar");
        return;
      }
      if (req.constraint->closed(seq.sample_index)) {  // the value is whole and nothing may follow
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
  const auto mask = req.constraint->mask(seq.sample_index);
  if (mask->allowed == 0) {
    fail_sequence(req, seq,
                  std::string(req.constraint->name()) +
                      ": no token of this model's vocabulary can continue the output after " +
                      std::to_string(seq.text.size()) + " bytes");
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
  if (req.kind == RequestKind::score) {
    Completion c;
    c.tokens = req.seqs.at(0)->tokens;
    c.logprobs = std::move(req.scores);
    c.logprobs.resize(c.tokens.size(), std::numeric_limits<float>::quiet_NaN());
    c.all_logits = std::move(req.logits);
    c.finish_reason = req.seqs.at(0)->finish_reason;
    res.preemptions = req.seqs.at(0)->preemptions;
    res.completions.push_back(std::move(c));
    finished_.push_back(std::move(res));
    requests_.erase(req.id);
    return;
  }
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

GenerationResult Engine::run_until_finished(RequestId id) {
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

GenerationResult Engine::generate_tokens(std::vector<int> prompt, const SamplingParams& params,
                                         StreamCallback on_text) {
  return run_until_finished(add_request(std::move(prompt), params, std::move(on_text)));
}

GenerationResult Engine::generate(const std::string& prompt, const SamplingParams& params,
                                  StreamCallback on_text) {
  return generate_tokens(tokenizer_->encode(prompt, /*add_bos=*/true), params, std::move(on_text));
}

GenerationResult Engine::beam_search(std::vector<int> prompt, const SamplingParams& params) {
  // Width 1 is a beam search too (greedy by cumulative log-prob), so the kind is explicit.
  return run_until_finished(queue(std::move(prompt), params, {}, RequestKind::beam));
}

RequestId Engine::add_scoring(std::vector<int> tokens, bool keep_logits, int logits_from) {
  if (tokens.empty()) throw std::invalid_argument("no tokens to run");
  Request& req = new_request(std::move(tokens), SamplingParams{}, RequestKind::score);
  req.keep_logits = keep_logits;
  Sequence& seq = new_sequence(req, req.prompt);
  seq.logits_from = std::max(0, logits_from);
  scheduler_->add(&seq);
  return req.id;
}

std::unique_ptr<ScoringSession> Engine::open_scoring_session() {
  Request& req = new_request({0}, SamplingParams{}, RequestKind::session);
  req.prompt.clear();  // the dummy token only passed the checks; a session starts empty
  ++open_sessions_;
  return std::unique_ptr<ScoringSession>(new ScoringSession(*this, req.id));
}

std::unique_ptr<TokenLogprobSession> Engine::open_logprob_session() {
  return open_scoring_session();
}

std::vector<float> Engine::logits_all(const std::vector<int>& tokens) {
  const RequestId id = add_scoring(tokens, /*keep_logits=*/true);
  GenerationResult r = run_until_finished(id);
  return std::move(r.completions.at(0).all_logits);
}

std::vector<float> Engine::score_tokens(const std::vector<int>& tokens) {
  GenerationResult r = run_until_finished(add_scoring(tokens, /*keep_logits=*/false));
  return std::move(r.completions.at(0).logprobs);
}

std::vector<std::vector<float>> Engine::score_many(const std::vector<std::vector<int>>& seqs) {
  return score_tails(seqs, std::vector<int>(seqs.size(), 0));
}

std::vector<std::vector<float>> Engine::score_tails(const std::vector<std::vector<int>>& seqs,
                                                    const std::vector<int>& from) {
  if (from.size() != seqs.size())
    throw std::invalid_argument("score_tails: one start per sequence, " +
                                std::to_string(from.size()) + " for " +
                                std::to_string(seqs.size()));
  std::vector<RequestId> ids;
  try {
    for (size_t k = 0; k < seqs.size(); ++k)
      ids.push_back(add_scoring(seqs[k], /*keep_logits=*/false, from[k] - 1));
  } catch (...) {
    // A bad sequence leaves none of the others queued, nor their results.
    for (RequestId id : ids) abort(id);
    std::erase_if(finished_, [&](const GenerationResult& r) {
      return std::find(ids.begin(), ids.end(), r.id) != ids.end();
    });
    throw;
  }
  std::vector<std::vector<float>> out;
  out.reserve(ids.size());
  for (RequestId id : ids)
    out.push_back(std::move(run_until_finished(id).completions.at(0).logprobs));
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
