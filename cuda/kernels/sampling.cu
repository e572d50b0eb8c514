// On-device sampling: one thread block per row of logits reproduces engine/sampler.cpp's
// sample_token (without penalties) given the uniform draw the host's generator would have made.
//
// The CPU sorts or partially sorts; here every selection is a bisection over an order-preserving
// 32-bit key of the float logit (each step one block-wide count or mass), and every step that
// depends on id order (tie breaks, the final draw) gives each thread a contiguous chunk of ids
// and combines the chunks with a block prefix sum. Arithmetic that the CPU does in double is done
// in double with the same formulas, so the chosen token is identical except when a cumulative
// sum lands within rounding of a boundary (the CPU and the GPU add in different orders).
#include <climits>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
static_assert(kWarps == 32, "the block reductions reduce one warp's worth of warp partials");
constexpr unsigned kFullMask = 0xffffffffu;
// engine::kGreedyBelow (engine/sampler.hpp), which this device code cannot include.
constexpr float kGreedyBelow = 1e-5f;

// One shared array per element type the reductions use; every reduction starts with a barrier,
// so back-to-back reductions never overwrite partials another warp is still reading.
struct Scratch {
  double d[kWarps];
  int i[kWarps];
  float f[kWarps];
};

// The CPU replaces NaN logits by -inf before sampling and in its top list.
__device__ __forceinline__ float clean(float v) {
  return isnan(v) ? -INFINITY : v;
}

// Order-preserving map of a non-NaN float to uint32 (a < b iff key(a) < key(b)). -0 is folded
// into +0 because the CPU compares them equal, which matters for ties.
__device__ __forceinline__ uint32_t order_key(float v) {
  uint32_t u = __float_as_uint(v);
  if ((u << 1) == 0u) u = 0u;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_to_float(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  // A xor butterfly with a commutative op leaves the bit-identical result in every lane.
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// Every thread must call it (it contains barriers); every thread gets the same result, and the
// reduction order is fixed, so the result is deterministic.
template <typename T, typename Op>
__device__ T block_reduce(T v, T* red, Op op) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_reduce(v, op);
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  return warp_reduce(red[lane], op);
}

struct Plus {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct Min {
  __device__ int operator()(int a, int b) const { return a < b ? a : b; }
};
struct Max {
  __device__ int operator()(int a, int b) const { return a > b ? a : b; }
};

// The CPU's total order on (value, id): larger value first, then lower id.
__device__ __forceinline__ bool precedes(float av, int ai, float bv, int bi) {
  return av > bv || (av == bv && ai < bi);
}

// Best (value, id) of the block under `precedes`; threads without a candidate pass
// (-inf, INT_MAX), which loses to every real element, -inf ones included.
__device__ void block_best(float& v, int& id, Scratch& s) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  auto warp_best = [](float& bv, int& bi) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(kFullMask, bv, o);
      const int oi = __shfl_xor_sync(kFullMask, bi, o);
      if (precedes(ov, oi, bv, bi)) {
        bv = ov;
        bi = oi;
      }
    }
  };
  warp_best(v, id);
  __syncthreads();
  if (lane == 0) {
    s.f[warp] = v;
    s.i[warp] = id;
  }
  __syncthreads();
  v = s.f[lane];
  id = s.i[lane];
  warp_best(v, id);
}

// Exclusive prefix over threads in threadIdx order; `total` gets the sum over the block.
template <typename T>
__device__ T block_exclusive_scan(T v, T* red, T& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  T incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const T n = __shfl_up_sync(kFullMask, incl, o);
    if (lane >= o) incl += n;
  }
  T excl = __shfl_up_sync(kFullMask, incl, 1);
  if (lane == 0) excl = T(0);
  __syncthreads();
  if (lane == 31) red[warp] = incl;
  __syncthreads();
  // Every warp scans the 32 warp totals itself, which saves a third barrier.
  T w = red[lane];
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const T n = __shfl_up_sync(kFullMask, w, o);
    if (lane >= o) w += n;
  }
  T wexcl = __shfl_up_sync(kFullMask, w, 1);
  if (lane == 0) wexcl = T(0);
  total = __shfl_sync(kFullMask, w, 31);
  return __shfl_sync(kFullMask, wexcl, warp) + excl;
}

// Among ids in each thread's chunk [begin, end) satisfying pred, in id order over the block:
// the id of the c-th one (1-based), or -1 when c < 1 or fewer than c satisfy it.
template <typename Pred>
__device__ int find_nth(int c, int begin, int end, Pred pred, Scratch& s) {
  int n = 0;
  for (int i = begin; i < end; ++i) n += pred(i) ? 1 : 0;
  int total = 0;
  const int before = block_exclusive_scan(n, s.i, total);
  int found = -1;
  if (c >= 1 && before < c && c <= before + n) {
    int need = c - before;
    for (int i = begin; i < end; ++i)
      if (pred(i) && --need == 0) {
        found = i;
        break;
      }
  }
  return block_reduce(found, s.i, Max{});
}

