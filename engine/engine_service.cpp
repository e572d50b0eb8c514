#include "engine/engine_service.hpp"

#include <stdexcept>

namespace precis::engine {

EngineService::EngineService(EngineOptions options)
    : engine_(std::make_unique<Engine>(std::move(options))) {
  thread_ = std::thread([this] { loop(); });
}

EngineService::~EngineService() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void EngineService::post(std::function<void(Engine&)> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) throw EngineStopped("engine is shutting down");
    inbox_.push_back(std::move(task));
  }
  cv_.notify_one();
}

Submission EngineService::submit(std::vector<int> prompt, const SamplingParams& params,
                                 StreamCallback on_text) {
  auto promise = std::make_shared<std::promise<GenerationResult>>();
  Submission s;
  s.result = promise->get_future();
  // The id exists only once the engine thread has added the request.
  auto id = std::make_shared<std::atomic<RequestId>>(0);
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  post([this, promise, id, cancelled, prompt = std::move(prompt), params,
        on_text = std::move(on_text)](Engine& e) mutable {
    try {
      const RequestId rid = e.add_request(std::move(prompt), params, std::move(on_text));
      id->store(rid);
      pending_.emplace(rid, std::move(*promise));
      if (cancelled->load()) e.abort(rid);
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  });
  s.cancel = [this, id, cancelled] {
    cancelled->store(true);
    try {
      post([id](Engine& e) {
        if (RequestId rid = id->load()) e.abort(rid);
      });
    } catch (const std::runtime_error&) {
      // Shutting down: the request fails anyway.
    }
  };
  return s;
}

EngineService::Stats EngineService::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void EngineService::deliver_finished() {
  for (GenerationResult& r : engine_->take_finished()) {
    auto it = pending_.find(r.id);
    if (it == pending_.end()) continue;
    it->second.set_value(std::move(r));
    pending_.erase(it);
  }
}

void EngineService::loop() {
  while (true) {
    std::deque<std::function<void(Engine&)>> tasks;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !inbox_.empty() || engine_->has_unfinished(); });
      if (stopping_) break;
      tasks.swap(inbox_);
    }
    for (auto& t : tasks) t(*engine_);
    try {
      if (engine_->has_unfinished()) engine_->step();
    } catch (...) {
      // A failed step leaves no trustworthy state for the requests in it: fail them all.
      auto error = std::current_exception();
      for (auto& [rid, p] : pending_) {
        engine_->abort(rid);
        p.set_exception(error);
      }
      pending_.clear();
      engine_->take_finished();
    }
    deliver_finished();
    std::lock_guard<std::mutex> lock(mu_);
    stats_.kv = engine_->kv_stats();
    stats_.running_requests = static_cast<int>(pending_.size());
  }
  // Shutdown: fail whatever is left, so no caller waits forever.
  std::deque<std::function<void(Engine&)>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(inbox_);
  }
  for (auto& [rid, p] : pending_)
    p.set_exception(std::make_exception_ptr(EngineStopped("engine shut down")));
  pending_.clear();
  // Queued tasks own promises; dropping them breaks those promises (std::future_error).
}

}  // namespace precis::engine
