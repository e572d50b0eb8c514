// The CPU's dense batched matmul (engine/cpu_kernels.cpp's matmul_batched: f32, f16 and bf16
// weights against f32 activations, what prefill of an unquantized model runs) alone, on the
// shared thread pool, per weight dtype and instruction-set variant: GFLOP/s, so a change to the
// panel or register tile can be measured without the rest of a forward pass. Figures only.
//
// The weights cycle through enough copies to exceed the last-level cache, as a model's do.
//
//   cpu_dense_gemm_bench [--n 2048] [--k 2048] [--tokens 512] [--repeats 5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/kernel_bench.hpp"
#include "engine/aligned_allocator.hpp"
#include "engine/cpu_isa.hpp"
#include "engine/kernel_table.hpp"
#include "engine/thread_pool.hpp"
#include "tests/quant_test_rows.hpp"

using namespace precis::engine;

using precis::bench::help_requested;
using precis::bench::int_arg;
using precis::bench::print_rate_header;
using precis::bench::print_rate_row;
using precis::bench::seconds_now;

int main(int argc, char** argv) {
  if (help_requested(argc, argv)) {
    std::puts(
        "usage: cpu_dense_gemm_bench [--n 2048] [--k 2048] [--tokens 512] [--repeats 5]\n"
        "  Times the dense matmul y[T,N] = x[T,K] w[N,K]^T per weight dtype and CPU variant,\n"
        "  on all of the thread pool's threads (PRECIS_THREADS or every CPU).");
    return 0;
  }
  const int N = int_arg(argc, argv, "--n", 2048), K = int_arg(argc, argv, "--k", 2048);
  const int T = int_arg(argc, argv, "--tokens", 512), repeats = int_arg(argc, argv, "--repeats", 5);
  if (N <= 0 || K <= 0 || T < 2 || repeats <= 0) {
    std::fprintf(stderr, "cpu_dense_gemm_bench: --n, --k, --repeats must be > 0, --tokens >= 2\n");
    return 2;
  }
  std::vector<CpuIsa> variants;
  for (CpuIsa isa : available_cpu_isas())
    if (isa != CpuIsa::scalar) variants.push_back(isa);
  std::printf("dense GEMM, %d threads: [%d tokens, %d] x [%d, %d]^T\n", ThreadPool::shared().size(),
              T, K, N, K);
  if (variants.empty()) {
    std::puts("skipped: this CPU has neither AVX2 nor AVX-512");
    return 0;
  }
  std::mt19937 rng(1);
  const std::vector<float> xv = test::normal_vector(static_cast<size_t>(T) * K, rng);
  const AlignedFloats x(xv.begin(), xv.end());  // the backend's activations are aligned too
  AlignedFloats y(static_cast<size_t>(T) * N);
  print_rate_header("dtype", variants, "GFLOP/s");
  for (GgmlType type : {GgmlType::F16, GgmlType::BF16, GgmlType::F32}) {
    // Enough distinct copies of the weights to exceed the last-level cache, each timed run
    // taking the next: in a forward pass the weights come from memory, not from a warm cache.
    const size_t bytes = static_cast<size_t>(N) * K * ggml_type_info(type).block_bytes;
    const size_t copies = std::clamp<size_t>((size_t{96} << 20) / bytes + 1, 1, 64);
    std::vector<test::Matrix> ws;
    for (size_t c = 0; c < copies; ++c) ws.push_back(test::random_matrix(type, N, K, rng));
    size_t next = 0;
    std::vector<double> rate;
    for (CpuIsa isa : variants) {
      const KernelTable& kt = kernels_for(isa);
      double best = 1e30;
      for (int r = 0; r <= repeats; ++r) {  // the first run warms up
        const double t0 = seconds_now();
        kt.matmul_wt(x.data(), T, K, ws[next++ % copies].view, N, y.data(), cpu::Activations::f32);
        const double dt = seconds_now() - t0;
        if (r > 0) best = std::min(best, dt);
      }
      rate.push_back(2.0 * T * N * K / best / 1e9);
    }
    print_rate_row(std::string(ggml_type_info(type).name), rate);
  }
  std::printf("figures: best of %d timed runs after a warm-up\n", repeats);
  return 0;
}
