// paged_attention_decode and prefill_attention against a double-precision reference of the CPU
// backend's attention (engine/cpu_backend.cpp), over a random f16 paged KV cache with scattered
// block tables.
#include <cuda_fp16.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cuda/device_buffer.hpp"
#include "cuda/kernels/kernels.hpp"

namespace {

using precis::cuda::AttentionArgs;
using precis::cuda::DeviceBuffer;
using precis::cuda::DType;

// A sequence's query rows sit at positions start .. start + len - 1; the cache holds its K/V for
// positions 0 .. start + len - 1 (earlier context plus the rows themselves, as after
// rope_and_store_kv).
struct SeqSpec {
  int start;
  int len;
};

struct Shape {
  int n_heads;
  int n_kv_heads;
  int head_dim;
  int block_size;
  float q_range;  // q ~ U(-q_range, q_range); K, V ~ U(-1, 1)
};

uint16_t half_bits(__half h) {
  return static_cast<__half_raw>(h).x;
}
float half_from_bits(uint16_t bits) {
  __half_raw r;
  r.x = bits;
  return __half2float(__half(r));
}
float bf16_from_bits(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Host data, device copies and the double reference of one attention problem.
struct Problem {
  Shape shape;
  int T = 0;
  int q_stride = 0;
  int max_blocks_per_seq = 0;
  int num_blocks = 0;
  float scale = 0.f;
  std::vector<float> q;
  std::vector<__half> k, v;
  std::vector<int> tables, row_seq, pos, tile_first_row;
  std::vector<double> ref;  // [T, n_heads, head_dim]

  DeviceBuffer<float> d_q;
  DeviceBuffer<__half> d_k, d_v;
  DeviceBuffer<int> d_tables, d_row_seq, d_pos, d_tiles;

  Problem(const Shape& s, const std::vector<SeqSpec>& seqs, uint32_t seed) : shape(s) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> unit(-1.f, 1.f);
    const int hd = s.head_dim, bs = s.block_size;
    scale = 1.0f / std::sqrt(static_cast<float>(hd));

    std::vector<int> blocks_needed;
    for (const SeqSpec& q_seq : seqs) {
      blocks_needed.push_back((q_seq.start + q_seq.len + bs - 1) / bs);
      max_blocks_per_seq = std::max(max_blocks_per_seq, blocks_needed.back());
    }
    max_blocks_per_seq += 2;  // unused table entries must never be read
    // A few spare physical blocks that belong to no sequence.
    num_blocks = std::accumulate(blocks_needed.begin(), blocks_needed.end(), 0) + 3;
    std::vector<int> physical(num_blocks);
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), rng);

    // Unused entries point far outside the cache, so reading one faults instead of passing.
    tables.assign(static_cast<size_t>(seqs.size()) * max_blocks_per_seq, 1 << 30);
    size_t next = 0;
    for (size_t i = 0; i < seqs.size(); ++i)
      for (int b = 0; b < blocks_needed[i]; ++b)
        tables[i * max_blocks_per_seq + b] = physical[next++];

    // NaN everywhere but the slots holding real positions: a kernel that lets a slot past a
    // row's position (or a spare block) into its result produces NaN and fails.
    __half_raw nan_raw;
    nan_raw.x = 0x7e00;
    const size_t cache_elems = static_cast<size_t>(num_blocks) * s.n_kv_heads * bs * hd;
    k.assign(cache_elems, __half(nan_raw));
    v.assign(cache_elems, __half(nan_raw));
    auto slot = [&](int seq, int p, int g) {
      const size_t block = tables[static_cast<size_t>(seq) * max_blocks_per_seq + p / bs];
      return ((block * s.n_kv_heads + g) * bs + p % bs) * hd;
    };
    for (size_t i = 0; i < seqs.size(); ++i)
      for (int p = 0; p < seqs[i].start + seqs[i].len; ++p)
        for (int g = 0; g < s.n_kv_heads; ++g)
          for (int d = 0; d < hd; ++d) {
            // Rounded to f16 here, so the reference sees exactly the stored values.
            k[slot(static_cast<int>(i), p, g) + d] = __float2half(unit(rng));
            v[slot(static_cast<int>(i), p, g) + d] = __float2half(unit(rng));
          }

    // Rows in batch order; tiles as the backend builds them: one per kPrefillTileRows rows of
    // each sequence's run.
    for (size_t i = 0; i < seqs.size(); ++i) {
      for (int r = 0; r < seqs[i].len; ++r) {
        if (r % precis::cuda::kPrefillTileRows == 0)
          tile_first_row.push_back(static_cast<int>(row_seq.size()));
        row_seq.push_back(static_cast<int>(i));
        pos.push_back(seqs[i].start + r);
      }
    }
    T = static_cast<int>(row_seq.size());
    // q inside a fused [T, (n_heads + 2 * n_kv_heads) * head_dim] qkv buffer, as the backend
    // passes it; the k/v columns are filled too and must be ignored.
    q_stride = (s.n_heads + 2 * s.n_kv_heads) * hd;
    q.resize(static_cast<size_t>(T) * q_stride);
    for (float& x : q) x = s.q_range * unit(rng);

