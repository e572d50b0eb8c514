// The CPU kernels behind cpu_kernels.hpp, compiled once per instruction-set variant
// (isa_variant.hpp) into cpu::PRECIS_ISA_NS; kernel_table() at the end hands them to the dispatch
// (kernel_table.cpp). Quantized weights go to the same variant's row kernels, never through the
// public (dispatching) quant.hpp functions, so a variant's table is that variant's code throughout.
#include "engine/cpu_kernels.hpp"

#include "engine/aligned_allocator.hpp"
#include "engine/quant.hpp"
#include "engine/thread_pool.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// Last (isa_variant.hpp): the variant's instruction set applies to what follows.
#include "engine/quant_kernels.hpp"
#include "engine/quant_simd.hpp"  // PRECIS_KERNEL_INLINE

namespace precis::engine::cpu::PRECIS_ISA_NS {
namespace {

const uint16_t* as_u16(const TensorView& w) {
  return reinterpret_cast<const uint16_t*>(w.data);
}
const float* as_f32(const TensorView& w) {
  return reinterpret_cast<const float*>(w.data);
}

#ifdef PRECIS_SIMD_AVX2
inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  return _mm_cvtss_f32(lo);
}

// The variant's float vector (quant_simd.hpp): the AVX-512 variant's dense dots sum in 16 lanes
// (zmm), the AVX2 variant's in 8; each variant keeps one order for its one-token and batched
// paths.
using Vec = quant_impl::PRECIS_ISA_NS::VecF;
constexpr int kLanes = quant_impl::PRECIS_ISA_NS::kLanesF;
using quant_impl::PRECIS_ISA_NS::vec_fma;
using quant_impl::PRECIS_ISA_NS::vec_load;
using quant_impl::PRECIS_ISA_NS::vec_store;
using quant_impl::PRECIS_ISA_NS::vec_zero;

#ifdef PRECIS_SIMD_AVX512VNNI
inline float hsum(__m512 v) {
  return hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}
// kLanes weights of row `p` starting at element k, as f32.
template <DType D>
inline Vec loadw(const void* p, int64_t k) {
  if constexpr (D == DType::F32) {
    return _mm512_loadu_ps(static_cast<const float*>(p) + k);
  } else {
    const __m256i h =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + k));
    if constexpr (D == DType::F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}
#else
// kLanes weights of row `p` starting at element k, as f32.
template <DType D>
inline Vec loadw(const void* p, int64_t k) {
  if constexpr (D == DType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(p) + k);
  } else if constexpr (D == DType::F16) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + k)));
  } else {
    __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}
#endif
#endif

