// The kernels attention needs for an f16 KV cache on the CPU: K and V rows are stored as IEEE
// half (round to nearest even) and read back into f32 arithmetic, so every score and weighted sum
// is accumulated in f32 as with the f32 cache.
#pragma once

#include <cstdint>

namespace precis::engine::cpu {

// out[i] = f16(x[i]).
void store_f16(const float* x, uint16_t* out, int n);
// sum q[i] * f32(k[i]).
float dot_f16(const float* q, const uint16_t* k, int n);
// y[i] += a * f32(x[i]).
void axpy_f16(float a, const uint16_t* x, float* y, int n);

}  // namespace precis::engine::cpu
