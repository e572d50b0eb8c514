// The instruction set the CPU kernels run with. The kernels are compiled once per variant
// (engine/isa_variant.hpp); one is chosen per process: the best this CPU and its OS can run,
// unless the environment variable PRECIS_CPU_ISA forces one. So a binary built anywhere, with or
// without -march=native, runs at full speed on any x86-64 CPU.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace precis::engine {

// scalar: plain x86-64 (SSE2). avx2: x86-64-v3 (AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE).
// avx512: avx2's plus AVX-512 F/BW/VL/DQ/CD and VNNI (Ice Lake, Sapphire Rapids, Zen 4).
enum class CpuIsa { scalar, avx2, avx512 };

// "scalar", "avx2", "avx512": the values PRECIS_CPU_ISA takes.
const char* cpu_isa_name(CpuIsa isa);
// The ISA of a name above (exact, lower case); nullopt for anything else.
std::optional<CpuIsa> parse_cpu_isa(std::string_view name);

// Whether this build compiled the variant and this CPU (with its OS saving the registers) can run
// it. scalar always can.
bool cpu_isa_available(CpuIsa isa);
// The ISAs cpu_isa_available accepts, from scalar up.
std::vector<CpuIsa> available_cpu_isas();

// The ISA for a PRECIS_CPU_ISA value among `available` (ordered from scalar up): the last one when
// the value is null or empty, else the named one. Throws std::invalid_argument naming the variable
// for an unknown name (listing the valid ones) or an ISA not in `available`.
CpuIsa choose_cpu_isa(const char* value, std::span<const CpuIsa> available);

// choose_cpu_isa($PRECIS_CPU_ISA, available_cpu_isas()), decided on the first call (thread-safe)
// and fixed for the process. A bad value throws on every call.
CpuIsa active_cpu_isa();

}  // namespace precis::engine
