// CUDA emulator, host side: the subset of the CUDA runtime and of cuBLAS that cuda/*.cpp and the
// tests use, implemented on the CPU so they link against it instead of libcudart/libcublas.
// Part of the CPU stand-in for a GPU that runs tests/gpu/ in CI (see emu.cpp for the kernels).
//
// Host memory stands in for device memory; cudaMalloc'd and cudaMallocHost'd memory is filled
// with garbage (EMU_FILL), as is freed device memory. Stream work (kernels, async copies and
// memsets, GEMMs, graph launches) is deferred into one in-order queue that runs only at a
// synchronising call (stream/device/event sync, cudaMemcpy/cudaMemset, cudaFree/cudaFreeHost,
// an async copy into pageable host memory). So a host that reads results without synchronising,
// or writes a pinned buffer that an enqueued copy has not read yet, sees wrong data; async copies
// from pageable memory are staged at the call, as the driver does.
// Stream capture records the work into a graph (kernel arguments by value, as CUDA does).
// Checked: copies/memsets/GEMM operands must lie inside one allocation of the right kind;
// unknown streams/events/handles; work that capture forbids (pageable copies, synchronisation,
// cudaMalloc). Any such API error or kernel fault makes the process exit with status 3.
// Not modelled: concurrency between streams (one FIFO), events as dependencies, device-side
// timing (cudaEventElapsedTime measures host time), multiple devices, cuBLAS numerics (the GEMM
// accumulates in double), any API not listed here (a link error names it).
#include <cublas_api.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "emu.hpp"
#include "emu_internal.hpp"

struct CUstream_st {
  int id;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point t;
  bool recorded = false;
};
struct cublasContext {
  cudaStream_t stream = nullptr;
};
using Work = std::vector<std::function<void()>>;
struct CUgraph_st {
  Work nodes;
};
struct CUgraphExec_st {
  Work nodes;
};