#ifdef PRECIS_SIMD_AVX2
// kLanes horizontal sums at once, lane L the sum hsum(*v[kHsumSource[L]]) would give, bit for
// bit: a transposing reduction that makes exactly hsum's additions (the same lane pairs, in the
// same order at every level) with every lane busy, about a third of hsum's shuffles per sum, and
// the sums land in one register that a single store writes out. It matters where K is short: at
// K = 256 a (row, token) takes 16 FMAs, and one hsum each, their scalar stores and reloads cost
// a sixth of the 5.7M model's batched matmul time.
#ifdef PRECIS_SIMD_AVX512VNNI
// _mm_hadd_ps in each 128-bit quarter (AVX-512 has no zmm hadd).
PRECIS_KERNEL_INLINE __m512 hadd_quarters(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Lane 4q + j ends up with input q + 4j's sum.
constexpr int kHsumSource[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

PRECIS_KERNEL_INLINE __m512 hsum_lanes(const __m512* const* v) {
  __m512 c[8], e[4];
  // hsum's first level, element i + element i+8: two inputs' 8 partial sums per register.
  for (int m = 0; m < 8; ++m)
    c[m] = _mm512_add_ps(_mm512_shuffle_f32x4(*v[2 * m], *v[2 * m + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(*v[2 * m], *v[2 * m + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // i + i+4: four inputs' 4 partials, input 4n+q in 128-bit quarter q of e[n].
  for (int n = 0; n < 4; ++n)
    e[n] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * n], c[2 * n + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(c[2 * n], c[2 * n + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  // hsum's two hadds.
  return hadd_quarters(hadd_quarters(e[0], e[1]), hadd_quarters(e[2], e[3]));
}
#else
// Lane L < 4 ends up with input 2L's sum, lane 4 + L with input 2L + 1's.
constexpr int kHsumSource[8] = {0, 2, 4, 6, 1, 3, 5, 7};

PRECIS_KERNEL_INLINE __m256 hsum_lanes(const __m256* const* v) {
  __m256 c[4];
  // hsum's first level, element i + element i+4: two inputs' 4 partial sums per register.
  for (int m = 0; m < 4; ++m)
    c[m] = _mm256_add_ps(_mm256_permute2f128_ps(*v[2 * m], *v[2 * m + 1], 0x20),
                         _mm256_permute2f128_ps(*v[2 * m], *v[2 * m + 1], 0x31));
  // hsum's two hadds.
  return _mm256_hadd_ps(_mm256_hadd_ps(c[0], c[1]), _mm256_hadd_ps(c[2], c[3]));
}
#endif
#endif

template <DType D>
inline float scalar_at(const void* p, int64_t i) {
  if constexpr (D == DType::F32) return static_cast<const float*>(p)[i];
  if constexpr (D == DType::F16) return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
  return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
}

template <DType D>
const void* row_ptr(const TensorView& w, int64_t row, int K) {
  return w.data + static_cast<size_t>(row) * K * dtype_size(D);
}

// One row's dot product with x, the order every dense path sums in (one kLanes-lane accumulator,
// its horizontal sum, then the tail), so a sequence's logits are bit-identical whether it runs
// alone or in a batch. Scalar tails use std::fma everywhere so the compiler's contraction
// choices cannot make the paths differ.
template <DType D>
inline float dot_like_matvec(const float* x, const void* w, int K) {
  float acc = 0.f;
  int k = 0;
#ifdef PRECIS_SIMD_AVX2
  Vec a = vec_zero();
  for (; k + kLanes <= K; k += kLanes) a = vec_fma(loadw<D>(w, k), vec_load(x + k), a);
  acc = hsum(a);
#endif
  for (; k < K; ++k) acc = std::fma(scalar_at<D>(w, k), x[k], acc);
  return acc;
}

// Decode path (one token): each thread streams a run of whole rows, converting in registers, so
// the weights are read once at their stored width, in address order. One row at a time is the
// fastest order measured: four rows side by side (four streams a row's length apart, sharing
// each load of x) decoded tinyllama-shape F16 at 13 tokens/s on 2 threads (7.1 on one), one row
// at a time at 16-19 (10.7); on a Zen 5 (2026-12-07), two rows side by side 15.2, four 16.2-16.5,
// one 20.0-20.2, alternating. Software prefetch 4-16 KiB ahead was within that machine's noise.
template <DType D>
void matvec(const float* x, int K, const TensorView& w, int N, float* y) {
  parallel_for(N, 64, [&](int begin, int end, int) {
    for (int n = begin; n < end; ++n) y[n] = dot_like_matvec<D>(x, row_ptr<D>(w, n, K), K);
  });
}

#ifdef PRECIS_SIMD_AVX2
// The batched path's register tile: kTileRows weight rows x kTileTokens tokens of accumulators,
// each (row, token) one kLanes-lane accumulator along k, as dot_like_matvec sums. AVX-512: 24
// accumulators and 4 weight vectors of the 32 zmm, so each weight load feeds 6 FMAs and each
// activation load 4; AVX2: 8 accumulators and 4 weight vectors of the 16 ymm.
constexpr int kTileRows = 4;
constexpr int kTileTokens = kLanes == 16 ? 6 : 2;
// Weight rows a thread converts to f32 at once (a panel), and the k elements of one pass.
constexpr int kPanelRows = 32;
constexpr int kPanelK = 256;
constexpr int kTileGroups = kPanelRows / kTileRows;

// One token group's accumulators against a panel's rows: [row group][row][token].
using PanelAcc = Vec[kTileGroups][kTileRows][kTileTokens];

// One pass over `width` elements of k for NT tokens: w holds one row group, each row `width`
// floats, one after another; xs the tokens' activations, K apart.
template <int NT>
PRECIS_KERNEL_INLINE void tile_pass(const float* w, int width, const float* xs, size_t K,
                                    Vec (&acc)[kTileRows][kTileTokens]) {
  Vec a[kTileRows][NT];
#pragma GCC unroll 4
  for (int i = 0; i < kTileRows; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < NT; ++j) a[i][j] = acc[i][j];
  for (int k = 0; k < width; k += kLanes) {
    Vec u[kTileRows];
#pragma GCC unroll 4
    for (int i = 0; i < kTileRows; ++i) u[i] = vec_load(w + static_cast<size_t>(i) * width + k);
#pragma GCC unroll 6
    for (int j = 0; j < NT; ++j) {
      const Vec xv = vec_load(xs + j * K + k);
#pragma GCC unroll 4
      for (int i = 0; i < kTileRows; ++i) a[i][j] = vec_fma(u[i], xv, a[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < kTileRows; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < NT; ++j) acc[i][j] = a[i][j];
}

// Every row group of a panel's pass against the token group: the pass's weights (32 rows x 256
// elements, 32 KiB) stay in L1 (or close, in L2) for all of its row groups' and token groups'
// turns.
template <int NT>
void panel_pass(const float* panel, int groups, int width, const float* xs, size_t K,
                PanelAcc& acc) {
  for (int g = 0; g < groups; ++g)
    tile_pass<NT>(panel + static_cast<size_t>(g) * kTileRows * width, width, xs, K, acc[g]);
}

template <int... I>
void panel_pass_for(int nt, std::integer_sequence<int, I...>, const float* panel, int groups,
                    int width, const float* xs, size_t K, PanelAcc& acc) {
  ((nt == I + 1 ? (panel_pass<I + 1>(panel, groups, width, xs, K, acc), true) : false) || ...);
}

// Batched path: each thread converts a panel of 32 weight rows to f32 once and reuses it for
// every token, so conversion cost is amortised over the batch. The panel is stored pass by pass
// (each pass's 32 x 256 weights contiguous), and the passes run inside each 6-token group with
// the group's accumulators (12 KiB) kept in L1 between them: a pass's weights are read from L1
// for every row group and token group, each activation vector from L2 once per panel. Rows K
// apart instead would put a pass's 32 slices in the same few L1 sets (K = 2048: every 8 KiB),
// which is why an earlier k-pass version measured slower than whole-row dots. Each (row, token)
// still sums in matvec's exact order: lanes along k, their horizontal sum, the scalar tail.
template <DType D>
void matmul_batched(const float* x, int T, int K, const TensorView& w, int N, float* y) {
  const int tiles = (N + kPanelRows - 1) / kPanelRows;
  const int kv = K / kLanes * kLanes;  // the elements the lanes take; the rest is the tail
  parallel_for(tiles, 1, [&](int begin, int end, int) {
    // Cache-line aligned (aligned_allocator.hpp): each of the kernel's weight loads in one line.
    thread_local AlignedFloats panel_buffer;
    panel_buffer.resize(static_cast<size_t>(kPanelRows) * K);
    float* const panel = panel_buffer.data();
    for (int ti = begin; ti < end; ++ti) {
      const int n0 = ti * kPanelRows;
      const int rows = std::min(kPanelRows, N - n0);
      const int groups = rows / kTileRows, rows4 = groups * kTileRows;
      float* const tail = panel + static_cast<size_t>(rows4) * kv;  // [K - kv][rows4]
      for (int r = 0; r < rows4; ++r) {
        const void* wr = row_ptr<D>(w, n0 + r, K);
        for (int k0 = 0; k0 < kv; k0 += kPanelK) {
          const int width = std::min(kPanelK, kv - k0);
          float* dst = panel + static_cast<size_t>(k0) * rows4 + r * width;
          for (int k = 0; k < width; k += kLanes) vec_store(dst + k, loadw<D>(wr, k0 + k));
        }
        for (int k = kv; k < K; ++k)
          tail[static_cast<size_t>(k - kv) * rows4 + r] = scalar_at<D>(wr, k);
      }
      // The thread's next panel's stored weights, fetched into L2 a share per token group while
      // this panel computes: converting a panel straight from memory otherwise stalls on each
      // row's stream (7% of a tinyllama-shape F16 prefill, perf, Zen 5).
      const char* next = nullptr;
      size_t next_lines = 0, lines_per_group = 0;
      if (ti + 1 < end) {
        const size_t row_bytes = static_cast<size_t>(K) * dtype_size(D);
        next = static_cast<const char*>(row_ptr<D>(w, n0 + kPanelRows, K));
        next_lines = std::min(kPanelRows, N - n0 - kPanelRows) * row_bytes / 64;
        const size_t token_groups = (T + kTileTokens - 1) / kTileTokens;
        lines_per_group = (next_lines + token_groups - 1) / token_groups;
      }
      if (groups > 0) {
        for (int t0 = 0; t0 < T; t0 += kTileTokens) {
          const int nt = std::min(kTileTokens, T - t0);
          const float* xs = x + static_cast<size_t>(t0) * K;
          for (size_t l = 0; l < lines_per_group && next_lines > 0; ++l, --next_lines, next += 64)
            _mm_prefetch(next, _MM_HINT_T1);
          alignas(64) PanelAcc acc;
          for (int g = 0; g < groups; ++g)
            for (auto& row_acc : acc[g])
              for (Vec& v : row_acc) v = vec_zero();
          for (int k0 = 0; k0 < kv; k0 += kPanelK)
            panel_pass_for(nt, std::make_integer_sequence<int, kTileTokens>{},
                           panel + static_cast<size_t>(k0) * rows4, groups,
                           std::min(kPanelK, kv - k0), xs + k0, static_cast<size_t>(K), acc);
          // Each token's sums, kLanes rows at a time: the transposing reduction puts row r0 + L's
          // in lane L, the tail's FMAs run lane-wise (each lane exactly as the scalar tail), and
          // one store writes kLanes outputs. The rows past the last kLanes-row block one by one.
          const int rows_v = rows4 / kLanes * kLanes;
          for (int j = 0; j < nt; ++j) {
            const float* xj = xs + static_cast<size_t>(j) * K;
            float* yj = y + static_cast<size_t>(t0 + j) * N + n0;
            for (int r0 = 0; r0 < rows_v; r0 += kLanes) {
              const Vec* v[kLanes];
              for (int l = 0; l < kLanes; ++l)
                v[kHsumSource[l]] = &acc[(r0 + l) / kTileRows][(r0 + l) % kTileRows][j];
              Vec sum = hsum_lanes(v);
              for (int k = kv; k < K; ++k)
                sum = quant_impl::PRECIS_ISA_NS::vec_fmadd(
                    xj[k], vec_load(tail + static_cast<size_t>(k - kv) * rows4 + r0), sum);
              vec_store(yj + r0, sum);
            }
            for (int r = rows_v; r < rows4; ++r) {
              float sum = hsum(acc[r / kTileRows][r % kTileRows][j]);
              for (int k = kv; k < K; ++k)
                sum = std::fma(tail[static_cast<size_t>(k - kv) * rows4 + r], xj[k], sum);
              yj[r] = sum;
            }
          }
        }
      }
      // The last rows % 4 rows, straight from the weights (the same conversion, the same bits).
      for (int t = 0; t < T; ++t)
        for (int r = rows4; r < rows; ++r)
          y[static_cast<size_t>(t) * N + n0 + r] =
              dot_like_matvec<D>(x + static_cast<size_t>(t) * K, row_ptr<D>(w, n0 + r, K), K);
    }
  });
}
#else
// The scalar variant: each (row, token) as matvec computes it.
template <DType D>
void matmul_batched(const float* x, int T, int K, const TensorView& w, int N, float* y) {
  parallel_for(N, 16, [&](int begin, int end, int) {
    for (int t = 0; t < T; ++t)
      for (int n = begin; n < end; ++n)
        y[static_cast<size_t>(t) * N + n] =
            dot_like_matvec<D>(x + static_cast<size_t>(t) * K, row_ptr<D>(w, n, K), K);
  });
}
#endif

template <DType D>
void matmul_typed(const float* x, int T, int K, const TensorView& w, int N, float* y) {
  if (T == 1) {
    matvec<D>(x, K, w, N, y);
  } else {
    matmul_batched<D>(x, T, K, w, N, y);
  }
}

// This variant's kernels for a weight type, checked against the row length K as the public
// quant.hpp entry points check it.
const QuantKernels& row_kernels(const char* what, GgmlType type, int K) {
  const QuantKernels* k = quant_impl::PRECIS_ISA_NS::find_kernels(type);
  if (!k || K % k->block != 0)
    throw std::invalid_argument(std::string(what) + ": " +
                                ggml_type_name(static_cast<uint32_t>(type)) + " row of " +
                                std::to_string(K) + " elements");
  return *k;
}

// Quantized weights: each row's blocks dotted with each token's activations (the weights are
// never expanded in memory). The row kernels take kDotTokens tokens at once, unpacking each block
// once for all of them, and give every token the bits the one-token kernel gives it, so results
// never depend on the batch. Rows go to threads in groups of 16; a group meets kXTile rows of x
// at a time while both stay in L1 (K = 1536: 16 rows of Q4_1 are 14 KiB, 8 rows of x 48 KiB in
// f32 or 15 KiB as 8-bit blocks).
constexpr int kXTile = 8;
// Weight bytes x tokens below which a matmul runs on the calling thread alone.
constexpr size_t kInlineBytes = size_t{1024} << 10;

// One quantized matrix of a matmul: its rows, where its outputs go, and its type's kernels.
struct QuantMatrix {
  const std::byte* data;
  size_t row_bytes;
  int N;
  float* y;  // [T, N]
  const QuantKernels* kern;
  int64_t nb;  // blocks per row
};

// y[t * N + n] = row_dot(matrix, row n, token t...) for every matrix, row and token: the rows of
// all the matrices are one parallel job (q, k and v, or gate and up, share one wake-up of the
// workers instead of one each).
template <class Act, class RowDot>
void matmul_rows_by_tokens(const Act* x, size_t x_row, int T, std::span<const QuantMatrix> mats,
                           RowDot row_dot) {
  int total = 0;
  size_t bytes = 0;
  for (const QuantMatrix& m : mats) total += m.N, bytes += m.row_bytes * m.N;
  // Too little work to be worth waking another thread (a decode step's small projections: the
  // wake-up costs about what the work does): the caller does it all. The split does not change
  // any result.
  const int grain = bytes * static_cast<size_t>(T) < kInlineBytes ? total : 16;
  parallel_for(total, grain, [&](int begin, int end, int) {
    for (int t0 = 0; t0 < T; t0 += kXTile) {
      const int t1 = std::min(T, t0 + kXTile);
      size_t mi = 0;
      int base = 0;  // the first row of mats[mi] in the job's numbering
      for (int r = begin; r < end; ++r) {
        while (r - base >= mats[mi].N) base += mats[mi++].N;
        const QuantMatrix& m = mats[mi];
        const int n = r - base;
        const std::byte* row = m.data + static_cast<size_t>(n) * m.row_bytes;
        for (int t = t0; t < t1; t += kDotTokens)
          row_dot(m, row, x + t * x_row, std::min(kDotTokens, t1 - t),
                  m.y + static_cast<size_t>(t) * m.N + n);
      }
    }
  });
}

// Activations quantized to 8 bits per 32 (as llama.cpp does), once for all the matrices: integer
// dot products instead of decoding every weight to float.
void matmul_quant_int8(const float* x, int T, int K, std::span<const QuantMatrix> mats) {
  const size_t xq_row = q8_activation_bytes(K) / sizeof(BlockQ8A);
  // Reused across calls (no page faults per matmul), one per calling thread; the workers get
  // its address (a thread_local named inside their lambdas would be their own, empty one).
  thread_local std::vector<BlockQ8A> xq_buffer;
  xq_buffer.resize(static_cast<size_t>(T) * xq_row);
  BlockQ8A* const xq = xq_buffer.data();
  parallel_for(T, 4, [&](int begin, int end, int) {
    for (int t = begin; t < end; ++t)
      quant_impl::PRECIS_ISA_NS::quantize_activations_blocks(x + static_cast<size_t>(t) * K,
                                                             xq + t * xq_row, K / kQK);
  });
  matmul_rows_by_tokens(
      xq, xq_row, T, mats,
      [&](const QuantMatrix& m, const std::byte* row, const BlockQ8A* xt, int nt, float* out) {
        m.kern->dot_q8_tokens(row, xt, static_cast<int64_t>(xq_row), nt, m.nb, out, m.N);
      });
}

// Interleaved matrices (the CPU backend repacked them: interleaved_quant.hpp) against 8-bit
// activations, 16 rows of one matrix per task, all the matrices one parallel job.
void matmul_interleaved(const float* x, int T, int K, std::span<const MatmulOut> outs) {
  const int64_t nb = K / kQK;
  thread_local std::vector<BlockQ8A> xq_buffer;  // as matmul_quant_int8's
  thread_local std::vector<int32_t> xs_buffer;
  xq_buffer.resize(static_cast<size_t>(T) * nb);
  xs_buffer.resize(static_cast<size_t>(T) * nb * 2);
  BlockQ8A* const xq = xq_buffer.data();
  int32_t* const xs = xs_buffer.data();
  parallel_for(T, 4, [&](int begin, int end, int) {
    for (int t = begin; t < end; ++t) {
      quant_impl::PRECIS_ISA_NS::quantize_activations_blocks(x + static_cast<size_t>(t) * K,
                                                             xq + t * nb, nb);
      quant_impl::PRECIS_ISA_NS::interleaved_half_sums(xq + t * nb, nb, xs + t * nb * 2);
    }
  });
  int total = 0;
  size_t bytes = 0;
  for (const MatmulOut& o : outs) {
    const InterleavedMatrix& m = *o.w->cpu_interleaved;
    if (m.N != o.N || m.K != K)
      throw std::invalid_argument("matmul_wt: " + o.w->name + " is interleaved as [" +
                                  std::to_string(m.N) + ", " + std::to_string(m.K) +
                                  "], used as [" + std::to_string(o.N) + ", " + std::to_string(K) +
                                  "]");
    total += m.N / kInterleaveRows;
    bytes += m.group_bytes * static_cast<size_t>(m.N / kInterleaveRows);
  }
  // As matmul_rows_by_tokens: a small job stays on the calling thread.
  const int grain = bytes * static_cast<size_t>(T) < kInlineBytes ? total : 1;
  parallel_for(total, grain, [&](int begin, int end, int) {
    size_t mi = 0;
    int base = 0;  // the first group of outs[mi] in the job's numbering
    for (int g = begin; g < end; ++g) {
      while (g - base >= outs[mi].N / kInterleaveRows) base += outs[mi++].N / kInterleaveRows;
      const MatmulOut& o = outs[mi];
      quant_impl::PRECIS_ISA_NS::gemm_interleaved(*o.w->cpu_interleaved, g - base, xq, nb, xs,
                                                  nb * 2, T, o.y, o.N);
    }
  });
}

// Quantized matrices that all read x [T, K]; each y as matmul_wt writes it.
void matmul_quant(const float* x, int T, int K, std::span<const MatmulOut> outs,
                  Activations activations) {
  // Interleaved weights take their own GEMM, the others the row kernels below.
  if (std::any_of(outs.begin(), outs.end(),
                  [](const MatmulOut& o) { return o.w->cpu_interleaved; })) {
    std::vector<MatmulOut> packed, rest;
    for (const MatmulOut& o : outs) (o.w->cpu_interleaved ? packed : rest).push_back(o);
    matmul_interleaved(x, T, K, packed);
    if (rest.empty()) return;
    return matmul_quant(x, T, K, rest, activations);
  }
  std::vector<QuantMatrix> mats;
  bool int8 = activations == Activations::int8 && K % kQK == 0;
  for (const MatmulOut& o : outs) {
    const QuantKernels& kern = row_kernels("matmul_wt", *o.w->quant, K);
    int8 = int8 && kern.dot_q8;
    mats.push_back({o.w->data, quant_row_bytes(*o.w->quant, K), o.N, o.y, &kern, K / kern.block});
  }
  if (int8) return matmul_quant_int8(x, T, K, mats);
  matmul_rows_by_tokens(x, static_cast<size_t>(K), T, std::span<const QuantMatrix>(mats),
                        [&](const QuantMatrix& m, const std::byte* row, const float* xt, int nt,
                            float* out) { m.kern->dot_tokens(row, xt, K, nt, m.nb, out, m.N); });
}

}  // namespace

namespace {
PRECIS_KERNEL_INLINE float dot_one(const float* a, const float* b, int n) {
  int k = 0;
  float acc = 0.f;
#ifdef PRECIS_SIMD_AVX2
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  for (; k + 16 <= n; k += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
  }
  for (; k + 8 <= n; k += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
  acc = hsum(_mm256_add_ps(s0, s1));
#endif
  for (; k < n; ++k) acc += a[k] * b[k];
  return acc;
}

PRECIS_KERNEL_INLINE void axpy_one(float a, const float* x, float* y, int n) {
  int k = 0;
#ifdef PRECIS_SIMD_AVX2
  __m256 av = _mm256_set1_ps(a);
  for (; k + 8 <= n; k += 8)
    _mm256_storeu_ps(y + k, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k)));
#endif
  for (; k < n; ++k) y[k] += a * x[k];
}
}  // namespace

namespace {
// Cephes' expf: e^x = 2^n e^r with n = round(x log2 e), r = x - n ln 2 (in two parts) and a
// degree-6 polynomial for e^r; within 2 ulp of expf for x in [kExpMin, 0].
constexpr float kExpMin = -87.33654f;  // e^kExpMin is f32's smallest normal
constexpr float kExpP[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                           4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

float exp_term(float v, float shift) {
  const float x = v - shift;
  return std::isnan(x) || x < kExpMin ? 0.f : std::exp(x);
}

#ifdef PRECIS_SIMD_AVX512VNNI
PRECIS_KERNEL_INLINE __m512 exp_lanes(__m512 v, __m512 shift) {
  const __m512 x0 = _mm512_sub_ps(v, shift);
  const __mmask16 valid = _mm512_cmp_ps_mask(x0, _mm512_set1_ps(kExpMin), _CMP_GE_OQ);
  const __m512 x = _mm512_min_ps(_mm512_max_ps(x0, _mm512_set1_ps(kExpMin)), _mm512_set1_ps(88.f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(kExpP[0]);
  for (int k = 1; k < 6; ++k) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP[k]));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_maskz_mov_ps(valid, _mm512_scalef_ps(p, n));
}
#elif defined(PRECIS_SIMD_AVX2)
PRECIS_KERNEL_INLINE __m256 exp_lanes(__m256 v, __m256 shift) {
  const __m256 x0 = _mm256_sub_ps(v, shift);
  const __m256 valid = _mm256_cmp_ps(x0, _mm256_set1_ps(kExpMin), _CMP_GE_OQ);
  const __m256 x = _mm256_min_ps(_mm256_max_ps(x0, _mm256_set1_ps(kExpMin)), _mm256_set1_ps(88.f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(kExpP[0]);
  for (int k = 1; k < 6; ++k) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP[k]));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  // 2^n from its exponent bits: n is in [-126, 127] for x in [kExpMin, 88].
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), valid);
}
#endif
}  // namespace

double exp_sum(const float* x, int n, float shift, float* out) {
  int i = 0;
  double sum = 0.0;
#ifdef PRECIS_SIMD_AVX2
#ifdef PRECIS_SIMD_AVX512VNNI
  const Vec s = _mm512_set1_ps(shift);
#else
  const Vec s = _mm256_set1_ps(shift);
#endif
  // f32 lanes for runs of kRun vectors, each run's total added in f64: a vocabulary of 256k
  // sums to within ~1e-7 of the exact value, as the f64 sum it replaces.
  constexpr int kRun = 64;
  while (i + kLanes <= n) {
    Vec acc = vec_zero();
    for (int k = 0; k < kRun && i + kLanes <= n; ++k, i += kLanes) {
      const Vec e = exp_lanes(vec_load(x + i), s);
      if (out) vec_store(out + i, e);
      acc = quant_impl::PRECIS_ISA_NS::vec_add(acc, e);
    }
    sum += hsum(acc);
  }
#endif
  for (; i < n; ++i) {
    const float e = exp_term(x[i], shift);
    if (out) out[i] = e;
    sum += e;
  }
  return sum;
}

int argmax(const float* x, int n, float* max_value) {
  // Two passes over the row (a vocabulary of logits, in L2): the largest value, then the first
  // index holding it. max_ps(v, m) keeps m where v is NaN, so NaN is skipped as in the scalar loop.
  float m = -std::numeric_limits<float>::infinity();
  int i = 0;
#ifdef PRECIS_SIMD_AVX2
  if (n >= kLanes) {
    // The lanes never hold NaN, so quant_simd.hpp's hmax reduces them.
#ifdef PRECIS_SIMD_AVX512VNNI
    __m512 mv = _mm512_set1_ps(m);
    for (; i + kLanes <= n; i += kLanes) mv = _mm512_max_ps(_mm512_loadu_ps(x + i), mv);
    m = quant_impl::PRECIS_ISA_NS::hmax(
        _mm256_max_ps(_mm512_castps512_ps256(mv), _mm512_extractf32x8_ps(mv, 1)));
#else
    __m256 mv = _mm256_set1_ps(m);
    for (; i + kLanes <= n; i += kLanes) mv = _mm256_max_ps(_mm256_loadu_ps(x + i), mv);
    m = quant_impl::PRECIS_ISA_NS::hmax(mv);
#endif
  }
#endif
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  if (max_value) *max_value = m;
  if (m == -std::numeric_limits<float>::infinity()) return 0;  // nothing above -inf: the first
  i = 0;
#ifdef PRECIS_SIMD_AVX2
#ifdef PRECIS_SIMD_AVX512VNNI
  const __m512 target = _mm512_set1_ps(m);
  for (; i + kLanes <= n; i += kLanes)
    if (const __mmask16 eq = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), target, _CMP_EQ_OQ))
      return i + __builtin_ctz(eq);
#else
  const __m256 target = _mm256_set1_ps(m);
  for (; i + kLanes <= n; i += kLanes)
    if (const int eq =
            _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), target, _CMP_EQ_OQ)))
      return i + __builtin_ctz(static_cast<unsigned>(eq));
#endif
#endif
  for (; i < n; ++i)
    if (x[i] == m) return i;
  return 0;  // not reached: m is one of x's elements
}

void silu_mul(float* gate, const float* up, int n) {
  int i = 0;
#ifdef PRECIS_SIMD_AVX2
  const Vec zero = vec_zero();
  for (; i + kLanes <= n; i += kLanes) {
    const Vec g = vec_load(gate + i);
    // e^-g as exp_lanes(0, g): x - shift = -g.
    const Vec e = exp_lanes(zero, g);
#ifdef PRECIS_SIMD_AVX512VNNI
    const Vec s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.f), e));
    vec_store(gate + i, _mm512_mul_ps(s, vec_load(up + i)));
#else
    const Vec s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.f), e));
    vec_store(gate + i, _mm256_mul_ps(s, vec_load(up + i)));
