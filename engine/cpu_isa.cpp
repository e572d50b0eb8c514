#include "engine/cpu_isa.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace precis::engine {
namespace {

constexpr CpuIsa kAll[] = {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512};

// What the CPU and OS offer. GCC's __builtin_cpu_supports reports AVX and AVX-512 features only
// when XCR0 shows the OS saves their registers (libgcc's cpuinfo checks OSXSAVE and XGETBV), so an
// OS that disabled AVX-512 gets the avx2 variant.
bool cpu_runs(CpuIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // we may run before libgcc's own constructor
  // Exactly the features engine/isa_variant.hpp enables for each variant.
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                  __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi") &&
                  __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("lzcnt") &&
                  __builtin_cpu_supports("movbe");
  switch (isa) {
    case CpuIsa::scalar:
      return true;
    case CpuIsa::avx2:
      return v3;
    case CpuIsa::avx512:
      return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512vnni");
  }
  return false;
#else
  return isa == CpuIsa::scalar;
#endif
}

// Whether engine/CMakeLists.txt compiled the variant (it skips the SIMD ones off x86-64 and for
// compilers other than GCC).
bool built(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::scalar:
      return true;
    case CpuIsa::avx2:
#ifdef PRECIS_HAVE_ISA_AVX2
      return true;
#else
      return false;
#endif
    case CpuIsa::avx512:
#ifdef PRECIS_HAVE_ISA_AVX512
      return true;
#else
      return false;
#endif
  }
  return false;
}

std::string names(std::span<const CpuIsa> isas) {
  std::string s;
  for (CpuIsa isa : isas) s += (s.empty() ? "" : ", ") + std::string(cpu_isa_name(isa));
  return s;
}

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::scalar:
      return "scalar";
    case CpuIsa::avx2:
      return "avx2";
    case CpuIsa::avx512:
      return "avx512";
  }
  return "?";
}

std::optional<CpuIsa> parse_cpu_isa(std::string_view name) {
  for (CpuIsa isa : kAll)
    if (name == cpu_isa_name(isa)) return isa;
  return std::nullopt;
}

bool cpu_isa_available(CpuIsa isa) {
  return built(isa) && cpu_runs(isa);
}

std::vector<CpuIsa> available_cpu_isas() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : kAll)
    if (cpu_isa_available(isa)) out.push_back(isa);
  return out;
}

CpuIsa choose_cpu_isa(const char* value, std::span<const CpuIsa> available) {
  if (available.empty())
    throw std::invalid_argument("choose_cpu_isa: no instruction set available");
  if (!value || !*value) return available.back();
  const std::optional<CpuIsa> isa = parse_cpu_isa(value);
  if (!isa)
    throw std::invalid_argument(std::string("PRECIS_CPU_ISA=") + value +
                                ": unknown instruction set; valid values: " + names(kAll));
  for (CpuIsa a : available)
    if (a == *isa) return a;
  throw std::invalid_argument(
      std::string("PRECIS_CPU_ISA=") + value +
      ": this CPU or this build cannot run it; available here: " + names(available));
}

CpuIsa active_cpu_isa() {
  // A throwing initialiser leaves the static uninitialised, so a bad value fails every call.
  static const CpuIsa isa = choose_cpu_isa(std::getenv("PRECIS_CPU_ISA"), available_cpu_isas());
  return isa;
}

}  // namespace precis::engine