namespace emu {
namespace {
constexpr size_t kTotalMem = 80ull << 30;
constexpr size_t kMaxDynSmemDefault = 48 * 1024;
constexpr size_t kMaxDynSmemOptIn = 227 * 1024;  // sm_90

Work queue;                              // the device's in-order work queue
std::map<cudaStream_t, Work> capturing;  // streams being captured, with their recorded work
std::map<uintptr_t, size_t> allocs;      // device allocations: base -> bytes
std::map<uintptr_t, size_t> pinned;      // cudaMallocHost allocations
size_t alloc_bytes = 0;
std::set<cudaStream_t> streams;
std::set<cudaEvent_t> events;
std::set<cublasHandle_t> handles;
std::map<const void*, size_t> max_dyn_smem;  // cudaFuncAttributeMaxDynamicSharedMemorySize
cudaError_t last_error = cudaSuccess;        // launch configuration errors (cudaGetLastError)
bool flushing = false;
int api_errors = 0;
long long launches = 0;
std::map<std::string, long long> per_kernel;

// Reports at exit; a kernel fault or API misuse fails the test binary even if no test noticed.
struct Report {
  Report() {
    std::atexit([] {
      std::fprintf(stderr, "emu: %lld launches, %d kernel errors, %d API errors (EMU_SCHED=%s)\n",
                   launches, kernel_errors, api_errors,
                   std::getenv("EMU_SCHED") ? std::getenv("EMU_SCHED") : "fwd");
      if (std::getenv("EMU_STATS"))
        for (auto& [k, v] : per_kernel) std::fprintf(stderr, "emu:   %8lld x %s\n", v, k.c_str());
      if (kernel_errors || api_errors) {
        std::fflush(nullptr);
        std::_Exit(3);
      }
    });
  }
} report;

void api_fail(const std::string& what) {
  std::fprintf(stderr, "emu: API ERROR: %s\n", what.c_str());
  ++api_errors;
}
void flush() {
  if (flushing) return;
  flushing = true;
  for (size_t i = 0; i < queue.size(); ++i) queue[i]();  // work may enqueue more
  queue.clear();
  flushing = false;
}
cudaError_t take_pending() {
  const cudaError_t e = pending_error;
  pending_error = cudaSuccess;
  return e;
}
bool is_capturing(cudaStream_t s) {
  return capturing.count(s) != 0;
}
void enqueue(cudaStream_t s, std::function<void()> f) {
  if (auto it = capturing.find(s); it != capturing.end())
    it->second.push_back(std::move(f));
  else
    queue.push_back(std::move(f));
}
// Is [p, p+n) inside one allocation of the map?
bool inside(const std::map<uintptr_t, size_t>& m, const void* p, size_t n) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = m.upper_bound(a);
  if (it == m.begin()) return false;
  --it;
  return a >= it->first && a + n <= it->first + it->second;
}
bool in_device(const void* p, size_t n) {
  return inside(allocs, p, n);
}
bool touches_device(const void* p) {
  return inside(allocs, p, 1);
}
bool stream_ok(cudaStream_t s) {
  return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread || streams.count(s);
}
cudaError_t check_copy(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t st,
                       const char* fn) {
  if (!stream_ok(st)) {
    api_fail(std::string(fn) + " on a destroyed/unknown stream");
    return cudaErrorInvalidResourceHandle;
  }
  if (n == 0) return cudaSuccess;
  const bool dd = in_device(d, n), sd = in_device(s, n);
  bool ok = true;
  switch (k) {
    case cudaMemcpyHostToDevice:
      ok = dd && !touches_device(s);
      break;
    case cudaMemcpyDeviceToHost:
      ok = sd && !touches_device(d);
      break;
    case cudaMemcpyDeviceToDevice:
      ok = dd && sd;
      break;
    case cudaMemcpyHostToHost:
      ok = !touches_device(d) && !touches_device(s);
      break;
    case cudaMemcpyDefault:
      ok = (dd || !touches_device(d)) && (sd || !touches_device(s));
      break;
  }
  if (!ok) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s(dst=%p, src=%p, %zu bytes, kind %d): range/kind mismatch",
                  fn, d, s, n, static_cast<int>(k));
    api_fail(buf);
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}
float load_elem(const void* p, cudaDataType t, size_t i) {
  if (t == CUDA_R_32F) return static_cast<const float*>(p)[i];
  uint16_t h;
  std::memcpy(&h, static_cast<const unsigned char*>(p) + 2 * i, 2);
  if (t == CUDA_R_16BF) return __uint_as_float(uint32_t(h) << 16);
  __half_raw r;
  r.x = h;
  return __half2float(__half(r));
}
}  // namespace

void launch(const char* name, const void* fn, dim3 grid, dim3 block, size_t smem, cudaStream_t st,
            std::function<void()> body) {
  const unsigned long long nthreads = 1ull * block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
      grid.z > 65535 || block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 ||
      block.y > 1024 || block.z > 64 || nthreads > 1024) {
    std::fprintf(stderr,
                 "emu: launch of %s: invalid configuration grid (%u,%u,%u) block (%u,%u,%u)\n",
                 name, grid.x, grid.y, grid.z, block.x, block.y, block.z);
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  size_t limit = kMaxDynSmemDefault;
  if (auto it = max_dyn_smem.find(fn); it != max_dyn_smem.end())
    limit = std::max(limit, it->second);
  if (smem > limit) {
    std::fprintf(stderr, "emu: launch of %s: %zu bytes of dynamic shared memory > limit %zu\n",
                 name, smem, limit);
    last_error = cudaErrorInvalidValue;
    return;
  }
  if (!stream_ok(st)) {
    last_error = cudaErrorInvalidResourceHandle;
    return;
  }
  ++launches;
  ++per_kernel[name];
  enqueue(st, [=, body = std::move(body)] { run_grid(name, grid, block, smem, body); });
}
}  // namespace emu