#endif
  }
#endif
  for (; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + exp_term(0.f, g)) * up[i];
  }
}

float dot(const float* a, const float* b, int n) {
  return dot_one(a, b, n);
}

void axpy(float a, const float* x, float* y, int n) {
  axpy_one(a, x, y, n);
}

void dot_rows(const float* q, const float* k, int rows, int n, float* out) {
  for (int r = 0; r < rows; ++r) out[r] = dot_one(q, k + static_cast<size_t>(r) * n, n);
}

void axpy_rows(const float* a, const float* v, int rows, int n, float* y) {
  int i = 0;
#ifdef PRECIS_SIMD_AVX2
  // As axpy_f16_rows (cpu_kv_kernels.cpp): y in registers across the rows, axpy's bits.
  i = quant_impl::PRECIS_ISA_NS::axpy_vectors_rows(
      a, rows, n, y, [&](int r, int j) { return vec_load(v + static_cast<size_t>(r) * n + j); });
  if (i == n) return;
#endif
  for (int r = 0; r < rows; ++r) axpy_one(a[r], v + static_cast<size_t>(r) * n + i, y + i, n - i);
}

#ifdef PRECIS_SIMD_AVX2
namespace {
// Columns [i, i + 4 * kLanes) of Q queries' axpy_rows: each value row is loaded once for all of
// them, and each query's accumulators take axpy_rows's FMAs in its order.
template <int Q>
PRECIS_KERNEL_INLINE void axpy_span_queries(const float* a, int lda, const float* v, int rows,
                                            int n, int i, float* y, int ldy) {
  Vec acc[Q][4];
  for (int q = 0; q < Q; ++q)
    for (int k = 0; k < 4; ++k)
      acc[q][k] = vec_load(y + static_cast<size_t>(q) * ldy + i + k * kLanes);
  for (int r = 0; r < rows; ++r) {
    const float* vr = v + static_cast<size_t>(r) * n + i;
    Vec vv[4];
    for (int k = 0; k < 4; ++k) vv[k] = vec_load(vr + k * kLanes);
    for (int q = 0; q < Q; ++q) {
      const float w = a[static_cast<size_t>(q) * lda + r];
      for (int k = 0; k < 4; ++k)
        acc[q][k] = quant_impl::PRECIS_ISA_NS::vec_fmadd(w, vv[k], acc[q][k]);
    }
  }
  for (int q = 0; q < Q; ++q)
    for (int k = 0; k < 4; ++k)
      vec_store(y + static_cast<size_t>(q) * ldy + i + k * kLanes, acc[q][k]);
}
}  // namespace
#endif

