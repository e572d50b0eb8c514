#include "engine/thread_pool.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace precis::engine {

ThreadPool& ThreadPool::shared() {
  static ThreadPool pool([] {
    if (const char* env = std::getenv("PRECIS_THREADS")) {
      const int n = std::atoi(env);
      if (n > 0) return n;
    }
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }());
  return pool;
}

ThreadPool::ThreadPool(int threads) {
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(int thread) {
  for (int t = next_task_.fetch_add(1); t < num_tasks_; t = next_task_.fetch_add(1))
    (*job_)(t, thread);
}

void ThreadPool::worker(int thread) {
  uint64_t seen = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    work(thread);
    std::lock_guard<std::mutex> lock(mu_);
    if (--busy_ == 0) done_.notify_one();
  }
}

void ThreadPool::run(int num_tasks, const std::function<void(int, int)>& fn) {
  if (num_tasks <= 0) return;
  if (workers_.empty() || num_tasks == 1) {
    for (int t = 0; t < num_tasks; ++t) fn(t, 0);
    return;
  }
  std::lock_guard<std::mutex> one_job(run_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    num_tasks_ = num_tasks;
    next_task_.store(0);
    busy_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  work(0);
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return busy_ == 0; });
  job_ = nullptr;
}

void parallel_for(int n, int grain, const std::function<void(int, int, int)>& fn,
                  int chunks_per_thread) {
  if (n <= 0) return;
  ThreadPool& pool = ThreadPool::shared();
  const int want = pool.size() * std::max(1, chunks_per_thread);
  const int chunk = std::max(std::max(1, grain), (n + want - 1) / want);
  const int tasks = (n + chunk - 1) / chunk;
  pool.run(tasks, [&](int task, int thread) {
    const int begin = task * chunk;
    fn(begin, std::min(n, begin + chunk), thread);
  });
}

}  // namespace precis::engine
