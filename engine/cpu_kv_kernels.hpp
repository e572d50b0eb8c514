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

// out[i] = f32(x[i]).
void load_f16(const uint16_t* x, float* out, int n);

// Scores of many queries against one block of keys (prefill: a tile of rows times the query
// heads of a KV head), without converting the keys once per query. kt holds up to kKeyTile keys
// transposed to f32: kt[d * kKeyTile + r] = f32(k[r * n + d]), zero for r >= rows.
constexpr int kKeyTile = 16;
void transpose_f16_keys(const uint16_t* k, int rows, int n, float* kt);
// out[m * ldo + r] = dot_f16(q + m * ldq, key r, n), bit for bit (the same products summed in the
// same order, so a row scored here equals one scored by dot_f16_rows), for m < M and r <
// kKeyTile (zero for the padding keys). n a multiple of 16.
void dot_f16_transposed(const float* q, int ldq, int M, const float* kt, int n, float* out,
                        int ldo);

}  // namespace precis::engine::cpu