void axpy_rows_queries(const float* a, int lda, int queries, const float* v, int rows, int n,
                       float* y, int ldy) {
#ifdef PRECIS_SIMD_AVX2
  constexpr int kSpan = 4 * kLanes;
  // Accumulators for this many queries, the 4 loaded value vectors and a broadcast fit the
  // registers (32 zmm, 16 ymm).
  constexpr int kMaxQueries = kLanes == 16 ? 6 : 2;
  if (n % kSpan == 0) {
    for (int q0 = 0; q0 < queries; q0 += kMaxQueries) {
      const float* aq = a + static_cast<size_t>(q0) * lda;
      float* yq = y + static_cast<size_t>(q0) * ldy;
      for (int i = 0; i < n; i += kSpan) {
        switch (std::min(kMaxQueries, queries - q0)) {
          case 1:
            axpy_span_queries<1>(aq, lda, v, rows, n, i, yq, ldy);
            break;
#if defined(PRECIS_SIMD_AVX512VNNI)
          case 2:
            axpy_span_queries<2>(aq, lda, v, rows, n, i, yq, ldy);
            break;
          case 3:
            axpy_span_queries<3>(aq, lda, v, rows, n, i, yq, ldy);
            break;
          case 4:
            axpy_span_queries<4>(aq, lda, v, rows, n, i, yq, ldy);
            break;
          case 5:
            axpy_span_queries<5>(aq, lda, v, rows, n, i, yq, ldy);
            break;
          default:
            axpy_span_queries<6>(aq, lda, v, rows, n, i, yq, ldy);
            break;
#else
          default:
            axpy_span_queries<2>(aq, lda, v, rows, n, i, yq, ldy);
            break;
#endif
        }
      }
    }
    return;
  }
#endif
  for (int q = 0; q < queries; ++q)
    axpy_rows(a + static_cast<size_t>(q) * lda, v, rows, n, y + static_cast<size_t>(q) * ldy);
}