extern "C" {
cudaError_t cudaMalloc(void** p, size_t n) {
  if (!emu::capturing.empty()) emu::api_fail("cudaMalloc while a stream is capturing");
  if (emu::alloc_bytes + n > emu::kTotalMem) return cudaErrorMemoryAllocation;
  void* q = nullptr;
  if (posix_memalign(&q, 256, n ? n : 1) != 0) return cudaErrorMemoryAllocation;
  emu::garbage(q, n);  // device memory is not zeroed
  emu::allocs[reinterpret_cast<uintptr_t>(q)] = n ? n : 1;
  emu::alloc_bytes += n;
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  auto it = emu::allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == emu::allocs.end()) {
    emu::api_fail("cudaFree of a pointer not from cudaMalloc");
    return cudaErrorInvalidValue;
  }
  emu::flush();                 // cudaFree synchronises
  emu::garbage(p, it->second);  // catch use after free
  emu::alloc_bytes -= it->second;
  emu::allocs.erase(it);
  std::free(p);
  return cudaSuccess;  // errors of earlier launches stay pending
}
cudaError_t cudaMallocHost(void** p, size_t n) {
  void* q = nullptr;
  if (posix_memalign(&q, 4096, n ? n : 1) != 0) return cudaErrorMemoryAllocation;
  emu::garbage(q, n);
  emu::pinned[reinterpret_cast<uintptr_t>(q)] = n ? n : 1;
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  if (!p) return cudaSuccess;
  emu::flush();
  if (!emu::pinned.erase(reinterpret_cast<uintptr_t>(p))) {
    emu::api_fail("cudaFreeHost of unknown pointer");
    return cudaErrorInvalidValue;
  }
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t st) {
  if (cudaError_t e = emu::check_copy(d, s, n, k, st, "cudaMemcpyAsync")) return e;
  if (n == 0) return cudaSuccess;
  const bool src_host = !emu::in_device(s, n), dst_host = !emu::in_device(d, n);
  if ((src_host && !emu::inside(emu::pinned, s, n)) ||
      (dst_host && !emu::inside(emu::pinned, d, n))) {
    if (emu::is_capturing(st)) {
      emu::api_fail("cudaMemcpyAsync with pageable host memory during stream capture");
      return cudaErrorStreamCaptureUnsupported;
    }
    if (src_host) {  // staged now, as the driver does for pageable sources
      auto staged = std::make_shared<std::vector<unsigned char>>(
          static_cast<const unsigned char*>(s), static_cast<const unsigned char*>(s) + n);
      emu::enqueue(st, [=] { std::memcpy(d, staged->data(), n); });
      return cudaSuccess;
    }
    emu::flush();  // a copy into pageable memory returns when done
    std::memmove(d, s, n);
    return emu::take_pending();
  }
  emu::enqueue(st, [=] { std::memmove(d, s, n); });
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind k) {
  if (cudaError_t e = emu::check_copy(d, s, n, k, nullptr, "cudaMemcpy")) return e;
  if (!emu::capturing.empty()) emu::api_fail("synchronous cudaMemcpy while a stream is capturing");
  emu::flush();
  if (n) std::memmove(d, s, n);
  return emu::take_pending();
}
cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t st) {
  if (!emu::stream_ok(st)) return cudaErrorInvalidResourceHandle;
  if (n && !emu::in_device(d, n)) {
    emu::api_fail("cudaMemsetAsync out of an allocation");
    return cudaErrorInvalidValue;
  }
  if (n) emu::enqueue(st, [=] { std::memset(d, v, n); });
  return cudaSuccess;
}
cudaError_t cudaMemset(void* d, int v, size_t n) {
  if (n && !emu::in_device(d, n)) {
    emu::api_fail("cudaMemset out of an allocation");
    return cudaErrorInvalidValue;
  }
  emu::flush();
  if (n) std::memset(d, v, n);
  return emu::take_pending();
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (!emu::stream_ok(s)) {
    emu::api_fail("cudaStreamSynchronize of unknown stream");
    return cudaErrorInvalidResourceHandle;
  }
  if (emu::is_capturing(s)) {
    emu::api_fail("cudaStreamSynchronize on a capturing stream");
    return cudaErrorStreamCaptureUnsupported;
  }
  emu::flush();
  return emu::take_pending();
}
cudaError_t cudaDeviceSynchronize() {
  if (!emu::capturing.empty()) {
    emu::api_fail("cudaDeviceSynchronize during capture");
    return cudaErrorStreamCaptureUnsupported;
  }
  emu::flush();
  return emu::take_pending();
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::last_error;
  emu::last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  return emu::last_error;
}
cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<size_t>(value) > emu::kMaxDynSmemOptIn)
      return cudaErrorInvalidValue;
    emu::max_dyn_smem[func] = static_cast<size_t>(value);
  }
  return cudaSuccess;
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorIllegalState:
      return "cudaErrorIllegalState";
    default:
      return "cudaError(other)";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  return cudaGetErrorName(e);
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
  return d == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}
cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (d != 0) return cudaErrorInvalidDevice;
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "EMULATED H100 (CPU fibers)");
  p->totalGlobalMem = emu::kTotalMem;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 132;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->sharedMemPerBlock = emu::kMaxDynSmemDefault;
  p->sharedMemPerBlockOptin = emu::kMaxDynSmemOptIn;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = p->maxGridSize[2] = 65535;
  p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  *total = emu::kTotalMem;
  *free_bytes = emu::kTotalMem - emu::alloc_bytes;
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  static int counter = 0;
  *s = new CUstream_st{++counter};
  emu::streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) {
  return cudaStreamCreateWithFlags(s, 0);
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!emu::streams.erase(s)) {
    emu::api_fail("cudaStreamDestroy of unknown stream");
    return cudaErrorInvalidResourceHandle;
  }
  delete s;
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st;
  emu::events.insert(*e);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  if (!emu::events.erase(e)) return cudaErrorInvalidResourceHandle;
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!emu::events.count(e) || !emu::stream_ok(s)) return cudaErrorInvalidResourceHandle;
  e->t = std::chrono::steady_clock::now();
  e->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!emu::events.count(e)) return cudaErrorInvalidResourceHandle;
  emu::flush();
  return emu::take_pending();
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (!emu::events.count(a) || !emu::events.count(b)) return cudaErrorInvalidResourceHandle;
  if (!a->recorded || !b->recorded) return cudaErrorInvalidResourceHandle;
  *ms = std::max(1e-3f, std::chrono::duration<float, std::milli>(b->t - a->t).count());
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (s == nullptr || !emu::streams.count(s)) {
    emu::api_fail("capture on the legacy or an unknown stream");
    return cudaErrorStreamCaptureUnsupported;
  }
  if (emu::is_capturing(s)) return cudaErrorIllegalState;
  emu::capturing[s] = {};
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  auto it = emu::capturing.find(s);
  if (it == emu::capturing.end()) return cudaErrorIllegalState;
  *g = new CUgraph_st{std::move(it->second)};
  emu::capturing.erase(it);
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  *e = new CUgraphExec_st{g->nodes};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  if (!emu::stream_ok(s)) return cudaErrorInvalidResourceHandle;
  for (auto& f : e->nodes) emu::enqueue(s, f);
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}
}  // extern "C"

