#include "engine/cpu_prefetch.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace precis::engine {
namespace {

struct CpuIdentity {
  bool amd = false;
  int family = 0;
};

CpuIdentity this_cpu() {
  CpuIdentity id;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return id;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  id.amd = std::strcmp(vendor, "AuthenticAMD") == 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return id;
  const int base = static_cast<int>((a >> 8) & 0xF);
  id.family = base == 0xF ? base + static_cast<int>((a >> 20) & 0xFF) : base;
#endif
  return id;
}

}  // namespace

bool k_unit_prefetch_wanted(bool amd, int family, const char* env) {
  if (env && *env) {
    if (std::strcmp(env, "0") == 0) return false;
    if (std::strcmp(env, "1") == 0) return true;
    throw std::invalid_argument(std::string("PRECIS_K_PREFETCH=") + env +
                                ": must be 0 (off) or 1 (on)");
  }
  return !(amd && family == 25);
}

bool k_unit_prefetch() {
  static const bool on = [] {
    const CpuIdentity id = this_cpu();
    return k_unit_prefetch_wanted(id.amd, id.family, std::getenv("PRECIS_K_PREFETCH"));
  }();
  return on;
}

}  // namespace precis::engine
