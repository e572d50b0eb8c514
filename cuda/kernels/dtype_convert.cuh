// Device-side loads and stores in the backend's element types (kernels.hpp's DType), so each
// kernel is written once over float and specialised per dtype by template.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

template <DType D>
struct DTypeTraits;
template <>
struct DTypeTraits<DType::f32> {
  using type = float;
};
template <>
struct DTypeTraits<DType::f16> {
  using type = __half;
};
template <>
struct DTypeTraits<DType::bf16> {
  using type = __nv_bfloat16;
};

__device__ __forceinline__ float to_float(float v) {
  return v;
}
__device__ __forceinline__ float to_float(__half v) {
  return __half2float(v);
}
__device__ __forceinline__ float to_float(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Calls f.template operator()<T>() with T the C++ type of `d`; used by the host launchers to
// pick a kernel instantiation at run time.
template <typename F>
void dispatch_dtype(DType d, F&& f) {
  switch (d) {
    case DType::f32:
      f.template operator()<float>();
      break;
    case DType::f16:
      f.template operator()<__half>();
      break;
    case DType::bf16:
      f.template operator()<__nv_bfloat16>();
      break;
  }
}

}  // namespace precis::cuda