// ---- cuBLAS ----
cublasStatus_t cublasCreate_v2(cublasHandle_t* h) {
  *h = new cublasContext;
  emu::handles.insert(*h);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
  if (!emu::handles.erase(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) {
  if (!emu::handles.count(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void* ws, size_t n) {
  if (!emu::handles.count(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (n && (!emu::in_device(ws, n) || reinterpret_cast<uintptr_t>(ws) % 256)) {
    emu::api_fail("cublasSetWorkspace: workspace not a 256-byte aligned device allocation");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  return CUBLAS_STATUS_SUCCESS;
}
// C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, column-major, as documented for
// cublasGemmEx: op(A) = A (m x k, lda >= m) for CUBLAS_OP_N, A^T with A stored k x m (lda >= k)
// for CUBLAS_OP_T; likewise B. beta == 0: C is not read. Host pointer mode. Accumulates in
// double. Supported: A/B 32F, 16F or 16BF, C 32F, 32F compute types.
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const void* alpha, const void* A, cudaDataType At,
                            int lda, const void* B, cudaDataType Bt, int ldb, const void* beta,
                            void* C, cudaDataType Ct, int ldc, cublasComputeType_t ct,
                            cublasGemmAlgo_t) {
  if (!emu::handles.count(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (lda < std::max(1, ta == CUBLAS_OP_N ? m : k) ||
      ldb < std::max(1, tb == CUBLAS_OP_N ? k : n) || ldc < std::max(1, m)) {
    emu::api_fail("cublasGemmEx: bad leading dimension");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const bool ab_ok = At == Bt && (At == CUDA_R_32F || At == CUDA_R_16F || At == CUDA_R_16BF);
  const bool ct_ok = ct == CUBLAS_COMPUTE_32F || ct == CUBLAS_COMPUTE_32F_PEDANTIC ||
                     (ct == CUBLAS_COMPUTE_32F_FAST_TF32 && At == CUDA_R_32F);
  if (!ab_ok || Ct != CUDA_R_32F || !ct_ok) {
    emu::api_fail("cublasGemmEx: type combination not emulated");
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (!emu::stream_ok(h->stream)) return CUBLAS_STATUS_EXECUTION_FAILED;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const size_t es = At == CUDA_R_32F ? 4 : 2;
  const size_t mm = static_cast<size_t>(m), nn = static_cast<size_t>(n),
               kk = static_cast<size_t>(k);
  const size_t a_cols = ta == CUBLAS_OP_N ? kk : mm, a_rows = ta == CUBLAS_OP_N ? mm : kk;
  const size_t b_cols = tb == CUBLAS_OP_N ? nn : kk, b_rows = tb == CUBLAS_OP_N ? kk : nn;
  const size_t la = static_cast<size_t>(lda), lb = static_cast<size_t>(ldb),
               lc = static_cast<size_t>(ldc);
  if (k > 0 && (!emu::in_device(A, ((a_cols - 1) * la + a_rows) * es) ||
                !emu::in_device(B, ((b_cols - 1) * lb + b_rows) * es))) {
    emu::api_fail("cublasGemmEx: A or B outside a device allocation");
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  if (!emu::in_device(C, ((nn - 1) * lc + mm) * 4)) {
    emu::api_fail("cublasGemmEx: C outside a device allocation");
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  emu::enqueue(h->stream, [=] {
    // op(A) as [m][k] and op(B)^T as [n][k], in float.
    std::vector<float> a(mm * kk), b(nn * kk);
    for (size_t i = 0; i < mm; ++i)
      for (size_t l = 0; l < kk; ++l)
        a[i * kk + l] = emu::load_elem(A, At, ta == CUBLAS_OP_N ? i + l * la : l + i * la);
    for (size_t j = 0; j < nn; ++j)
      for (size_t l = 0; l < kk; ++l)
        b[j * kk + l] = emu::load_elem(B, Bt, tb == CUBLAS_OP_N ? l + j * lb : j + l * lb);
    float* c = static_cast<float*>(C);
    for (size_t j = 0; j < nn; ++j)
      for (size_t i = 0; i < mm; ++i) {
        const float* ai = &a[i * kk];
        const float* bj = &b[j * kk];
        double s[4] = {0, 0, 0, 0};
        size_t l = 0;
        for (; l + 4 <= kk; l += 4)
          for (size_t u = 0; u < 4; ++u) s[u] += static_cast<double>(ai[l + u]) * bj[l + u];
        for (; l < kk; ++l) s[0] += static_cast<double>(ai[l]) * bj[l];
        double r = al * ((s[0] + s[1]) + (s[2] + s[3]));
        float& out = c[i + j * lc];
        if (be != 0.0f) r += static_cast<double>(be) * out;
        out = static_cast<float>(r);
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}