void matmul_wt(const float* x, int T, int K, const TensorView& w, int N, float* y,
               Activations activations) {
  if (w.quant) {
    const MatmulOut one[] = {{&w, N, y}};
    return matmul_quant(x, T, K, one, activations);
  }
  switch (w.dtype) {
    case DType::F32:
      return matmul_typed<DType::F32>(x, T, K, w, N, y);
    case DType::F16:
      return matmul_typed<DType::F16>(x, T, K, w, N, y);
    case DType::BF16:
      return matmul_typed<DType::BF16>(x, T, K, w, N, y);
  }
}

void matmul_wt_multi(const float* x, int T, int K, std::span<const MatmulOut> outs,
                     Activations activations) {
  // One job when every matrix is quantized (activations, if 8-bit, quantized once); the dense
  // types keep a job each.
  const bool all_quant =
      std::all_of(outs.begin(), outs.end(), [](const MatmulOut& o) { return o.w->quant; });
  if (all_quant && !outs.empty()) return matmul_quant(x, T, K, outs, activations);
  // Qualified: ADL on MatmulOut would also find the dispatching cpu::matmul_wt.
  for (const MatmulOut& o : outs) PRECIS_ISA_NS::matmul_wt(x, T, K, *o.w, o.N, o.y, activations);
}

