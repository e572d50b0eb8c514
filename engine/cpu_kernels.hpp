// Vectorised CPU kernels. Weights are read in their stored dtype and converted in registers, so
// decode streams half the bytes of an f32 copy.
#pragma once

#include "engine/safetensors.hpp"

#include <span>

namespace precis::engine::cpu {

// How quantized weights meet the activations: f32 (the reference: every weight decoded to float)
// or int8 (x quantized to 8 bits per 32, integer dot products, as llama.cpp does: about 1.5x
// faster prefill and scoring, log-probs off by a few hundredths of a nat). Dense weights always
// take f32.
enum class Activations { f32, int8 };

// y[t, n] = sum_k x[t, k] * W[n, k] for t < T, n < N; W is [N, K] in any supported dtype.
// Multi-threaded over N on the engine's thread pool (thread_pool.hpp).
void matmul_wt(const float* x, int T, int K, const TensorView& w, int N, float* y,
               Activations activations = Activations::f32);

// Several matrices that read the same x [T, K] (a layer's q, k and v; gate and up): each
// y [T, N] exactly as matmul_wt writes it, computed as one parallel job when the weights are
// quantized (one wake-up of the workers, 8-bit activations quantized once).
struct MatmulOut {
  const TensorView* w;
  int N;
  float* y;
};
void matmul_wt_multi(const float* x, int T, int K, std::span<const MatmulOut> outs,
                     Activations activations = Activations::f32);

// Row `row` of W converted to f32 into `out` (K floats).
void load_row(const TensorView& w, int64_t row, int K, float* out);

// out = x / rms(x) * weight (weight in any dtype), for T rows of H.
void rms_norm(const float* x, int T, int H, const TensorView& weight, float eps, float* out);

float dot(const float* a, const float* b, int n);
// y += a * x
void axpy(float a, const float* x, float* y, int n);

// Attention over a run of `rows` consecutive keys or values of n floats (one KV block's slots):
// out[r] = dot(q, k + r * n, n); then y += a[r] * (v + r * n) for r = 0, 1, ... in turn. The same
// sums as a call of dot / axpy per row, in one call per block instead of one per position.
void dot_rows(const float* q, const float* k, int rows, int n, float* out);

// sum_i exp(x[i] - shift), NaN elements counting 0; each term also goes to out[i] when out is not
// null (out may be x). For softmax and log-sum-exp, where x <= shift: a term below e^-87 (f32's
// smallest normal) counts 0. Vectorised (a polynomial within 2 ulp of expf), summed in f32 lanes
// in runs whose totals add in f64, in a fixed order.
double exp_sum(const float* x, int n, float shift, float* out);
void axpy_rows(const float* a, const float* v, int rows, int n, float* y);
// axpy_rows for several queries over the same value rows: y + q * ldy += the rows weighted by
// a + q * lda, for q < queries, each the bits axpy_rows gives it alone. Prefill's attention: the
// query heads sharing a KV head read each value row once instead of once each.
void axpy_rows_queries(const float* a, int lda, int queries, const float* v, int rows, int n,
                       float* y, int ldy);

// The first index of x's largest element, NaN skipped (0 when every element is -inf or NaN), and
// that element in *max_value when max_value is not null. Ties keep the lowest index, and -0 and
// +0 tie. The sampler's greedy pick and log-sum-exp's shift over a vocabulary-sized row.
int argmax(const float* x, int n, float* max_value);

// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g): the SwiGLU of the MLP. Vectorised
// with exp_sum's polynomial (within 2 ulp of expf); e^-g for g below -88 saturates at e^88, where
// the result is 0 to f32's precision anyway. A scalar exp per element was 8% of a prefill.
void silu_mul(float* gate, const float* up, int n);

}  // namespace precis::engine::cpu
