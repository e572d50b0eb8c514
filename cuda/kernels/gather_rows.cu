// Picks the rows whose logits were asked for out of the batch's activations.
#include <cstdint>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

namespace {

constexpr int kThreads = 256;

// grid = (R, column chunks of kThreads), so even R = 1 fills several SMs.
__global__ void gather_rows_kernel(const float* __restrict__ src, const int* __restrict__ rows,
                                   int H, float* __restrict__ dst) {
  const int r = blockIdx.x;
  const int i = blockIdx.y * kThreads + threadIdx.x;
  if (i >= H) return;
  const int64_t row = rows[r];
  dst[static_cast<int64_t>(r) * H + i] = src[row * H + i];
}

}  // namespace

void gather_rows(const float* src, const int* rows, int R, int H, float* dst, cudaStream_t stream) {
  if (R < 0) throw std::invalid_argument("gather_rows: R must be >= 0");
  if (H <= 0) throw std::invalid_argument("gather_rows: H must be > 0");
  const int chunks = (H + kThreads - 1) / kThreads;
  if (chunks > 65535) throw std::invalid_argument("gather_rows: H too large");
  if (R == 0) return;
  gather_rows_kernel<<<dim3(R, chunks), kThreads, 0, stream>>>(src, rows, H, dst);
  check_launch("gather_rows_kernel");
}

}  // namespace precis::cuda
