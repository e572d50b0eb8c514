// The engine's thread pool (engine/thread_pool.hpp): every task runs exactly once, on a thread id
// in range, whatever the job size; a job returns only when its tasks are done, even when a worker
// wakes after the caller has taken every task (the decode path's many tiny jobs); concurrent
// callers are serialised; a pool with idle workers shuts down; idle workers stop spinning.
// Each runs with workers that block at once (spin 0) and with ones that poll first.
#include <time.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "engine/thread_pool.hpp"

using precis::engine::parallel_for;
using precis::engine::ThreadPool;
using std::chrono::microseconds;

namespace {
const microseconds kSpins[] = {microseconds(0), microseconds(1000)};

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
}  // namespace

TEST_CASE("thread pool: every task once, thread ids in range", "[thread_pool]") {
  for (int threads : {1, 2, 4}) {
    for (microseconds spin : kSpins) {
      ThreadPool pool(threads, spin);
      for (int n : {0, 1, 2, 3, 7, 64, 1000}) {
        INFO("threads " << threads << ", tasks " << n);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<bool> bad_thread{false};
        pool.run(n, [&](int task, int thread) {
          hits[static_cast<size_t>(task)].fetch_add(1);
          if (thread < 0 || thread >= pool.size()) bad_thread = true;
        });
        for (auto& h : hits) CHECK(h.load() == 1);
        CHECK_FALSE(bad_thread.load());
      }
    }
  }
}

TEST_CASE("thread pool: many tiny jobs back to back all complete", "[thread_pool]") {
  // Jobs far shorter than a worker's wake-up: the caller often takes every task itself, and a
  // worker may wake into a job that is already finished, or into the next one.
  for (microseconds spin : kSpins) {
    ThreadPool pool(3, spin);
    long long total = 0;
    for (int job = 0; job < 20000; ++job) {
      std::atomic<int> sum{0};
      const int n = 1 + job % 5;
      pool.run(n, [&](int task, int) { sum.fetch_add(task + 1); });
      REQUIRE(sum.load() == n * (n + 1) / 2);  // done when run() returns, not later
      total += sum.load();
    }
    CHECK(total > 0);
  }
}

TEST_CASE("thread pool: a job waits for a task another thread is still running", "[thread_pool]") {
  for (microseconds spin : kSpins) {
    ThreadPool pool(2, spin);
    for (int round = 0; round < 20; ++round) {
      std::atomic<int> finished{0};
      pool.run(2, [&](int task, int) {
        if (task == 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        finished.fetch_add(1);
      });
      REQUIRE(finished.load() == 2);
    }
  }
}

TEST_CASE("thread pool: concurrent callers are serialised and all finish", "[thread_pool]") {
  ThreadPool pool(2);
  std::atomic<long long> sum{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int job = 0; job < 500; ++job) pool.run(8, [&](int task, int) { sum.fetch_add(task); });
    });
  for (auto& t : callers) t.join();
  CHECK(sum.load() == 4LL * 500 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7));
}

TEST_CASE("thread pool: parallel_for covers [0, n) once in chunks of at least the grain",
          "[thread_pool]") {
  for (int n : {1, 5, 100, 4097}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    std::atomic<bool> small_chunk{false};
    parallel_for(n, 16, [&](int begin, int end, int) {
      if (end - begin < 16 && end != n) small_chunk = true;
      for (int i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (auto& h : hits) CHECK(h.load() == 1);
    CHECK_FALSE(small_chunk.load());
  }
}

TEST_CASE("thread pool: shuts down with idle workers", "[thread_pool]") {
  for (int i = 0; i < 50; ++i) {
    ThreadPool pool(4, kSpins[i % 4 < 2]);
    if (i % 2) pool.run(4, [](int, int) {});
  }
  SUCCEED();
}

TEST_CASE("thread pool: idle workers stop spinning and block", "[thread_pool]") {
  // Three workers poll for 1 ms after a job, then block: over 300 ms of idleness the process
  // uses a few milliseconds of CPU, not the 900 ms that workers spinning on would burn.
  ThreadPool pool(4, microseconds(1000));
  pool.run(8, [](int, int) {});
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double used = process_cpu_seconds() - before;
  INFO("CPU seconds used while idle: " << used);
  CHECK(used < 0.15);
}

TEST_CASE("thread pool: PRECIS_THREADS / PRECIS_SPIN_US values are checked", "[thread_pool]") {
  using precis::engine::ThreadPool;
  auto parse = [](const char* v) { return ThreadPool::env_number("PRECIS_TEST", v, 1, 64, "2"); };
  CHECK(!parse(nullptr).has_value());  // unset: the default, silently
  CHECK(parse("8") == 8);
  CHECK(parse("1") == 1);
  CHECK(parse("64") == 64);
  // Each of these warns on stderr and falls back to the default.
  for (const char* bad : {"", "0", "65", "-3", "four", "8x", "2.5", "99999999999999999999999"}) {
    INFO("value '" << bad << "'");
    CHECK(!parse(bad).has_value());
  }
}