    const int group = s.n_heads / s.n_kv_heads;
    ref.assign(static_cast<size_t>(T) * s.n_heads * hd, 0.0);
    std::vector<double> w;
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < s.n_heads; ++h) {
        const int g = h / group;
        const float* qr = q.data() + static_cast<size_t>(t) * q_stride + h * hd;
        const int ctx = pos[t] + 1;
        w.assign(ctx, 0.0);
        double mx = -INFINITY;
        for (int j = 0; j < ctx; ++j) {
          const size_t o = slot(row_seq[t], j, g);
          double dot = 0.0;
          for (int d = 0; d < hd; ++d) dot += static_cast<double>(qr[d]) * __half2float(k[o + d]);
          w[j] = dot * static_cast<double>(scale);
          mx = std::max(mx, w[j]);
        }
        double sum = 0.0;
        for (int j = 0; j < ctx; ++j) sum += (w[j] = std::exp(w[j] - mx));
        double* out = ref.data() + (static_cast<size_t>(t) * s.n_heads + h) * hd;
        for (int j = 0; j < ctx; ++j) {
          const size_t o = slot(row_seq[t], j, g);
          for (int d = 0; d < hd; ++d) out[d] += w[j] / sum * __half2float(v[o + d]);
        }
      }
    }

    d_q.upload(q);
    d_k.upload(k);
    d_v.upload(v);
    d_tables.upload(tables);
    d_row_seq.upload(row_seq);
    d_pos.upload(pos);
    d_tiles.upload(tile_first_row);
  }

  AttentionArgs args(void* out, DType out_dtype) const {
    AttentionArgs a;
    a.q = d_q.get();
    a.q_stride = q_stride;
    a.k_cache = d_k.get();
    a.v_cache = d_v.get();
    a.block_tables = d_tables.get();
    a.max_blocks_per_seq = max_blocks_per_seq;
    a.row_seq = d_row_seq.get();
    a.pos = d_pos.get();
    a.T = T;
    a.n_heads = shape.n_heads;
    a.n_kv_heads = shape.n_kv_heads;
    a.head_dim = shape.head_dim;
    a.block_size = shape.block_size;
    a.scale = scale;
    a.out = out;
    a.out_dtype = out_dtype;
    return a;
  }

  size_t out_elems() const { return static_cast<size_t>(T) * shape.n_heads * shape.head_dim; }
};

size_t dtype_size(DType d) {
  return d == DType::f32 ? 4 : 2;
}
const char* dtype_name(DType d) {
  return d == DType::f32 ? "f32" : d == DType::f16 ? "f16" : "bf16";
}

// Tolerance |got - ref| <= atol + rtol * |ref|.
// f32: scores are f32 dot products of <= 256 terms of magnitude <= q_range, so they carry
// ~1e-6 .. 1e-5 absolute rounding error, which becomes the same relative error in each softmax
// weight; outputs are convex combinations of |v| <= 1, so their error is ~1e-5 absolute at
// worst and usually far less (the online-softmax sums add ~1e-6 relative over thousands of
// keys). f16/bf16 add one rounding of the output: 2^-11 and 2^-8 relative.
struct Tolerance {
  double atol, rtol;
};
Tolerance tolerance(DType d) {
  switch (d) {
    case DType::f32:
      return {2e-5, 1e-4};
    case DType::f16:
      return {2e-5, 1e-3};
    case DType::bf16:
      return {2e-5, 8e-3};
  }
  return {0, 0};
}

enum class Kernel { decode, prefill };

// Split-K inputs of the decode kernel: the context hint and a scratch of `floats` floats.
struct SplitArgs {
  int max_context = 0;
  float* scratch = nullptr;
  int64_t floats = 0;
  unsigned* counters = nullptr;  // non-null: the merge is fused into the decode kernel
  int64_t counters_len = 0;
};

