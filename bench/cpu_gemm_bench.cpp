// The CPU's interleaved int8 GEMM (engine/quant_interleaved.cpp, the AVX-512 VNNI kernel that
// prefill with --activations int8 runs) alone, one thread, per weight type: multiply-adds per
// second, so a change to the tile can be measured without the rest of a forward pass. Figures
// only. (bench/results/2026-12-06-cpu-amx-trial/ used it to compare an AMX-INT8 variant.)
//
//   cpu_gemm_bench [--n 2048] [--k 2048] [--tokens 512] [--repeats 3]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/kernel_bench.hpp"
#include "engine/cpu_isa.hpp"
#include "engine/interleaved_quant.hpp"
#include "engine/kernel_table.hpp"
#include "tests/quant_test_rows.hpp"

using namespace precis::engine;

using precis::bench::help_requested;
using precis::bench::int_arg;
using precis::bench::print_rate_header;
using precis::bench::print_rate_row;
using precis::bench::seconds_now;

int main(int argc, char** argv) {
  if (help_requested(argc, argv)) {
    std::puts("usage: cpu_gemm_bench [--n 2048] [--k 2048] [--tokens 512] [--repeats 3]");
    return 0;
  }
  const int N = int_arg(argc, argv, "--n", 2048), K = int_arg(argc, argv, "--k", 2048);
  const int T = int_arg(argc, argv, "--tokens", 512), repeats = int_arg(argc, argv, "--repeats", 3);
  if (N <= 0 || N % kInterleaveRows || K <= 0 || K % 256 || T <= 0 || repeats <= 0) {
    std::fprintf(stderr, "cpu_gemm_bench: --n must be a multiple of 16, --k of 256, all > 0\n");
    return 2;
  }
  std::vector<CpuIsa> variants;
  for (CpuIsa isa : available_cpu_isas())
    if (isa == CpuIsa::avx512) variants.push_back(isa);
  std::printf("interleaved int8 GEMM, one thread: [%d tokens, %d] x [%d, %d]^T\n", T, K, N, K);
  if (variants.empty()) {
    std::puts("skipped: this CPU has no AVX-512 VNNI (the interleaved GEMM's kernels)");
    return 0;
  }
  std::mt19937 rng(1);
  const int nb = K / kQK;
  std::vector<float> x = test::normal_vector(static_cast<size_t>(T) * K, rng);
  std::vector<BlockQ8A> xq(static_cast<size_t>(T) * nb);
  std::vector<int32_t> xs(static_cast<size_t>(T) * nb * 2);
  const KernelTable& ref = kernels_for(CpuIsa::scalar);
  for (int t = 0; t < T; ++t) {
    ref.quantize_activations(x.data() + static_cast<size_t>(t) * K, xq.data() + t * nb, nb);
    ref.interleaved_half_sums(xq.data() + t * nb, nb, xs.data() + t * nb * 2);
  }
  std::vector<float> y(static_cast<size_t>(T) * N);
  print_rate_header("type", variants, "GMAC/s");
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0,
                        GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    const test::Matrix w = test::random_matrix(type, N, K, rng);
    const InterleavedMatrix m = *interleave_matrix(w.view, N, K);
    std::vector<double> rate;
    for (CpuIsa isa : variants) {
      const KernelTable& kt = kernels_for(isa);
      double best = 1e30;
      for (int r = 0; r <= repeats; ++r) {  // the first run warms up
        const double t0 = seconds_now();
        for (int g = 0; g < N / kInterleaveRows; ++g)
          kt.gemm_interleaved(m, g, xq.data(), nb, xs.data(), 2 * nb, T, y.data(), N);
        const double dt = seconds_now() - t0;
        if (r > 0 && dt < best) best = dt;
      }
      rate.push_back(static_cast<double>(T) * N * K / best / 1e9);
    }
    print_rate_row(std::string(ggml_type_info(type).name), rate);
  }
  std::printf("figures: best of %d timed runs after a warm-up\n", repeats);
  return 0;
}
