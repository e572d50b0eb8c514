// What the dense and the quantized decode GEMVs share: a warp owns one output row n and keeps
// one partial sum per activation row; at the end the warp adds its lanes' partials and lane 0
// writes them. Both read 16 bytes at a time, hence the alignment check of their launchers.
#pragma once

#include <cstdint>

namespace precis::cuda {

// y[t * ldy + n] = the warp-wide sum of acc[t], for t < T (TR >= T accumulators).
template <int TR>
__device__ __forceinline__ void gemv_warp_store(float (&acc)[TR], int T, int lane, float* y,
                                                int ldy, int n) {
#pragma unroll
  for (int t = 0; t < TR; ++t) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], o);
  }
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < TR; ++t)
      if (t < T) y[static_cast<int64_t>(t) * ldy + n] = acc[t];
  }
}

inline bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace precis::cuda