// Runs one kernel with one output dtype and returns its output as floats.
std::vector<float> run(const Problem& p, Kernel kernel, DType dtype,
                       const SplitArgs& split = SplitArgs{}) {
  DeviceBuffer<unsigned char> out(p.out_elems() * dtype_size(dtype));
  // Poison the output so a row or head the kernel never writes is caught.
  precis::cuda::check_cuda(cudaMemset(out.get(), 0xff, out.size()), "cudaMemset");
  AttentionArgs a = p.args(out.get(), dtype);
  a.max_context = split.max_context;
  a.split_scratch = split.scratch;
  a.split_scratch_floats = split.floats;
  a.split_counters = split.counters;
  a.split_counters_len = split.counters_len;
  if (kernel == Kernel::decode)
    precis::cuda::paged_attention_decode(a, nullptr);
  else
    precis::cuda::prefill_attention(a, p.d_tiles.get(), static_cast<int>(p.tile_first_row.size()),
                                    nullptr);
  const std::vector<unsigned char> raw = out.download();
  std::vector<float> result(p.out_elems());
  for (size_t i = 0; i < result.size(); ++i) {
    if (dtype == DType::f32) {
      std::memcpy(&result[i], raw.data() + 4 * i, 4);
    } else {
      uint16_t bits;
      std::memcpy(&bits, raw.data() + 2 * i, 2);
      result[i] = dtype == DType::f16 ? half_from_bits(bits) : bf16_from_bits(bits);
    }
  }
  return result;
}

// Counts elements outside tolerance (NaN counts as outside) and reports the worst one.
void check_against(const Problem& p, const std::vector<float>& got, const std::vector<double>& want,
                   Tolerance tol, const std::string& what) {
  size_t bad = 0, worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]);
    const double limit = tol.atol + tol.rtol * std::abs(want[i]);
    if (!(err <= limit)) ++bad;
    const double excess = std::isnan(err) ? INFINITY : err - limit;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  const size_t per_row = static_cast<size_t>(p.shape.n_heads) * p.shape.head_dim;
  INFO(what << ": worst element " << worst << " (row " << worst / per_row << ", head "
            << (worst % per_row) / p.shape.head_dim << ", dim " << worst % p.shape.head_dim
            << ") got " << got[worst] << " want " << want[worst] << ", " << bad << " of "
            << got.size() << " outside " << tol.atol << " + " << tol.rtol << " * |ref|");
  CHECK(bad == 0);
}

void check_kernel(const Problem& p, Kernel kernel, const std::string& label) {
  for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    const std::vector<float> got = run(p, kernel, dtype);
    check_against(
        p, got, p.ref, tolerance(dtype),
        label + (kernel == Kernel::decode ? " decode " : " prefill ") + dtype_name(dtype));
  }
}

std::string shape_label(const Shape& s) {
  return "heads " + std::to_string(s.n_heads) + "/" + std::to_string(s.n_kv_heads) + " head_dim " +
         std::to_string(s.head_dim) + " block_size " + std::to_string(s.block_size);
}

// GQA ratios 1, 4 and 8 at head_dim 64 and 128.
std::vector<Shape> main_shapes() {
  std::vector<Shape> shapes;
  for (int hd : {64, 128}) {
    shapes.push_back({4, 4, hd, 16, 2.f});
    shapes.push_back({8, 2, hd, 16, 2.f});
    shapes.push_back({8, 1, hd, 16, 2.f});
  }
  return shapes;
}

// Contexts 1, 7, 17, 100, 1000 and 1029 (none but 1 near a multiple of 16), one row each.
std::vector<SeqSpec> decode_seqs() {
  std::vector<SeqSpec> seqs;
  for (int ctx : {1, 7, 17, 100, 1000, 1029}) seqs.push_back({ctx - 1, 1});
  return seqs;
}

// Chunks of 1..40 rows, most after earlier context: several full tiles plus partial ones, a
// single-row chunk, a chunk from position 0, and two sequences whose positions continue across
// the boundary (5 rows at 0..4, then 20 rows at 5..24 of another sequence) so the tile-row rule
// must stop at the change of sequence.
std::vector<SeqSpec> prefill_seqs() {
  return {{0, 40}, {5, 1}, {13, 17}, {100, 33}, {1000, 16}, {3, 7}, {0, 5}, {5, 20}, {31, 32}};
}

}  // namespace

TEST_CASE("paged_attention_decode matches the reference for one row per sequence", "[gpu]") {
  uint32_t seed = 1;
  for (const Shape& s : main_shapes()) {
    const Problem p(s, decode_seqs(), seed++);
    check_kernel(p, Kernel::decode, shape_label(s));
  }
}

TEST_CASE("prefill_attention matches the reference and agrees with decode on the same rows",
          "[gpu]") {
  uint32_t seed = 100;
  for (const Shape& s : main_shapes()) {
    const Problem p(s, prefill_seqs(), seed++);
    const std::string label = shape_label(s);
    check_kernel(p, Kernel::prefill, label);
    // The decode kernel must be right for any rows, not only one per sequence.
    check_kernel(p, Kernel::decode, label);
    // Same rows through both kernels: two independent errors, so twice the f32 tolerance.
    const std::vector<float> pre = run(p, Kernel::prefill, DType::f32);
    const std::vector<float> dec = run(p, Kernel::decode, DType::f32);
    const std::vector<double> dec_d(dec.begin(), dec.end());
    const Tolerance t = tolerance(DType::f32);
    check_against(p, pre, dec_d, {2 * t.atol, 2 * t.rtol}, label + " prefill vs decode");
  }
}

