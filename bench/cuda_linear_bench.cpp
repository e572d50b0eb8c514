// The linear-layer kernels on their own, at the shapes of a 7B Llama decode step: for each
// weight shape and 1 or 8 activation rows, microseconds per call and the weight bytes streamed
// per second, next to the device-to-device copy bandwidth measured in the same run.
//   f16:   cuBLAS (Gemm::linear) against the dense GEMV kernel: which one Linear should use;
//   quant: the quantized GEMV (decode) and dequantize-to-f16 (prefill's first half);
//   configs: the dense GEMV at one row under every DenseGemvConfig, against the default.
// Each call reads the next of as many copies of the weights as the buffer holds (its 262 MB is
// five times an H100/H200's L2), so a 32 MB weight is streamed from memory as in a decode step
// rather than served from L2.
// usage: cuda_linear_bench [--iters N]
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/device_bandwidth.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/gemm.hpp"
#include "cuda/kernels/kernels.hpp"
#include "cuda/kernels/quant_kernels.hpp"

namespace {

using precis::cuda::check_cuda;
using precis::cuda::DeviceBuffer;
using precis::cuda::DType;
using precis::cuda::QuantType;

struct Shape {
  const char* name;
  int N, K;
};

// Llama-2-7B: q/k/v/o are 4096 x 4096, gate+up stacked 22016 x 4096, down 4096 x 11008, the
// output head 32000 x 4096.
const Shape kShapes[] = {{"attn 4096x4096", 4096, 4096},
                         {"qkv 12288x4096", 12288, 4096},
                         {"gate_up 22016x4096", 22016, 4096},
                         {"down 4096x11008", 4096, 11008},
                         {"lm_head 32000x4096", 32000, 4096}};

// Mean microseconds per call of `f` on the default stream, after warm-up calls.
double time_us(const std::function<void()>& f, int iters) {
  for (int i = 0; i < 3; ++i) f();
  cudaEvent_t start, stop;
  check_cuda(cudaEventCreate(&start), "cudaEventCreate");
  check_cuda(cudaEventCreate(&stop), "cudaEventCreate");
  check_cuda(cudaEventRecord(start, nullptr), "cudaEventRecord");
  for (int i = 0; i < iters; ++i) f();
  check_cuda(cudaEventRecord(stop, nullptr), "cudaEventRecord");
  check_cuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 1000.0 * ms / iters;
}

// Calls f(copy) with copy = 0, 1, ..., copies - 1, 0, ...: which copy of the weights to read.
std::function<void()> rotating(int copies, std::function<void(size_t)> f) {
  return [copies, f, next = 0]() mutable {
    f(static_cast<size_t>(next));
    next = (next + 1) % copies;
  };
}

double gbps(double bytes, double us) {
  return bytes / (us * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 50;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
      iters = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: cuda_linear_bench [--iters N]\n");
      return 2;
    }
  }
  try {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      std::printf("skipped: no CUDA device\n");
      return 0;
    }
    cudaDeviceProp prop;
    check_cuda(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    const double copy = precis::cuda::device_copy_bandwidth(size_t{1} << 30) / 1e9;  // bytes/s
    std::printf("device: %s; device-to-device copy (read+write): %.0f GB/s; %d iterations\n\n",
                prop.name, copy, iters);

    size_t max_elems = 0;
    for (const Shape& s : kShapes) max_elems = std::max(max_elems, static_cast<size_t>(s.N) * s.K);
    DeviceBuffer<__half> w(max_elems), scratch(max_elems);
    // Small finite values: f16 0x1111 is about 6e-4, so no NaN or Inf slows or spoils anything.
    check_cuda(cudaMemset(w.get(), 0x11, max_elems * sizeof(__half)), "cudaMemset");
    DeviceBuffer<__half> x(8 * 11008);
    check_cuda(cudaMemset(x.get(), 0x11, x.size() * sizeof(__half)), "cudaMemset");
    DeviceBuffer<float> y(8 * 32000);
    precis::cuda::Gemm gemm(nullptr);

    std::printf("f16 weights: cuBLAS against the dense GEMV (GB/s = weight bytes per second)\n");
    std::printf("%-20s %4s %12s %10s %12s %10s %8s\n", "shape", "rows", "cuBLAS us", "GB/s",
                "GEMV us", "GB/s", "GEMV/cuBLAS");
    // Copies of an N x K weight that fit in the buffer, and where copy c starts.
    const auto copies = [&](const Shape& s) {
      return static_cast<int>(std::max<size_t>(1, max_elems / (static_cast<size_t>(s.N) * s.K)));
    };
    const auto weight = [&](const Shape& s, size_t c) { return w.get() + c * s.N * s.K; };
    for (const Shape& s : kShapes) {
      const double bytes = 2.0 * s.N * s.K;
      for (int T : {1, 2, 4, 8}) {
        const double blas =
            time_us(rotating(copies(s),
                             [&](size_t c) {
                               gemm.linear(x.get(), DType::f16, T, s.K, weight(s, c), s.N, y.get());
                             }),
                    iters);
        const double gemv =
            time_us(rotating(copies(s),
                             [&](size_t c) {
                               precis::cuda::dense_gemv(weight(s, c), DType::f16, s.N, s.K, x.get(),
                                                        T, y.get(), s.N, nullptr);
                             }),
                    iters);
        std::printf("%-20s %4d %12.1f %10.0f %12.1f %10.0f %7.2fx\n", s.name, T, blas,
                    gbps(bytes, blas), gemv, gbps(bytes, gemv), blas / gemv);
      }
    }

    std::printf(
        "\nthe dense GEMV at one row under each config (loads in flight x warps per row), "
        "GB/s of weights; * = the default\n");
    std::printf("%-20s", "shape");
    const int loads[] = {1, 2, 4, 8}, warps[] = {1, 2, 4};
    for (int u : loads)
      for (int wr : warps) std::printf(" %5dx%d", u, wr);
    std::printf(" %9s\n", "default");
    for (const Shape& s : kShapes) {
      const double bytes = 2.0 * s.N * s.K;
      const auto chosen = precis::cuda::dense_gemv_default_config(s.N, s.K);
      std::printf("%-20s", s.name);
      for (int u : loads) {
        for (int wr : warps) {
          const precis::cuda::DenseGemvConfig config{u, wr};
          const double us = time_us(rotating(copies(s),
                                             [&](size_t c) {
                                               precis::cuda::dense_gemv(
                                                   weight(s, c), DType::f16, s.N, s.K, x.get(), 1,
                                                   y.get(), s.N, nullptr, config);
                                             }),
                                    iters);
          const bool is_default = u == chosen.loads_in_flight && wr == chosen.warps_per_row;
          std::printf(" %6.0f%s", gbps(bytes, us), is_default ? "*" : " ");
        }
      }
      const double us =
          time_us(rotating(copies(s),
                           [&](size_t c) {
                             precis::cuda::dense_gemv(weight(s, c), DType::f16, s.N, s.K, x.get(),
                                                      1, y.get(), s.N, nullptr);
                           }),
                  iters);
      std::printf(" %6.0f %.1fus\n", gbps(bytes, us), us);
    }

    std::printf(
        "\nquantized weights: GEMV at 1 and 8 rows, dequantize to f16 (GB/s = bytes "
        "read + written per second)\n");
    std::printf("%-20s %6s %12s %8s %12s %8s %14s %8s\n", "shape", "type", "GEMV-1 us", "GB/s",
                "GEMV-8 us", "GB/s", "dequant us", "GB/s");
    const QuantType types[] = {QuantType::q8_0, QuantType::q4_0, QuantType::q4_1, QuantType::q5_0,
                               QuantType::q4_k, QuantType::q5_k, QuantType::q6_k};
    const char* names[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q4_K", "q5_K", "q6_K"};
    for (const Shape& s : kShapes) {
      for (size_t ti = 0; ti < std::size(types); ++ti) {
        const QuantType q = types[ti];
        if (s.K % precis::cuda::quant_block_elems(q) != 0) continue;
        const double qbytes = static_cast<double>(s.N) *
                              (s.K / precis::cuda::quant_block_elems(q)) *
                              precis::cuda::quant_block_bytes(q);
        // The f16 buffer holds at least one copy of any block type; copies start 256-aligned.
        const size_t stride = (static_cast<size_t>(qbytes) + 255) / 256 * 256;
        const int qcopies =
            static_cast<int>(std::max<size_t>(1, max_elems * sizeof(__half) / stride));
        const auto qw = [&](size_t c) {
          return static_cast<const void*>(reinterpret_cast<const char*>(w.get()) + c * stride);
        };
        const double g1 = time_us(rotating(qcopies,
                                           [&](size_t c) {
                                             precis::cuda::quant_gemv(qw(c), q, s.N, s.K, x.get(),
                                                                      1, y.get(), s.N, nullptr);
                                           }),
                                  iters);
        const double g8 = time_us(rotating(qcopies,
                                           [&](size_t c) {
                                             precis::cuda::quant_gemv(qw(c), q, s.N, s.K, x.get(),
                                                                      8, y.get(), s.N, nullptr);
                                           }),
                                  iters);
        const double dq = time_us(rotating(qcopies,
                                           [&](size_t c) {
                                             precis::cuda::quant_dequantize(qw(c), q, s.N, s.K,
                                                                            scratch.get(), nullptr);
                                           }),
                                  iters);
        std::printf("%-20s %6s %12.1f %8.0f %12.1f %8.0f %14.1f %8.0f\n", s.name, names[ti], g1,
                    gbps(qbytes, g1), g8, gbps(qbytes, g8), dq, gbps(qbytes + 2.0 * s.N * s.K, dq));
      }
    }
    check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_linear_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