__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(const float* __restrict__ logits, int V,
                       const DeviceSamplingParams* __restrict__ params,
                       DeviceSampleResult* __restrict__ out) {
  __shared__ Scratch s;
  const int tid = static_cast<int>(threadIdx.x);
  const int row = static_cast<int>(blockIdx.x);
  const float* x = logits + static_cast<int64_t>(row) * V;
  const DeviceSamplingParams p = params[row];

  // Contiguous chunk of ids for the steps that depend on id order.
  const int64_t chunk = (static_cast<int64_t>(V) + kThreads - 1) / kThreads;
  const int begin = static_cast<int>(min(static_cast<int64_t>(V), tid * chunk));
  const int end = static_cast<int>(min(static_cast<int64_t>(V), begin + chunk));

  // Argmax of the cleaned row (lowest id on ties): the greedy token, the maximum for the
  // log-sum-exp and the temperature-scaled weights, and the first top alternative.
  float max_v = -INFINITY;
  int max_i = INT_MAX;
  for (int i = tid; i < V; i += kThreads) {
    const float v = clean(x[i]);
    if (precedes(v, i, max_v, max_i)) {
      max_v = v;
      max_i = i;
    }
  }
  block_best(max_v, max_i, s);

  // log_sum_exp of the raw row: NaN skipped, non-finite maximum returned as is.
  double lse = max_v;
  if (isfinite(max_v)) {
    const double m = max_v;
    double sum = 0.0;
    for (int i = tid; i < V; i += kThreads) {
      const float v = x[i];
      if (!isnan(v)) sum += exp(static_cast<double>(v) - m);
    }
    sum = block_reduce(sum, s.d, Plus{});
    lse = m + log(sum);
  }

  int token = max_i;
  const double temperature = p.temperature;
  // The CPU's maximum scaled logit: division by a positive double is monotone, so it is the
  // scaled maximum logit. A non-finite one (all -inf, or a +inf) falls back to the argmax.
  const double m_w = static_cast<double>(max_v) / temperature;
  if (p.temperature >= kGreedyBelow && isfinite(m_w)) {
    auto weight = [&](float v) { return exp(static_cast<double>(v) / temperature - m_w); };

    // top_k: the k best by (value, lower id). Bisection finds the largest key tk with
    // count(key >= tk) >= k; the ids holding tk are then taken lowest first, as many as needed.
    const bool use_top_k = p.top_k > 0 && p.top_k < V;
    uint32_t tk = 0;
    int tk_last_id = -1;
    if (use_top_k) {
      unsigned long long lo = 0, hi = 1ull << 32;  // count(>= lo) >= k, count(>= hi) < k
      int count_hi = 0;
      while (hi - lo > 1) {
        const unsigned long long mid = lo + (hi - lo) / 2;
        int n = 0;
        for (int i = tid; i < V; i += kThreads) {
          const unsigned long long k = order_key(clean(x[i]));
          n += (k >= mid && k < hi) ? 1 : 0;
        }
        n = count_hi + block_reduce(n, s.i, Plus{});
        if (n >= p.top_k) {
          lo = mid;
        } else {
          hi = mid;
          count_hi = n;
        }
      }
      tk = static_cast<uint32_t>(lo);
      // count_hi = count(key > tk) < k, and at least k - count_hi ids hold tk.
      tk_last_id = find_nth(
          p.top_k - count_hi, begin, end, [&](int i) { return order_key(clean(x[i])) == tk; }, s);
    }
    auto candidate = [&](int i, uint32_t k) {
      return !use_top_k || k > tk || (k == tk && i <= tk_last_id);
    };

    // top_p: the smallest set of best candidates (by weight, then lower id) with mass >= top_p *
    // total. Weight is a non-decreasing function of the logit, so the bisection runs over logit
    // keys: tp = the largest key with mass(key >= tp) >= target. Its weight wp is the weight of
    // the last token the CPU keeps; tokens above wp are kept, and of those whose weight equals wp
    // (possibly several distinct logits) the lowest ids, as many as the remaining mass needs.
    const bool use_top_p = p.top_p < 1.0f && p.top_p > 0.0f;
    double wp = 0.0;
    int wp_last_id = -1;
    if (use_top_p) {
      double total = 0.0;
      for (int i = tid; i < V; i += kThreads) {
        const float v = clean(x[i]);
        if (candidate(i, order_key(v))) total += weight(v);
      }
      total = block_reduce(total, s.d, Plus{});
      const double target = static_cast<double>(p.top_p) * total;

      // Start at the key of -inf (the smallest key a cleaned logit has), so that if rounding
      // made every tested mass fall short, everything is kept as on the CPU.
      unsigned long long lo = order_key(-INFINITY), hi = 1ull << 32;
      double mass_hi = 0.0;  // mass(key >= hi), so each step only sums keys in [mid, hi)
      while (hi - lo > 1) {
        const unsigned long long mid = lo + (hi - lo) / 2;
        double m = 0.0;
        for (int i = tid; i < V; i += kThreads) {
          const float v = clean(x[i]);
          const uint32_t k = order_key(v);
          if (k >= mid && k < hi && candidate(i, k)) m += weight(v);
        }
        m = mass_hi + block_reduce(m, s.d, Plus{});
        if (m >= target) {
          lo = mid;
        } else {
          hi = mid;
          mass_hi = m;
        }
      }
      wp = weight(key_to_float(static_cast<uint32_t>(lo)));

      double above = 0.0;
      int tied = 0;
      for (int i = begin; i < end; ++i) {
        const float v = clean(x[i]);
        if (!candidate(i, order_key(v))) continue;
        const double w = weight(v);
        if (w > wp)
          above += w;
        else if (w == wp)
          ++tied;
      }
      above = block_reduce(above, s.d, Plus{});
      tied = block_reduce(tied, s.i, Plus{});
      // The CPU adds tied weights one at a time until the running mass reaches the target.
      int need = tied;
      if (wp > 0.0) {
        const double c = ceil((target - above) / wp);
        need = !(c >= 1.0) ? 1 : (c >= static_cast<double>(tied) ? tied : static_cast<int>(c));
      }
      wp_last_id = find_nth(
          need, begin, end,
          [&](int i) {
            const float v = clean(x[i]);
            return candidate(i, order_key(v)) && weight(v) == wp;
          },
          s);
    }

    // min_p: weights are relative to the maximum (weight 1), capped so the maximum stays.
    const bool use_min_p = p.min_p > 0.0f;
    const double min_w = fmin(static_cast<double>(p.min_p), 1.0);

    // The kept weight of id i, 0 for tokens filtered out (the draw skips zero weights anyway).
    auto kept_weight = [&](int i) -> double {
      const float v = clean(x[i]);
      if (!candidate(i, order_key(v))) return 0.0;
      const double w = weight(v);
      if (use_top_p && !(w > wp || (w == wp && i <= wp_last_id))) return 0.0;
      if (use_min_p && !(w >= min_w)) return 0.0;
      return w;
    };

    // The draw: the first kept token in id order whose running mass exceeds uniform * kept mass.
    double chunk_mass = 0.0;
    for (int i = begin; i < end; ++i) chunk_mass += kept_weight(i);
    double kept = 0.0;
    const double before = block_exclusive_scan(chunk_mass, s.d, kept);
    const double target = p.uniform * kept;
    // Every thread walks its own chunk from its prefix (in parallel, so no slower than one
    // walk), and the lowest crossing wins: robust to the chunk sums rounding differently from
    // the walks.
    int found = INT_MAX, last_positive = -1;
    double cum = before;
    for (int i = begin; i < end; ++i) {
      const double w = kept_weight(i);
      if (w <= 0.0) continue;
      cum += w;
      last_positive = i;
      if (cum > target) {
        found = i;
        break;
      }
    }
    found = block_reduce(found, s.i, Min{});
    last_positive = block_reduce(last_positive, s.i, Max{});
    // Rounding can leave the target at or past the end; it still belongs to the last kept token
    // (the maximum always has weight 1, so there is one).
    if (found != INT_MAX)
      token = found;
    else if (last_positive >= 0)
      token = last_positive;
  }

  // Top alternatives by cleaned raw logit: each round takes the best element strictly after the
  // previous one in the CPU's total order, so nothing is picked twice.
  const int num_top = min(max(p.num_top, 0), min(kMaxTopLogprobs, V));
  DeviceSampleResult* o = out + row;
  float prev_v = max_v;
  int prev_i = max_i;
  for (int j = 0; j < num_top; ++j) {
    if (j > 0) {
      float bv = -INFINITY;
      int bi = INT_MAX;
      for (int i = tid; i < V; i += kThreads) {
        const float v = clean(x[i]);
        if (precedes(prev_v, prev_i, v, i) && precedes(v, i, bv, bi)) {
          bv = v;
          bi = i;
        }
      }
      block_best(bv, bi, s);
      prev_v = bv;
      prev_i = bi;
    }
    if (tid == 0) {
      o->top_tokens[j] = prev_i;
      o->top_logprobs[j] = static_cast<float>(static_cast<double>(prev_v) - lse);
    }
  }
  if (tid == 0) {
    for (int j = num_top; j < kMaxTopLogprobs; ++j) {
      o->top_tokens[j] = -1;
      o->top_logprobs[j] = -INFINITY;
    }
    o->token = token;
    o->logprob = static_cast<float>(static_cast<double>(x[token]) - lse);
  }
}

}  // namespace

void sample_rows(const float* logits, int R, int V, const DeviceSamplingParams* params,
                 DeviceSampleResult* out, cudaStream_t stream) {
  if (R < 0) throw std::invalid_argument("sample_rows: R must be >= 0, got " + std::to_string(R));
  // The upper bound keeps the strided loops' i + kThreads from overflowing int.
  if (V < 1 || V > INT_MAX - kThreads)
    throw std::invalid_argument("sample_rows: V must be in [1, INT_MAX - 1024], got " +
                                std::to_string(V));
  if (R == 0) return;
  if (logits == nullptr || params == nullptr || out == nullptr)
    throw std::invalid_argument("sample_rows: logits, params and out must be non-null");
  sample_rows_kernel<<<R, kThreads, 0, stream>>>(logits, V, params, out);
  check_launch("sample_rows_kernel");
}

}  // namespace precis::cuda
