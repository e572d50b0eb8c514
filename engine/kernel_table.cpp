// Picks the variant table and forwards the public cpu:: entry points (cpu_kernels.hpp) to it.
#include "engine/kernel_table.hpp"

#include <stdexcept>
#include <string>

namespace precis::engine {

// Each variant's table, defined at the end of engine/cpu_kernels.cpp in the variant's namespace.
namespace cpu::isa_scalar {
const KernelTable& kernel_table();
}
#ifdef PRECIS_HAVE_ISA_AVX2
namespace cpu::isa_avx2 {
const KernelTable& kernel_table();
}
#endif
#ifdef PRECIS_HAVE_ISA_AVX512
namespace cpu::isa_avx512 {
const KernelTable& kernel_table();
}
#endif

const KernelTable& kernels_for(CpuIsa isa) {
  if (cpu_isa_available(isa)) {
    switch (isa) {
      case CpuIsa::scalar:
        return cpu::isa_scalar::kernel_table();
#ifdef PRECIS_HAVE_ISA_AVX2
      case CpuIsa::avx2:
        return cpu::isa_avx2::kernel_table();
#endif
#ifdef PRECIS_HAVE_ISA_AVX512
      case CpuIsa::avx512:
        return cpu::isa_avx512::kernel_table();
#endif
      default:
        break;
    }
  }
  throw std::invalid_argument(std::string("CPU kernels: the ") + cpu_isa_name(isa) +
                              " variant is not available on this CPU or in this build");
}

const KernelTable& active_kernels() {
  static const KernelTable& table = kernels_for(active_cpu_isa());
  return table;
}

}  // namespace precis::engine

namespace precis::engine::cpu {

void matmul_wt(const float* x, int T, int K, const TensorView& w, int N, float* y,
               Activations activations) {
  active_kernels().matmul_wt(x, T, K, w, N, y, activations);
}

void matmul_wt_multi(const float* x, int T, int K, std::span<const MatmulOut> outs,
                     Activations activations) {
  active_kernels().matmul_wt_multi(x, T, K, outs, activations);
}

void load_row(const TensorView& w, int64_t row, int K, float* out) {
  active_kernels().load_row(w, row, K, out);
}

void rms_norm(const float* x, int T, int H, const TensorView& weight, float eps, float* out) {
  active_kernels().rms_norm(x, T, H, weight, eps, out);
}

float dot(const float* a, const float* b, int n) {
  return active_kernels().dot(a, b, n);
}

void axpy(float a, const float* x, float* y, int n) {
  active_kernels().axpy(a, x, y, n);
}

void dot_rows(const float* q, const float* k, int rows, int n, float* out) {
  active_kernels().dot_rows(q, k, rows, n, out);
}

double exp_sum(const float* x, int n, float shift, float* out) {
  return active_kernels().exp_sum(x, n, shift, out);
}

int argmax(const float* x, int n, float* max_value) {
  return active_kernels().argmax(x, n, max_value);
}

void axpy_rows(const float* a, const float* v, int rows, int n, float* y) {
  active_kernels().axpy_rows(a, v, rows, n, y);
}

void axpy_rows_queries(const float* a, int lda, int queries, const float* v, int rows, int n,
                       float* y, int ldy) {
  active_kernels().axpy_rows_queries(a, lda, queries, v, rows, n, y, ldy);
}

void silu_mul(float* gate, const float* up, int n) {
  active_kernels().silu_mul(gate, up, n);
}

void store_f16(const float* x, uint16_t* out, int n) {
  active_kernels().store_f16(x, out, n);
}

float dot_f16(const float* q, const uint16_t* k, int n) {
  return active_kernels().dot_f16(q, k, n);
}

void axpy_f16(float a, const uint16_t* x, float* y, int n) {
  active_kernels().axpy_f16(a, x, y, n);
}

void dot_f16_rows(const float* q, const uint16_t* k, int rows, int n, float* out) {
  active_kernels().dot_f16_rows(q, k, rows, n, out);
}

void axpy_f16_rows(const float* a, const uint16_t* v, int rows, int n, float* y) {
  active_kernels().axpy_f16_rows(a, v, rows, n, y);
}

void load_f16(const uint16_t* x, float* out, int n) {
  active_kernels().load_f16(x, out, n);
}

void transpose_f16_keys(const uint16_t* k, int rows, int n, float* kt) {
  active_kernels().transpose_f16_keys(k, rows, n, kt);
}

void dot_f16_transposed(const float* q, int ldq, int M, const float* kt, int n, float* out,
                        int ldo) {
  active_kernels().dot_f16_transposed(q, ldq, M, kt, n, out, ldo);
}

}  // namespace precis::engine::cpu
