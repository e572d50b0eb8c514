// Vectorised CPU kernels. Weights are read in their stored dtype and converted in registers, so
// decode streams half the bytes of an f32 copy.
#pragma once

#include "engine/safetensors.hpp"

namespace precis::engine::cpu {

// y[t, n] = sum_k x[t, k] * W[n, k] for t < T, n < N; W is [N, K] in any supported dtype.
// Multi-threaded over N with OpenMP.
void matmul_wt(const float* x, int T, int K, const TensorView& w, int N, float* y);

// Row `row` of W converted to f32 into `out` (K floats).
void load_row(const TensorView& w, int64_t row, int K, float* out);

// out = x / rms(x) * weight (weight in any dtype), for T rows of H.
void rms_norm(const float* x, int T, int H, const TensorView& weight, float eps, float* out);

float dot(const float* a, const float* b, int n);
// y += a * x
void axpy(float a, const float* x, float* y, int n);

}  // namespace precis::engine::cpu
