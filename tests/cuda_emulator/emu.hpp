// CUDA emulator, device side: the header every rewritten kernel source includes (rewrite.py
// puts it after the CUDA host headers). It is a CPU stand-in for a GPU so that the tests under
// tests/gpu/ run in CI machines without one; see emu.cpp for what it checks and cannot catch.
//
// The CUDA keywords become plain C++ (__global__/__device__ vanish, __shared__ variables are
// rewritten by rewrite.py), threadIdx/blockIdx/... read the state of the running fiber, and
// __syncthreads, __syncwarp and the warp shuffles are real barriers between fibers.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#undef __global__
#undef __device__
#undef __forceinline__
#undef __shared__
#undef __launch_bounds__
#undef __host__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

using std::ceil;
using std::cos;
using std::exp;
using std::fmin;
using std::isfinite;
using std::isnan;
using std::log;
using std::sin;
using std::sqrt;

template <class T>
inline T min(T a, T b) {
  return a < b ? a : b;
}
template <class T>
inline T max(T a, T b) {
  return a > b ? a : b;
}

namespace emu {
struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};
// The running thread's coordinates (set by the scheduler before it switches to a fiber).
extern const Dim3* cur_tid;
extern Dim3 cur_bidx, cur_bdim, cur_gdim;
extern int cur_thread;  // linear thread index in the block
void syncthreads(const char* file, int line);
void warp_sync(const char* file, int line, unsigned mask);
void* shfl_slot(int lane);  // the current warp's exchange slot for a lane
void* dyn_smem();
int reg_shared(void* p, size_t n);
// A kernel launch: checks the configuration now (cudaGetLastError), runs the grid when the
// stream queue reaches it. body calls the kernel with the launch's arguments, captured by value.
void launch(const char* name, const void* fn, dim3 grid, dim3 block, size_t smem,
            cudaStream_t stream, std::function<void()> body);

template <class T, class F>
T shfl(const char* file, int line, unsigned mask, T v, int width, F src) {
  if (mask != 0xffffffffu) {
    std::fprintf(stderr, "emu: %s:%d: partial shuffle mask %#x not emulated\n", file, line, mask);
    std::abort();
  }
  if (width <= 0 || width > 32 || (width & (width - 1))) {
    std::fprintf(stderr, "emu: %s:%d: bad shuffle width %d\n", file, line, width);
    std::abort();
  }
  static_assert(sizeof(T) <= 8);
  const int lane = cur_thread & 31;
  std::memcpy(shfl_slot(lane), &v, sizeof(T));
  warp_sync(file, line, mask);
  const int seg = lane & ~(width - 1);
  const int s = src(lane - seg);  // index within the segment, or -1: keep own value
  T r = v;
  if (s >= 0) std::memcpy(&r, shfl_slot(seg + s), sizeof(T));
  warp_sync(file, line, mask);
  return r;
}
template <class T>
T shfl_xor(const char* f, int ln, unsigned m, T v, int o, int w = 32) {
  return shfl(f, ln, m, v, w, [&](int l) {
    const int s = l ^ o;
    return s < w ? s : l;
  });
}
template <class T>
T shfl_idx(const char* f, int ln, unsigned m, T v, int src, int w = 32) {
  return shfl(f, ln, m, v, w, [&](int) { return src & (w - 1); });
}
template <class T>
T shfl_up(const char* f, int ln, unsigned m, T v, unsigned d, int w = 32) {
  return shfl(f, ln, m, v, w, [&](int l) {
    const int s = l - static_cast<int>(d);
    return s >= 0 ? s : -1;
  });
}
template <class T>
T shfl_down(const char* f, int ln, unsigned m, T v, unsigned d, int w = 32) {
  return shfl(f, ln, m, v, w, [&](int l) {
    const int s = l + static_cast<int>(d);
    return s < w ? s : -1;
  });
}
}  // namespace emu

#define threadIdx (*::emu::cur_tid)
#define blockIdx (::emu::cur_bidx)
#define blockDim (::emu::cur_bdim)
#define gridDim (::emu::cur_gdim)
#define __syncthreads() ::emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::emu::warp_sync(__FILE__, __LINE__, 0xffffffffu)
#define __shfl_xor_sync(...) ::emu::shfl_xor(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_sync(...) ::emu::shfl_idx(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::emu::shfl_up(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) ::emu::shfl_down(__FILE__, __LINE__, __VA_ARGS__)

// Bit casts and correctly rounded single operations. The empty asm keeps g++ from fusing the
// operations the _rn intrinsics promise not to fuse.
inline uint32_t __float_as_uint(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline int __float_as_int(float f) {
  int u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __int_as_float(int u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline long long __double_as_longlong(double f) {
  long long u;
  std::memcpy(&u, &f, 8);
  return u;
}
inline double __longlong_as_double(long long u) {
  double f;
  std::memcpy(&f, &u, 8);
  return f;
}
inline float emu_rn(float r) {
  asm("" : "+x"(r));
  return r;
}
inline double emu_rn(double r) {
  asm("" : "+x"(r));
  return r;
}
inline float __fadd_rn(float a, float b) {
  return emu_rn(a + b);
}
inline float __fsub_rn(float a, float b) {
  return emu_rn(a - b);
}
inline float __fmul_rn(float a, float b) {
  return emu_rn(a * b);
}
inline float __fdiv_rn(float a, float b) {
  return emu_rn(a / b);
}
inline float __frcp_rn(float a) {
  return emu_rn(1.0f / a);
}
inline float __fsqrt_rn(float a) {
  return emu_rn(std::sqrt(a));
}
inline float __fmaf_rn(float a, float b, float c) {
  return std::fma(a, b, c);
}
inline double __dadd_rn(double a, double b) {
  return emu_rn(a + b);
}
inline double __dmul_rn(double a, double b) {
  return emu_rn(a * b);
}

// Read-only cached loads: plain loads on the CPU (uint4 and the other vector types are PODs).
template <class T>
inline T __ldg(const T* p) {
  return *p;
}

// L2-only loads; fences and atomics. Blocks run one after another on one thread, so these are
// plain operations (the emulator cannot check cross-block memory ordering; see emu.cpp).
template <class T>
inline T __ldcg(const T* p) {
  return *p;
}
inline void __threadfence() {}
inline unsigned atomicAdd(unsigned* p, unsigned v) {
  const unsigned old = *p;
  *p = old + v;
  return old;
}

// nvcc's cuda_runtime.h overload taking the kernel itself.
template <class R, class... A>
inline cudaError_t cudaFuncSetAttribute(R (*f)(A...), cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(f), attr, value);
}