TEST_CASE("attention kernels handle other head sizes and block sizes", "[gpu]") {
  // head_dim 256 takes the prefill kernel's shared-memory opt-in; 96 and 32 give an odd or single
  // dimension per lane; block sizes 1, 5 and 48 exercise the block-table arithmetic.
  const std::vector<Shape> shapes = {
      {4, 2, 256, 16, 2.f}, {6, 3, 96, 5, 2.f}, {2, 1, 32, 1, 2.f}, {4, 1, 128, 48, 2.f}};
  const std::vector<SeqSpec> seqs = {{0, 23}, {40, 18}, {130, 1}, {7, 3}};
  uint32_t seed = 200;
  for (const Shape& s : shapes) {
    const Problem p(s, seqs, seed++);
    check_kernel(p, Kernel::prefill, shape_label(s));
    check_kernel(p, Kernel::decode, shape_label(s));
  }
}

TEST_CASE("attention kernels stay exact with peaked softmax weights", "[gpu]") {
  // q ~ U(-8, 8) gives scores with a standard deviation near 2.7 (spread ~20 over a long
  // context), so weights span e^20 and the running max moves often. Score rounding grows with
  // |q| (~1e-5 absolute here), still inside the f32 tolerance.
  const Shape s{8, 2, 64, 16, 8.f};
  const Problem p(s, {{0, 40}, {300, 17}, {77, 1}}, 300);
  check_kernel(p, Kernel::prefill, "peaked");
  check_kernel(p, Kernel::decode, "peaked");
}

TEST_CASE("paged_attention_decode handles long contexts", "[gpu]") {
  const Shape s{8, 2, 128, 16, 2.f};
  const Problem p(s, {{32767, 1}, {20000, 1}, {4095, 1}}, 400);
  check_kernel(p, Kernel::decode, "long context");
}