void load_row(const TensorView& w, int64_t row, int K, float* out) {
  if (w.quant) {
    const QuantKernels& kern = row_kernels("load_row", *w.quant, K);
    const size_t row_bytes = quant_row_bytes(*w.quant, K);
    return kern.dequantize(w.data + static_cast<size_t>(row) * row_bytes, out, K / kern.block);
  }
  const size_t base = static_cast<size_t>(row) * K;
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(out, as_f32(w) + base, sizeof(float) * K);
      return;
    case DType::F16:
      for (int k = 0; k < K; ++k) out[k] = f16_to_f32(as_u16(w)[base + k]);
      return;
    case DType::BF16:
      for (int k = 0; k < K; ++k) out[k] = bf16_to_f32(as_u16(w)[base + k]);
      return;
  }
}

namespace {
// sum x[i]^2 in f64. The SIMD variants keep four vectors of f64 partial sums (a single chain of
// dependent adds was 3% of a prefill); the order differs from the scalar sum by roundings of f64,
// far below the f32 result's.
double sum_of_squares(const float* x, int n) {
  int i = 0;
  double ss = 0.0;
#if defined(PRECIS_SIMD_AVX512VNNI)
  __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(),
                    _mm512_setzero_pd()};
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) {
      const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8 * k));
      acc[k] = _mm512_fmadd_pd(v, v, acc[k]);
    }
  ss = _mm512_reduce_add_pd(
      _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3])));
