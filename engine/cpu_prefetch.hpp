// Whether the int8 kernels of the K types (quant_interleaved.cpp) prefetch each 256-element
// unit ahead in software, a choice that depends on the CPU's own prefetcher: measured on
// tinyllama-shape Q4_K_M int8 decode, 2 threads, it took a Zen 5 EPYC (AMD family 26) from 51 to
// 76 tok/s (2026-12-07) but cost a Zen 4 EPYC (family 25) a fifth, 45-50 -> 38-40 tok/s
// alternating runs (2026-12-08; llama.cpp 45-48 there). Intel Xeons (family 6) ran with it in
// every peer table. PRECIS_K_PREFETCH=0|1 forces it either way.
#pragma once

namespace precis::engine {

// The policy, for a CPU that is or is not AMD family 19h (25: Zen 3 and Zen 4) and a
// PRECIS_K_PREFETCH value (null or empty: the CPU decides): off on that family, on elsewhere.
// Throws std::invalid_argument naming the variable for a value other than 0 or 1.
bool k_unit_prefetch_wanted(bool amd_family_19h, const char* env);

// k_unit_prefetch_wanted for this CPU and $PRECIS_K_PREFETCH, decided on the first call and
// fixed for the process.
bool k_unit_prefetch();

}  // namespace precis::engine
