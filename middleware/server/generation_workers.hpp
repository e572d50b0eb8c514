// The worker threads a Generator runs its jobs on, so the HTTP threads never block: jobs queue
// up, a thread is added while none is idle (up to a maximum), and shutdown fails the queued
// jobs and joins the threads. Shared by the embedded and the proxy generators.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "middleware/server/generator.hpp"

namespace precis::server {

struct GenerationJob {
  Request request;
  std::shared_ptr<const ClientRequest> client;
  GenerationHandlers handlers;
  std::shared_ptr<CancelToken> cancel;
};

class GenerationWorkers {
 public:
  // `run` executes one job on a worker thread; it reports through the job's handlers.
  GenerationWorkers(int max_threads, std::function<void(GenerationJob&)> run);
  ~GenerationWorkers();
  GenerationWorkers(const GenerationWorkers&) = delete;
  GenerationWorkers& operator=(const GenerationWorkers&) = delete;

  // Queues the job; after shutdown() it fails at once through handlers.on_error.
  void start(GenerationJob job);
  // Fails the queued jobs, lets running ones finish, joins the threads. Idempotent.
  void shutdown();
  int running() const { return running_.load(); }

 private:
  void work();

  std::function<void(GenerationJob&)> run_;
  int max_threads_;
  std::atomic<int> running_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GenerationJob> queue_;
  std::vector<std::thread> threads_;
  int idle_ = 0;
  bool stopping_ = false;
};

}  // namespace precis::server
