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
// dot_f16 / axpy_f16 over `rows` consecutive rows of n halves, as cpu::dot_rows / axpy_rows.
void dot_f16_rows(const float* q, const uint16_t* k, int rows, int n, float* out);
void axpy_f16_rows(const float* a, const uint16_t* v, int rows, int n, float* y);

}  // namespace precis::engine::cpu
