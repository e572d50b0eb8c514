// A thread-safe front to one Engine: the engine runs on its own thread, and any number of
// threads submit requests (sampling or beam search), which the scheduler batches together
// (continuous batching). Other engine work (LM-scored compression) runs on the same thread
// through call(); its scoring runs in the engine's steps, so streams keep flowing meanwhile
// (results that finish during a call() are handed out when it returns).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "engine/engine.hpp"

namespace precis::engine {

struct Submission {
  std::future<GenerationResult> result;
  // Aborts the request (e.g. the client went away); its KV blocks are freed at once and the
  // future then holds a result whose completions finish with "abort".
  std::function<void()> cancel;
};

// The engine stopped (or is stopping) before the work finished: a typed error, so callers tell a
// shutdown from a failure without reading the message.
class EngineStopped : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class EngineService {
 public:
  explicit EngineService(EngineOptions options);
  // Stops the engine thread; requests still pending fail with std::runtime_error.
  ~EngineService();
  EngineService(const EngineService&) = delete;
  EngineService& operator=(const EngineService&) = delete;

  const ModelConfig& config() const { return engine_->config(); }
  // SentencePiece's encode/decode are const and safe to call from any thread.
  const Tokenizer& tokenizer() const { return engine_->tokenizer(); }
  const std::string& chat_template() const { return engine_->chat_template(); }

  // `on_text` runs on the engine thread: keep it short. Beam search (beam_width > 1) is a
  // request like any other (cancellable, preemptible); it does not stream.
  Submission submit(std::vector<int> prompt_tokens, const SamplingParams& params,
                    StreamCallback on_text = {});

  // Runs `fn(engine)` on the engine thread between steps.
  template <class Fn>
  auto call(Fn fn) -> std::future<decltype(fn(std::declval<Engine&>()))> {
    using R = decltype(fn(std::declval<Engine&>()));
    auto task = std::make_shared<std::packaged_task<R(Engine&)>>(std::move(fn));
    auto fut = task->get_future();
    post([task](Engine& e) { (*task)(e); });
    return fut;
  }

  struct Stats {
    KvStats kv;
    int running_requests = 0;
  };
  Stats stats() const;

 private:
  void post(std::function<void(Engine&)> task);
  void loop();
  void deliver_finished();

  std::unique_ptr<Engine> engine_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(Engine&)>> inbox_;
  bool stopping_ = false;
  Stats stats_;
  // Touched only on the engine thread.
  std::map<RequestId, std::promise<GenerationResult>> pending_;
  std::thread thread_;
};

}  // namespace precis::engine
