// The rotary embedding arithmetic shared by rope_and_store_kv and the decode attention that fuses
// it: both must produce the very same bits (and the CPU backend's, engine/cpu_backend.cpp's
// apply_rope), so a fused decode step equals an unfused one exactly.
#pragma once

#include <cuda_fp16.h>

namespace precis::cuda {

// cos and sin of the angle pos * inv_freq, computed in double and rounded to float.
__device__ __forceinline__ void rope_cos_sin(int pos, double inv_freq, float& c, float& s) {
  const double angle = pos * inv_freq;
  c = static_cast<float>(cos(angle));
  s = static_cast<float>(sin(angle));
}

// The two elements of pair i: (i, i + half) in Hugging Face's layout, (2i, 2i + 1) in GGUF's
// interleaved llama layout.
__device__ __forceinline__ void rope_pair_index(int i, int half, bool interleaved, int& ia,
                                                int& ib) {
  ia = interleaved ? 2 * i : i;
  ib = interleaved ? 2 * i + 1 : i + half;
}

// (a, b) rotated by (c, s), rounded like the CPU's a * c - b * s and b * c + a * s: no fused
// multiply-add.
__device__ __forceinline__ void rope_rotate(float a, float b, float c, float s, float& r0,
                                            float& r1) {
  r0 = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
  r1 = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
}

}  // namespace precis::cuda
