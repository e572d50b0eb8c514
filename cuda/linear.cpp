#include "cuda/linear.hpp"

#include <stdexcept>

namespace precis::cuda {

Linear::Linear(Gemm& gemm, const DeviceWeights& weights, cudaStream_t stream)
    : gemm_(gemm), stream_(stream) {
  if (weights.max_quant_elements > 0) scratch_.resize(weights.max_quant_elements);
}

void Linear::operator()(const void* x, DType dtype, int T, const DeviceLinear& w, float* y) {
  if (T <= 0) return;
  int row0 = 0;  // this part's first output column in y
  for (const DeviceMatrix& part : w.parts) {
    float* out = y + row0;
    if (!part.quant) {
      if (T <= kDenseGemvPreferredRows && dense_gemv_supported(dtype, w.cols, part.data.get(), x))
        dense_gemv(part.data.get(), dtype, part.rows, w.cols, x, T, out, w.rows, stream_);
      else
        gemm_.linear(x, dtype, T, w.cols, part.data.get(), part.rows, out, w.rows);
    } else {
      if (dtype != DType::f16) throw std::logic_error("quantized weights take f16 activations");
      const auto* xh = static_cast<const __half*>(x);
      if (T <= kQuantGemvPreferredRows) {
        quant_gemv(part.data.get(), *part.quant, part.rows, w.cols, xh, T, out, w.rows, stream_);
      } else {
        quant_dequantize(part.data.get(), *part.quant, part.rows, w.cols, scratch_.get(), stream_);
        gemm_.linear(x, DType::f16, T, w.cols, scratch_.get(), part.rows, out, w.rows);
      }
    }
    row0 += part.rows;
  }
}

}  // namespace precis::cuda
