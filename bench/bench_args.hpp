// What the small kernel benches (cpu_gemm_bench, cpu_dense_gemm_bench) share: an integer flag
// and a monotonic clock in seconds.
#pragma once

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace precis::bench {

// The integer after `name` on the command line, or `fallback` when the flag is absent.
inline int int_arg(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  return fallback;
}

inline double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace precis::bench
