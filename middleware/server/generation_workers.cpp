#include "middleware/server/generation_workers.hpp"

#include <algorithm>
#include <stdexcept>

namespace precis::server {

namespace {

void fail_shutting_down(GenerationJob& job) {
  if (job.handlers.on_error)
    job.handlers.on_error(std::make_exception_ptr(ShuttingDown("server is shutting down")));
}

}  // namespace

GenerationWorkers::GenerationWorkers(int max_threads, std::function<void(GenerationJob&)> run)
    : run_(std::move(run)), max_threads_(std::max(1, max_threads)) {}

GenerationWorkers::~GenerationWorkers() {
  shutdown();
}

void GenerationWorkers::start(GenerationJob job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(job));
      if (idle_ == 0 && static_cast<int>(threads_.size()) < max_threads_)
        threads_.emplace_back([this] { work(); });
      cv_.notify_one();
      return;
    }
  }
  fail_shutting_down(job);
}

void GenerationWorkers::work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    ++idle_;
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) return;  // stopping
    GenerationJob job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    ++running_;
    run_(job);
    --running_;
    lock.lock();
  }
}

void GenerationWorkers::shutdown() {
  std::deque<GenerationJob> dropped;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (GenerationJob& j : dropped) fail_shutting_down(j);
  for (auto& t : threads) t.join();
}

}  // namespace precis::server
