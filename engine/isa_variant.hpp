// For the CPU-kernel sources only (engine/cpu_kernels.cpp, quant_table.cpp, quant_q8_0.cpp,
// quant_q4_q5.cpp, quant_k.cpp), which engine/CMakeLists.txt compiles once per instruction set
// with PRECIS_ISA_LEVEL 0 (scalar), 1 (avx2) or 2 (avx512). This header turns the level into:
//  - PRECIS_ISA_NS, the inner namespace of the variant's definitions, so the copies of a
//    function never share a name (no ODR clash), and PRECIS_ISA, its CpuIsa;
//  - PRECIS_SIMD_AVX2 / PRECIS_SIMD_AVX512VNNI, which select the code paths;
//  - a `#pragma GCC target` that enables the instruction set for every function defined after it.
//
// Why a pragma and not -mavx2 ... on the command line: such flags would also compile the code the
// headers bring in (std::vector, inline helpers) for that ISA, and the compiler emits it as weak
// symbols in every object that uses it; the linker keeps one copy per name for the whole program,
// which can be the AVX-512 copy, called by baseline code on a CPU without AVX-512. Code parsed
// before the pragma keeps the baseline ISA, so include this header (through quant_kernels.hpp or
// quant_simd.hpp) after every other header. tests/check_isa_objects.sh verifies the objects.
#pragma once

#include "engine/cpu_isa.hpp"

#include <immintrin.h>  // declares every intrinsic; the pragma makes a variant's usable

#ifndef PRECIS_ISA_LEVEL
#error "engine/isa_variant.hpp: compile the CPU kernels through engine/CMakeLists.txt's variants"
#endif

#if PRECIS_ISA_LEVEL == 0
#define PRECIS_ISA_NS isa_scalar
#define PRECIS_ISA ::precis::engine::CpuIsa::scalar
#elif PRECIS_ISA_LEVEL == 1
#define PRECIS_ISA_NS isa_avx2
#define PRECIS_ISA ::precis::engine::CpuIsa::avx2
#define PRECIS_SIMD_AVX2 1
// x86-64-v3; cpu_isa.cpp checks the same list.
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,lzcnt,movbe")
#elif PRECIS_ISA_LEVEL == 2
#define PRECIS_ISA_NS isa_avx512
#define PRECIS_ISA ::precis::engine::CpuIsa::avx512
#define PRECIS_SIMD_AVX2 1
#define PRECIS_SIMD_AVX512VNNI 1
// x86-64-v4 plus VNNI; cpu_isa.cpp checks the same list.
#pragma GCC target( \
    "avx2,fma,f16c,bmi,bmi2,lzcnt,movbe,avx512f,avx512bw,avx512vl,avx512dq,avx512cd,avx512vnni")
// GCC 12 reports "'__Y' is (may be) used uninitialized" inside avx512fintrin.h for most 512-bit
// intrinsics (their _mm*_undefined_* pass-through operand, which the all-ones mask never reads):
// a false positive in the compiler's own header, not in this code, which the sanitizer build and
// the kernel tests check instead.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#else
#error "engine/isa_variant.hpp: PRECIS_ISA_LEVEL must be 0, 1 or 2"
#endif
