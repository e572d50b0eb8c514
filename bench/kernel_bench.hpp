// What the small kernel benches (cpu_gemm_bench, cpu_dense_gemm_bench) share: their flags, a
// monotonic clock, and the table they print (one row per weight type, one rate column per CPU
// variant, then each variant's ratio to the first).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu_isa.hpp"

namespace precis::bench {

inline bool help_requested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return true;
  return false;
}

// The integer after `name` on the command line, or `fallback` when the flag is absent.
inline int int_arg(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  return fallback;
}

inline double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The table's header: `first` names the row column, `unit` the rates (e.g. "GFLOP/s").
inline void print_rate_header(const char* first, const std::vector<engine::CpuIsa>& variants,
                              const char* unit) {
  std::printf("%-6s", first);
  for (engine::CpuIsa isa : variants)
    std::printf(" %14s", (std::string(engine::cpu_isa_name(isa)) + " " + unit).c_str());
  if (variants.size() > 1) std::printf("  ratio to %s", engine::cpu_isa_name(variants.front()));
  std::printf("\n");
}

// One row: its name, each variant's rate, then each later variant's ratio to the first.
inline void print_rate_row(const std::string& name, const std::vector<double>& rates) {
  std::printf("%-6s", name.c_str());
  for (double r : rates) std::printf(" %14.1f", r);
  for (size_t i = 1; i < rates.size(); ++i) std::printf("  %.2fx", rates[i] / rates[0]);
  std::printf("\n");
}

}  // namespace precis::bench
