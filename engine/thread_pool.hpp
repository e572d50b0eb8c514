// The engine's worker threads. OpenMP's default of spinning idle threads made decode ~15x slower
// on the KVM guests we run on (measured: 0.7 vs 11 tokens/s on a tinyllama-shape model), and its
// wait policy can only be set through the environment before the library loads. This pool
// blocks idle workers on a condition variable and lets the calling thread work too; tasks are
// claimed dynamically, so a thread that the OS preempts does not hold the others back.
//
// A job ends when its tasks are done, not when every worker has woken up: a decode step is
// hundreds of jobs of a few microseconds each, and waking a blocked thread can take longer than
// that on these guests. The caller takes whatever tasks a slow worker has not claimed yet, and
// waits only for tasks already running elsewhere.
//
// Between jobs a worker first spins for a short while (PRECIS_SPIN_US, default 1000 us) and only
// then blocks: the next job of a decode step usually comes within microseconds, and a blocked
// worker woke too late to take a share of it (llama.cpp's threads poll the same way). The spin is
// bounded, so an idle engine sleeps, and PRECIS_SPIN_US=0 restores blocking at once for a machine
// shared with other busy processes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace precis::engine {

class ThreadPool {
 public:
  // All engines share one pool sized to the machine (PRECIS_THREADS overrides).
  static ThreadPool& shared();
  // `spin`: how long an idle worker (and a caller waiting for another thread's task) polls
  // before it blocks.
  explicit ThreadPool(int threads, std::chrono::microseconds spin = default_spin());
  // PRECIS_SPIN_US, else 1000 us.
  static std::chrono::microseconds default_spin();
  // An environment variable's value as a whole number in [min, max]; nullopt (and a warning on
  // stderr naming the variable, the value and the default it falls back to) when it is not
  // one. Unset: nullopt, no warning.
  static std::optional<long> env_number(const char* name, const char* value, long min, long max,
                                        const char* fallback);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(task, thread) for every task in [0, num_tasks) and returns when all are done.
  // `thread` is in [0, size()) and identifies per-thread scratch space. Calls from different
  // threads are serialised.
  void run(int num_tasks, const std::function<void(int task, int thread)>& fn);

 private:
  // One run() call's tasks; lives on run()'s stack.
  struct Job {
    const std::function<void(int, int)>* fn = nullptr;
    int num_tasks = 0;
    std::atomic<int> next{0};  // the next task to claim
    std::atomic<int> done{0};  // tasks finished
  };

  void worker(int thread);
  // Polls `ready` for up to spin_; true as soon as it holds, false when the time ran out.
  template <class Ready>
  bool spin_until(Ready ready) const;
  // Claims and runs the job's tasks until none is left.
  void work(Job& job, int thread);

  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one job at a time
  std::mutex mu_;
  std::condition_variable wake_;  // a job was published (or the pool stops)
  std::condition_variable done_;  // a job's last task finished
  // Bumped (and stopping_ set) under mu_, for the sleepers; read without it by spinning threads.
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  std::chrono::nanoseconds spin_;
  // The published job, null between jobs. A worker counts itself in inside_ before it reads
  // job_, and run() clears job_ and then waits for inside_ to drain before its Job goes away.
  std::atomic<Job*> job_{nullptr};
  std::atomic<int> inside_{0};
};

// Splits [0, n) into about `chunks_per_thread` chunks per thread of at least `grain` items and
// runs fn(begin, end, thread) on each.
void parallel_for(int n, int grain, const std::function<void(int begin, int end, int thread)>& fn,
                  int chunks_per_thread = 4);

}  // namespace precis::engine
