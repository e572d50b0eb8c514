#include "engine/thread_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace precis::engine {

std::optional<long> ThreadPool::env_number(const char* name, const char* value, long min, long max,
                                           const char* fallback) {
  if (value == nullptr) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(value, &end, 10);
  if (end != value && *end == '\0' && errno == 0 && n >= min && n <= max) return n;
  std::fprintf(stderr, "precis: ignoring %s='%s': not a whole number in [%ld, %ld]; using %s\n",
               name, value, min, max, fallback);
  return std::nullopt;
}

ThreadPool& ThreadPool::shared() {
  static ThreadPool pool([] {
    const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    const std::string fallback = std::to_string(cores) + " (the hardware threads)";
    const std::optional<long> n =
        env_number("PRECIS_THREADS", std::getenv("PRECIS_THREADS"), 1, 4096, fallback.c_str());
    return n ? static_cast<int>(*n) : cores;
  }());
  return pool;
}

std::chrono::microseconds ThreadPool::default_spin() {
  constexpr long kDefaultUs = 1000;
  // Warned about once per process, not per pool.
  static const std::optional<long> us =
      env_number("PRECIS_SPIN_US", std::getenv("PRECIS_SPIN_US"), 0, 10'000'000,
                 std::to_string(kDefaultUs).c_str());
  return std::chrono::microseconds(us.value_or(kDefaultUs));
}

ThreadPool::ThreadPool(int threads, std::chrono::microseconds spin) : spin_(spin) {
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

template <class Ready>
bool ThreadPool::spin_until(Ready ready) const {
  if (spin_.count() <= 0) return ready();
  const auto deadline = std::chrono::steady_clock::now() + spin_;
  while (true) {
    // The clock is read once per 64 polls: reading it costs more than a poll.
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
      _mm_pause();  // lets the sibling hyper-thread run and saves power while polling
#endif
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

void ThreadPool::work(Job& job, int thread) {
  for (int t = job.next.fetch_add(1); t < job.num_tasks; t = job.next.fetch_add(1)) {
    (*job.fn)(t, thread);
    if (job.done.fetch_add(1) + 1 == job.num_tasks) {
      // Under the lock, so the notify cannot fall between run()'s check and its wait.
      std::lock_guard<std::mutex> lock(mu_);
      done_.notify_one();
    }
  }
}

void ThreadPool::worker(int thread) {
  uint64_t seen = 0;
  while (true) {
    const auto published = [&] { return stopping_.load() || generation_.load() != seen; };
    if (!spin_until(published)) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, published);
    }
    if (stopping_.load()) return;
    seen = generation_.load();
    // Counted in before reading job_ (both sequentially consistent), so run() cannot see
    // inside_ at 0 while this thread still holds a pointer to its Job.
    inside_.fetch_add(1);
    if (Job* job = job_.load()) work(*job, thread);
    inside_.fetch_sub(1);
  }
}

void ThreadPool::run(int num_tasks, const std::function<void(int, int)>& fn) {
  if (num_tasks <= 0) return;
  if (workers_.empty() || num_tasks == 1) {
    for (int t = 0; t < num_tasks; ++t) fn(t, 0);
    return;
  }
  std::lock_guard<std::mutex> one_job(run_mu_);
  Job job;
  job.fn = &fn;
  job.num_tasks = num_tasks;
  job_.store(&job);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
  }
  wake_.notify_all();
  work(job, 0);
  if (!spin_until([&] { return job.done.load() == num_tasks; })) {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return job.done.load() == num_tasks; });
  }
  // Every task is done; workers still inside are only on their way out.
  job_.store(nullptr);
  while (inside_.load() != 0) std::this_thread::yield();
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
