// The MLP's gated activation: silu(gate) * up, written in the weights' dtype for the down GEMM.
#include <cstdint>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/dtype_convert.cuh"
#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

namespace {

constexpr int kThreads = 256;

// grid = (T, column chunks of kThreads). Same arithmetic as the CPU backend,
// g / (1 + exp(-g)) * u; the explicit _rn intrinsics keep nvcc from fusing it differently.
// Large negative g makes expf overflow to inf and the result a signed zero, as on the CPU.
template <typename O>
__global__ void silu_mul_kernel(const float* __restrict__ gate_up, int I, O* __restrict__ out) {
  const int t = blockIdx.x;
  const int i = blockIdx.y * kThreads + threadIdx.x;
  if (i >= I) return;
  const float* row = gate_up + static_cast<int64_t>(t) * 2 * I;
  const float g = row[i];
  const float u = row[I + i];
  const float s = __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));
  out[static_cast<int64_t>(t) * I + i] = from_float<O>(__fmul_rn(s, u));
}

}  // namespace

void silu_mul(const float* gate_up, int T, int I, void* out, DType out_dtype, cudaStream_t stream) {
  if (T < 0) throw std::invalid_argument("silu_mul: T must be >= 0");
  if (I <= 0) throw std::invalid_argument("silu_mul: I must be > 0");
  const int chunks = (I + kThreads - 1) / kThreads;
  if (chunks > 65535) throw std::invalid_argument("silu_mul: I too large");
  if (T == 0) return;
  dispatch_dtype(out_dtype, [&]<typename O>() {
    silu_mul_kernel<O><<<dim3(T, chunks), kThreads, 0, stream>>>(gate_up, I, static_cast<O*>(out));
    check_launch("silu_mul_kernel");
  });
}

}  // namespace precis::cuda