#elif defined(PRECIS_SIMD_AVX2)
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                    _mm256_setzero_pd()};
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 4; ++k) {
      const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4 * k));
      acc[k] = _mm256_fmadd_pd(v, v, acc[k]);
    }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes,
                  _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3])));
  ss = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
  for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  return ss;
}
}  // namespace

void rms_norm(const float* x, int T, int H, const TensorView& weight, float eps, float* out) {
  std::vector<float> wv(H);
  load_row(weight, 0, H, wv.data());
  for (int t = 0; t < T; ++t) {
    const float* xt = x + static_cast<size_t>(t) * H;
    double ss = sum_of_squares(xt, H);
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / H + eps));
    float* ot = out + static_cast<size_t>(t) * H;
    for (int i = 0; i < H; ++i) ot[i] = xt[i] * inv * wv[i];
  }
}

// Defined in cpu_kv_kernels.cpp, the same variant.
void store_f16(const float* x, uint16_t* out, int n);
float dot_f16(const float* q, const uint16_t* k, int n);
void axpy_f16(float a, const uint16_t* x, float* y, int n);
void dot_f16_rows(const float* q, const uint16_t* k, int rows, int n, float* out);
void axpy_f16_rows(const float* a, const uint16_t* v, int rows, int n, float* y);
void load_f16(const uint16_t* x, float* out, int n);
void transpose_f16_keys(const uint16_t* k, int rows, int n, float* kt);
void dot_f16_transposed(const float* q, int ldq, int M, const float* kt, int n, float* out,
                        int ldo);

// This variant's entry points, for kernel_table.cpp.
const KernelTable& kernel_table() {
  static constexpr KernelTable table = {PRECIS_ISA,
                                        quant_impl::PRECIS_ISA_NS::find_kernels,
                                        quant_impl::PRECIS_ISA_NS::quantize_activations_blocks,
                                        quant_impl::PRECIS_ISA_NS::gemm_interleaved,
                                        quant_impl::PRECIS_ISA_NS::interleaved_half_sums,
                                        matmul_wt,
                                        matmul_wt_multi,
                                        load_row,
                                        rms_norm,
                                        dot,
                                        axpy,
                                        dot_rows,
                                        axpy_rows,
                                        axpy_rows_queries,
                                        exp_sum,
                                        argmax,
                                        silu_mul,
                                        store_f16,
                                        dot_f16,
                                        axpy_f16,
                                        dot_f16_rows,
                                        axpy_f16_rows,
                                        load_f16,
                                        transpose_f16_keys,
                                        dot_f16_transposed};
  return table;
}

}  // namespace precis::engine::cpu::PRECIS_ISA_NS
