// Token embedding lookup: one row of the table per token, widened to f32.
#include <cstdint>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/dtype_convert.cuh"
#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

namespace {

constexpr int kThreads = 256;

// grid = (T, column chunks of kThreads): a single token (decode) still spreads a wide row over
// several blocks instead of one block walking all of it.
template <typename T>
__global__ void embedding_gather_kernel(const T* __restrict__ table, const int* __restrict__ ids,
                                        int H, float* __restrict__ out) {
  const int t = blockIdx.x;
  const int i = blockIdx.y * kThreads + threadIdx.x;
  if (i >= H) return;
  // The host validated ids against the vocabulary; int64 because vocab * H can exceed 2^31.
  const int64_t id = ids[t];
  out[static_cast<int64_t>(t) * H + i] = to_float(table[id * H + i]);
}

}  // namespace

void embedding_gather(const void* table, DType dtype, const int* ids, int T, int H, float* out,
                      cudaStream_t stream) {
  if (T < 0) throw std::invalid_argument("embedding_gather: T must be >= 0");
  if (H <= 0) throw std::invalid_argument("embedding_gather: H must be > 0");
  const int chunks = (H + kThreads - 1) / kThreads;
  if (chunks > 65535) throw std::invalid_argument("embedding_gather: H too large");
  if (T == 0) return;  // a zero-sized grid is a launch error
  dispatch_dtype(dtype, [&]<typename E>() {
    embedding_gather_kernel<E>
        <<<dim3(T, chunks), kThreads, 0, stream>>>(static_cast<const E*>(table), ids, H, out);
    check_launch("embedding_gather_kernel");
  });
}

}  // namespace precis::cuda