namespace {

// A split-K scratch poisoned with all-ones bytes (a NaN), so the test sees which of it the
// kernel wrote.
struct Scratch {
  DeviceBuffer<float> buf;
  explicit Scratch(int64_t floats) : buf(static_cast<size_t>(floats)) {
    precis::cuda::check_cuda(cudaMemset(buf.get(), 0xff, buf.size() * sizeof(float)), "cudaMemset");
  }
  std::vector<uint32_t> bits() const {
    const std::vector<float> host = buf.download();
    std::vector<uint32_t> b(host.size());
    std::memcpy(b.data(), host.data(), host.size() * sizeof(float));
    return b;
  }
};

int max_context_of(const Problem& p) {
  int mx = 0;
  for (int q_pos : p.pos) mx = std::max(mx, q_pos + 1);
  return mx;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Runs the split decode with hint `hint` (asserting that it splits) in f32 and f16 against the
// reference and in f32 against the unsplit kernel; checks that every partition wrote its max.
void check_split(const Problem& p, int hint, const std::string& label) {
  const int T = p.T, nh = p.shape.n_heads, hd = p.shape.head_dim;
  const int splits = precis::cuda::decode_split_count(T, nh, hint);
  INFO(label << ": " << splits << " partitions, hint " << hint);
  REQUIRE(splits > 1);
  const int64_t needed = static_cast<int64_t>(T) * nh * splits * (hd + 2);
  const int64_t floats = precis::cuda::decode_split_scratch_floats(T, nh, hd, hint);
  REQUIRE(floats >= needed);
  // The merge fused into the decode kernel (per-item counters, zeroed, one spare) in both output
  // dtypes, and as a second kernel (no counters, or one too few).
  const int64_t items = static_cast<int64_t>(T) * nh;
  DeviceBuffer<unsigned> counters(std::vector<unsigned>(static_cast<size_t>(items) + 1, 0u));
  struct Run {
    int64_t counters_len;
    DType dtype;
  };
  std::vector<float> split;  // unfused, f32: compared with the unsplit kernel below
  for (const Run& r : {Run{items + 1, DType::f32}, Run{items + 1, DType::f16}, Run{0, DType::f32},
                       Run{items - 1, DType::f16}}) {
    INFO("counters " << r.counters_len << " for " << items << " items");
    Scratch scratch(floats);
    const std::vector<float> got = run(p, Kernel::decode, r.dtype,
                                       {hint, scratch.buf.get(), floats,
                                        r.counters_len ? counters.get() : nullptr, r.counters_len});
    check_against(p, got, p.ref, tolerance(r.dtype),
                  label + " split decode " + dtype_name(r.dtype));
    // Partial (item, partition) starts at (item * splits + partition) * (hd + 2) with its max
    // first: written by every partition block, -inf for an empty one, never left as poison.
    const std::vector<uint32_t> bits = scratch.bits();
    int64_t unwritten = 0;
    for (int64_t i = 0; i < needed; i += hd + 2) unwritten += bits[i] == 0xffffffffu;
    CHECK(unwritten == 0);
    // The fused merge leaves every counter at zero for the next launch (a graph replays it).
    const std::vector<unsigned> left = counters.download();
    CHECK(std::count(left.begin(), left.end(), 0u) == static_cast<long>(left.size()));
    if (r.counters_len == 0) split = got;
  }
  {
    // Proof that the counters path is the one taken: counters that never reach splits - 1 mean no
    // block merges, so the (poisoned) output stays NaN.
    DeviceBuffer<unsigned> stuck(std::vector<unsigned>(static_cast<size_t>(items), 1u << 31));
    Scratch scratch(floats);
    const std::vector<float> got =
        run(p, Kernel::decode, DType::f32, {hint, scratch.buf.get(), floats, stuck.get(), items});
    CHECK(std::all_of(got.begin(), got.end(), [](float v) { return std::isnan(v); }));
  }
  // Split and unsplit differ only in summation order: twice the f32 tolerance.
  const std::vector<float> unsplit = run(p, Kernel::decode, DType::f32);
  const std::vector<double> unsplit_d(unsplit.begin(), unsplit.end());
  const Tolerance t = tolerance(DType::f32);
  check_against(p, split, unsplit_d, {2 * t.atol, 2 * t.rtol}, label + " split vs unsplit");
}

// Split-K shapes: GQA 4 at head_dim 128, GQA 4 and 8 at head_dim 64.
std::vector<Shape> split_shapes() {
  return {{8, 2, 128, 16, 2.f}, {16, 4, 64, 16, 2.f}, {8, 1, 64, 16, 4.f}};
}

}  // namespace

TEST_CASE("paged_attention_decode split-K matches the reference and the unsplit kernel", "[gpu]") {
  // Batch 1 at 3000 keys; batch 3 of long contexts that end mid-block; and a mixed batch with a
  // 1-key row and a pos -1 row (zeros) beside long ones, so most of their partitions are empty.
  const std::vector<std::pair<std::string, std::vector<SeqSpec>>> batches = {
      {"batch 1", {{2999, 1}}},
      {"batch 3", {{1499, 1}, {2999, 1}, {1020, 1}}},
      {"mixed", {{2047, 1}, {0, 1}, {-1, 1}, {1200, 1}}}};
  uint32_t seed = 600;
  for (const Shape& s : split_shapes()) {
    for (const auto& [name, seqs] : batches) {
      const Problem p(s, seqs, seed++);
      check_split(p, max_context_of(p), shape_label(s) + " " + name);
    }
  }
}

TEST_CASE("paged_attention_decode split-K is right whatever the context hint", "[gpu]") {
  // The hint only picks the partition count; each row's partitions follow its own position.
  // Too long (as in a graph captured for the longest context): short rows fill one partition
  // and leave the rest empty. Too short: rows longer than the hint get longer partitions.
  const Shape s{8, 2, 128, 16, 2.f};
  const Problem short_rows(s, {{5, 1}, {300, 1}, {-1, 1}, {0, 1}}, 700);
  check_split(short_rows, 32768, "hint 32768, contexts <= 301");
  const Problem long_rows(s, {{2999, 1}, {1800, 1}}, 701);
  check_split(long_rows, 600, "hint 600, contexts up to 3000");
  // block_size 5: partitions of whole blocks that do not divide kDecodeMinSplitKeys.
  const Shape odd{4, 1, 64, 5, 2.f};
  const Problem odd_blocks(odd, {{1733, 1}, {9, 1}}, 702);
  check_split(odd_blocks, max_context_of(odd_blocks), "block_size 5");
}

TEST_CASE("paged_attention_decode runs unsplit without a big enough scratch or a hint", "[gpu]") {
  const Shape s{8, 2, 64, 16, 2.f};
  const Problem p(s, {{2999, 1}, {-1, 1}, {0, 1}}, 800);
  const int hint = max_context_of(p);
  const int splits = precis::cuda::decode_split_count(p.T, s.n_heads, hint);
  REQUIRE(splits > 1);
  const int64_t needed = static_cast<int64_t>(p.T) * s.n_heads * splits * (s.head_dim + 2);
  const std::vector<float> unsplit = run(p, Kernel::decode, DType::f32);
  check_against(p, unsplit, p.ref, tolerance(DType::f32), "unsplit");
  CHECK(precis::cuda::decode_split_count(p.T, s.n_heads, 0) == 1);
  CHECK(precis::cuda::decode_split_count(p.T, s.n_heads, precis::cuda::kDecodeMinSplitKeys) ==
        1);  // one partition's worth

  struct Case {
    const char* what;
    int hint;
    int64_t scratch_floats;  // allocated
    int64_t passed_floats;   // as split_scratch_floats
    bool pass_pointer;
  };
  const Case cases[] = {{"scratch one float short", hint, needed, needed - 1, true},
                        {"no hint", 0, needed, needed, true},
                        {"null scratch", hint, needed, needed, false}};
  for (const Case& c : cases) {
    INFO(c.what);
    Scratch scratch(c.scratch_floats);
    const std::vector<float> got =
        run(p, Kernel::decode, DType::f32,
            {c.hint, c.pass_pointer ? scratch.buf.get() : nullptr, c.passed_floats});
    CHECK(bitwise_equal(got, unsplit));  // the unsplit kernel ran, not a split one
    const std::vector<uint32_t> bits = scratch.bits();
    CHECK(std::all_of(bits.begin(), bits.end(), [](uint32_t b) { return b == 0xffffffffu; }));
  }
  // And with exactly enough it splits: the scratch is written.
  Scratch scratch(needed);
  const std::vector<float> got =
      run(p, Kernel::decode, DType::f32, {hint, scratch.buf.get(), needed});
  check_against(p, got, p.ref, tolerance(DType::f32), "exact scratch");
  const std::vector<uint32_t> bits = scratch.bits();
  CHECK(std::count(bits.begin(), bits.end(), 0xffffffffu) < static_cast<long>(bits.size()));
}

TEST_CASE("attention launchers reject bad arguments", "[gpu]") {
  const Shape s{4, 2, 64, 16, 2.f};
  const Problem p(s, {{3, 2}}, 500);
  DeviceBuffer<float> out(p.out_elems());
  const AttentionArgs good = p.args(out.get(), DType::f32);
  auto both_throw = [&](const AttentionArgs& a) {
    CHECK_THROWS_AS(precis::cuda::paged_attention_decode(a, nullptr), std::invalid_argument);
    CHECK_THROWS_AS(precis::cuda::prefill_attention(a, p.d_tiles.get(), 1, nullptr),
                    std::invalid_argument);
  };
  for (int hd : {0, 48, 288, -32}) {
    AttentionArgs a = good;
    a.head_dim = hd;
    a.q_stride = 1 << 20;
    both_throw(a);
  }
  {
    AttentionArgs a = good;
    a.n_kv_heads = 3;  // 4 % 3 != 0
    both_throw(a);
  }
  {
    AttentionArgs a = good;
    a.n_kv_heads = 0;
    both_throw(a);
  }
  {
    AttentionArgs a = good;
    a.block_size = 0;
    both_throw(a);
  }
  {
    AttentionArgs a = good;
    a.q_stride = a.n_heads * a.head_dim - 1;
    both_throw(a);
  }
  {
    AttentionArgs a = good;
    a.pos = nullptr;
    both_throw(a);
  }
  {
    AttentionArgs a = good;
    a.T = -1;
    both_throw(a);
  }
  CHECK_THROWS_AS(precis::cuda::prefill_attention(good, nullptr, 1, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(precis::cuda::prefill_attention(good, p.d_tiles.get(), -1, nullptr),
                  std::invalid_argument);
  {
    // The prefill kernel reads K/V in 16-byte chunks.
    AttentionArgs a = good;
    a.k_cache = p.d_k.get() + 1;
    CHECK_THROWS_AS(precis::cuda::prefill_attention(a, p.d_tiles.get(), 1, nullptr),
                    std::invalid_argument);
  }
  // Empty batches are no-ops, even with null pointers.
  AttentionArgs empty = good;
  empty.T = 0;
  empty.q = nullptr;
  CHECK_NOTHROW(precis::cuda::paged_attention_decode(empty, nullptr));
  CHECK_NOTHROW(precis::cuda::prefill_attention(empty, nullptr, 0, nullptr));
  CHECK_NOTHROW(precis::cuda::prefill_attention(good, p.d_tiles.get(), 0, nullptr));
  // The valid arguments run.
  CHECK_NOTHROW(precis::cuda::paged_attention_decode(good, nullptr));
  CHECK_NOTHROW(precis::cuda::prefill_attention(good, p.d_tiles.get(), 1, nullptr));
  precis::cuda::check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

namespace {

std::vector<double> rope_inv_freq(int head_dim) {
  std::vector<double> f(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) f[i] = 1.0 / std::pow(10000.0, 2.0 * i / head_dim);
  return f;
}

// One decode step both ways from the same inputs: rope_and_store_kv then the unfused decode
// (each tested against double references above), and the decode with the RoPE fused. The
// problem's qkv rows are raw (unrotated); the new tokens' cache slots start as NaN, so a fused
// kernel that read one from the cache instead of its own registers would produce NaN.
struct FusedRopeRun {
  std::vector<float> out;
  std::vector<uint16_t> k, v;  // the caches after the step, as raw f16 bits
  std::vector<float> qkv;      // the qkv buffer after the step
};

std::vector<int> new_token_slots(const Problem& p) {
  std::vector<int> slots(p.T, -1);
  for (int t = 0; t < p.T; ++t) {
    if (p.pos[t] < 0) continue;
    const int bs = p.shape.block_size;
    const int block =
        p.tables[static_cast<size_t>(p.row_seq[t]) * p.max_blocks_per_seq + p.pos[t] / bs];
    slots[t] = block * bs + p.pos[t] % bs;
  }
  return slots;
}

std::vector<uint16_t> f16_bits(const std::vector<__half>& h) {
  std::vector<uint16_t> b(h.size());
  for (size_t i = 0; i < h.size(); ++i) b[i] = half_bits(h[i]);
  return b;
}

FusedRopeRun run_decode_step(const Problem& p, const std::vector<int>& slots, bool fused,
                             bool interleaved, DType dtype, const SplitArgs& split) {
  const int hd = p.shape.head_dim, bs = p.shape.block_size, nkv = p.shape.n_kv_heads;
  std::vector<__half> k = p.k, v = p.v;
  __half_raw nan_raw;
  nan_raw.x = 0x7e00;
  for (int slot : slots) {
    if (slot < 0) continue;
    for (int g = 0; g < nkv; ++g)
      for (int d = 0; d < hd; ++d) {
        const size_t i = ((static_cast<size_t>(slot / bs) * nkv + g) * bs + slot % bs) * hd + d;
        k[i] = v[i] = __half(nan_raw);
      }
  }
  DeviceBuffer<float> d_qkv(p.q);
  DeviceBuffer<__half> d_k(k), d_v(v);
  DeviceBuffer<int> d_slots(slots);
  DeviceBuffer<double> d_inv_freq(rope_inv_freq(hd));
  DeviceBuffer<unsigned char> out(p.out_elems() * dtype_size(dtype));
  precis::cuda::check_cuda(cudaMemset(out.get(), 0xff, out.size()), "cudaMemset");

  AttentionArgs a = p.args(out.get(), dtype);
  a.q = d_qkv.get();
  a.k_cache = d_k.get();
  a.v_cache = d_v.get();
  a.max_context = split.max_context;
  a.split_scratch = split.scratch;
  a.split_scratch_floats = split.floats;
  a.split_counters = split.counters;
  a.split_counters_len = split.counters_len;
  if (fused) {
    a.rope.inv_freq = d_inv_freq.get();
    a.rope.slot_mapping = d_slots.get();
    a.rope.k_store = d_k.get();
    a.rope.v_store = d_v.get();
    a.rope.interleaved = interleaved;
  } else {
    precis::cuda::rope_and_store_kv(d_qkv.get(), p.d_pos.get(), d_slots.get(), p.T, p.shape.n_heads,
                                    nkv, hd, d_inv_freq.get(), d_k.get(), d_v.get(), bs, nullptr,
                                    interleaved);
  }
  precis::cuda::paged_attention_decode(a, nullptr);

  FusedRopeRun r;
  const std::vector<unsigned char> raw = out.download();
  r.out.resize(p.out_elems());
  for (size_t i = 0; i < r.out.size(); ++i) {
    if (dtype == DType::f32) {
      std::memcpy(&r.out[i], raw.data() + 4 * i, 4);
    } else {
      uint16_t bits;
      std::memcpy(&bits, raw.data() + 2 * i, 2);
      r.out[i] = half_from_bits(bits);
    }
  }
  r.k = f16_bits(d_k.download());
  r.v = f16_bits(d_v.download());
  r.qkv = d_qkv.download();
  return r;
}

// The fused step equals the unfused one bit for bit, in the output and in both caches (the
// unfused kernels are each checked against double references above), and leaves the qkv rows
// as they were.
void check_fused_rope(const Problem& p, const std::string& label, const SplitArgs& split,
                      DType dtype) {
  const std::vector<int> slots = new_token_slots(p);
  for (bool interleaved : {false, true}) {
    INFO(label << (interleaved ? " interleaved" : " half-split") << " " << dtype_name(dtype));
    const FusedRopeRun unfused = run_decode_step(p, slots, false, interleaved, dtype, split);
    const FusedRopeRun fused = run_decode_step(p, slots, true, interleaved, dtype, split);
    size_t nan_out = 0;
    for (float x : unfused.out) nan_out += std::isnan(x);
    CHECK(nan_out == 0);  // the unfused path stored every new token before reading it
    CHECK(bitwise_equal(fused.out, unfused.out));
    CHECK(fused.k == unfused.k);
    CHECK(fused.v == unfused.v);
    CHECK(bitwise_equal(fused.qkv, p.q));  // read, not rotated in place
  }
}

}  // namespace

TEST_CASE("paged_attention_decode with the RoPE fused equals rope_and_store_kv + decode", "[gpu]") {
  // Head dims with an even and an odd count of dimensions per lane (64, 128; 32, 96), GQA 1, 4
  // and 8; contexts from 1 key (the new token alone) to past a thousand, a row with no keys
  // (pos -1: nothing stored) and block size 5 (slots that do not align to anything).
  const std::vector<Shape> shapes = {
      {4, 4, 64, 16, 2.f}, {8, 2, 128, 16, 2.f}, {8, 1, 32, 16, 2.f}, {4, 2, 96, 5, 2.f}};
  const std::vector<SeqSpec> seqs = {{0, 1}, {6, 1}, {16, 1}, {99, 1}, {-1, 1}, {1028, 1}};
  uint32_t seed = 900;
  for (const Shape& s : shapes) {
    const Problem p(s, seqs, seed++);
    check_fused_rope(p, shape_label(s) + " unsplit", SplitArgs{}, DType::f32);
  }
  // Split-K with the merge fused and as a second kernel: only the partition holding the new
  // token takes it from registers, and only one block per kv head stores it.
  for (const Shape& s : {Shape{8, 2, 128, 16, 2.f}, Shape{16, 4, 64, 16, 2.f}}) {
    const Problem p(s, {{2999, 1}, {0, 1}, {-1, 1}, {1200, 1}}, seed++);
    const int hint = max_context_of(p);
    REQUIRE(precis::cuda::decode_split_count(p.T, s.n_heads, hint) > 1);
    const int64_t floats =
        precis::cuda::decode_split_scratch_floats(p.T, s.n_heads, s.head_dim, hint);
    const int64_t items = static_cast<int64_t>(p.T) * s.n_heads;
    for (bool fused_merge : {true, false}) {
      Scratch scratch(floats);
      DeviceBuffer<unsigned> counters(std::vector<unsigned>(static_cast<size_t>(items), 0u));
      const SplitArgs split{hint, scratch.buf.get(), floats, fused_merge ? counters.get() : nullptr,
                            fused_merge ? items : 0};
      for (DType dtype : {DType::f32, DType::f16})
        check_fused_rope(p, shape_label(s) + (fused_merge ? " split, merge fused" : " split"),
                         split, dtype);
    }
  }
}

TEST_CASE("paged_attention_decode rejects a fused RoPE it cannot run", "[gpu]") {
  const Shape s{4, 2, 64, 16, 2.f};
  const Problem p(s, {{3, 1}}, 950);
  DeviceBuffer<float> out(p.out_elems());
  DeviceBuffer<int> slots(new_token_slots(p));
  DeviceBuffer<double> inv_freq(rope_inv_freq(s.head_dim));
  AttentionArgs good = p.args(out.get(), DType::f32);
  // A copy of the caches to store into, so the problem's own stay as they are.
  DeviceBuffer<__half> k(p.k), v(p.v);
  good.k_cache = k.get();
  good.v_cache = v.get();
  good.rope.inv_freq = inv_freq.get();
  good.rope.slot_mapping = slots.get();
  good.rope.k_store = k.get();
  good.rope.v_store = v.get();
  {
    AttentionArgs a = good;
    a.rope.slot_mapping = nullptr;
    CHECK_THROWS_AS(precis::cuda::paged_attention_decode(a, nullptr), std::invalid_argument);
  }
  {
    AttentionArgs a = good;  // storing into another cache than the one read
    DeviceBuffer<__half> other(p.v);
    a.rope.v_store = other.get();
    CHECK_THROWS_AS(precis::cuda::paged_attention_decode(a, nullptr), std::invalid_argument);
  }
  {
    AttentionArgs a = good;  // a stride that holds q but not k and v
    a.q_stride = s.n_heads * s.head_dim;
    CHECK_THROWS_AS(precis::cuda::paged_attention_decode(a, nullptr), std::invalid_argument);
  }
  CHECK_NOTHROW(precis::cuda::paged_attention_decode(good, nullptr));
  precis::cuda::check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}
