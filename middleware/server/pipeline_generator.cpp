#include "middleware/server/pipeline_generator.hpp"

#include <filesystem>
#include <stdexcept>

namespace precis::server {

PipelineGenerator::PipelineGenerator(std::shared_ptr<Pipeline> pipeline, int max_threads)
    : pipeline_(std::move(pipeline)), max_threads_(std::max(1, max_threads)) {
  const PipelineConfig& c = pipeline_->config();
  model_id_ = c.server.model_name;
  if (model_id_.empty())
    model_id_ = std::filesystem::path(c.model.path).lexically_normal().filename().string();
  if (model_id_.empty())
    model_id_ =
        std::filesystem::path(c.model.path).lexically_normal().parent_path().filename().string();
  if (model_id_.empty()) model_id_ = "precis";
}

PipelineGenerator::~PipelineGenerator() {
  shutdown();
}

void PipelineGenerator::start(Request request, GenerationHandlers handlers,
                              std::shared_ptr<CancelToken> cancel) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back({std::move(request), std::move(handlers), std::move(cancel)});
      if (idle_ == 0 && static_cast<int>(threads_.size()) < max_threads_)
        threads_.emplace_back([this] { work(); });
      cv_.notify_one();
      return;
    }
  }
  if (handlers.on_error)
    handlers.on_error(std::make_exception_ptr(std::runtime_error("server is shutting down")));
}

void PipelineGenerator::work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    ++idle_;
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) return;  // stopping
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    run(job);
    lock.lock();
  }
}

void PipelineGenerator::run(Job& job) {
  if (job.handlers.on_start) job.handlers.on_start();
  Result result;
  try {
    ChoiceTextCallback on_text = job.handlers.on_text;
    result = pipeline_->run(std::move(job.request), on_text, job.cancel.get());
  } catch (...) {
    if (job.handlers.on_error) job.handlers.on_error(std::current_exception());
    return;
  }
  if (job.handlers.on_done) job.handlers.on_done(std::move(result));
}

GeneratorStats PipelineGenerator::stats() const {
  const PipelineStats s = pipeline_->stats();
  return {s.kv_blocks_used, s.kv_blocks_total, s.running_requests, pipeline_->plugin_metrics()};
}

void PipelineGenerator::shutdown() {
  std::deque<Job> dropped;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (Job& j : dropped)
    if (j.handlers.on_error)
      j.handlers.on_error(std::make_exception_ptr(std::runtime_error("server is shutting down")));
  for (auto& t : threads) t.join();
}

}  // namespace precis::server
