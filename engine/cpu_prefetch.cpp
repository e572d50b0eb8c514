#include "engine/cpu_prefetch.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace precis::engine {
namespace {

// AMD family 19h (25) through GCC's CPU detection, as cpu_isa.cpp asks for features.
bool this_cpu_is_amd_family_19h() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // we may run before libgcc's own constructor
  return __builtin_cpu_is("amdfam19h");
#else
  return false;
#endif
}

}  // namespace

bool k_unit_prefetch_wanted(bool amd_family_19h, const char* env) {
  if (env && *env) {
    if (std::strcmp(env, "0") == 0) return false;
    if (std::strcmp(env, "1") == 0) return true;
    throw std::invalid_argument(std::string("PRECIS_K_PREFETCH=") + env +
                                ": must be 0 (off) or 1 (on)");
  }
  return !amd_family_19h;
}

bool k_unit_prefetch() {
  static const bool on =
      k_unit_prefetch_wanted(this_cpu_is_amd_family_19h(), std::getenv("PRECIS_K_PREFETCH"));
  return on;
}

}  // namespace precis::engine
