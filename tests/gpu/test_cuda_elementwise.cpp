// The CUDA backend's elementwise and data-movement kernels (embedding, residual add + RMSNorm,
// row gather, RoPE + KV store, SiLU-mul, KV block copy) against references computed here in
// double, or bit-exact expectations where the kernel only moves or converts data.
#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/kernels/kernels.hpp"
#include "engine/cpu_kernels.hpp"
#include "engine/dtype.hpp"
#include "engine/safetensors.hpp"

namespace {

using precis::cuda::DeviceBuffer;
using precis::cuda::DType;

constexpr DType kAllDTypes[] = {DType::f32, DType::f16, DType::bf16};

const char* dtype_str(DType d) {
  switch (d) {
    case DType::f32:
      return "f32";
    case DType::f16:
      return "f16";
    case DType::bf16:
      return "bf16";
  }
  return "?";
}

size_t dtype_bytes(DType d) {
  return d == DType::f32 ? 4 : 2;
}

// Host images of device arrays in `d`, converted with the engine's (round-to-nearest-even)
// helpers, the same rounding as __float2half_rn / __float2bfloat16_rn.
std::vector<uint8_t> encode(const std::vector<float>& v, DType d) {
  std::vector<uint8_t> bytes(v.size() * dtype_bytes(d));
  for (size_t i = 0; i < v.size(); ++i) {
    if (d == DType::f32) {
      std::memcpy(bytes.data() + 4 * i, &v[i], 4);
    } else {
      const uint16_t h =
          d == DType::f16 ? precis::engine::f32_to_f16(v[i]) : precis::engine::f32_to_bf16(v[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
  }
  return bytes;
}

std::vector<float> decode(const std::vector<uint8_t>& bytes, DType d) {
  const size_t n = bytes.size() / dtype_bytes(d);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    if (d == DType::f32) {
      std::memcpy(&v[i], bytes.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      v[i] = d == DType::f16 ? precis::engine::f16_to_f32(h) : precis::engine::bf16_to_f32(h);
    }
  }
  return v;
}

std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Every element within tol(i) of want[i]; reports the count and the first offender.
void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                  const std::function<double(size_t)>& tol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool ok = std::fabs(static_cast<double>(got[i]) - want[i]) <= tol(i);  // NaN fails
    if (!ok && bad++ == 0) first = i;
  }
  INFO(what << ": " << bad << " of " << got.size() << " elements out of tolerance; first at "
            << first << ": got " << (bad ? got[first] : 0.f) << ", want "
            << (bad ? want[first] : 0.0) << ", tol " << (bad ? tol(first) : 0.0));
  CHECK(bad == 0);
}

// Relative tolerance plus an absolute floor (for values near zero).
std::function<double(size_t)> rel_tol(const std::vector<double>& want, double rel, double abs) {
  return [&want, rel, abs](size_t i) { return rel * std::fabs(want[i]) + abs; };
}

// Rounding of the kernels' output dtype on top of f32 arithmetic (a few ulp, ~2e-7 relative):
// f16 keeps 11 significant bits (unit roundoff 2^-11 ~ 4.9e-4), bf16 8 (2^-8 ~ 3.9e-3). The
// absolute floor covers f16 subnormals (half a step is 2^-25 ~ 3e-8) and f32 underflow.
double out_rel_tol(DType d) {
  return d == DType::f32 ? 2e-6 : d == DType::f16 ? 1e-3 : 5e-3;
}
double out_abs_tol(DType d) {
  return d == DType::f16 ? 1e-7 : 1e-30;
}

void device_sync() {
  precis::cuda::check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace

TEST_CASE("embedding_gather widens rows of f32, f16 and bf16 tables", "[gpu]") {
  std::mt19937 rng(101);
  const int vocab = 61, T = 37;
  for (int H : {7, 1000, 4096}) {
    for (DType d : kAllDTypes) {
      INFO("H=" << H << " dtype=" << dtype_str(d));
      const std::vector<uint8_t> table_bytes =
          encode(random_floats(rng, static_cast<size_t>(vocab) * H, -3.f, 3.f), d);
      // The kernel only widens, so it must reproduce the host's exact decoding.
      const std::vector<float> table = decode(table_bytes, d);
      std::vector<int> ids(T);
      std::uniform_int_distribution<int> pick(0, vocab - 1);
      for (int& id : ids) id = pick(rng);
      ids[0] = 0;
      ids[1] = vocab - 1;
      ids[2] = ids[3];  // repeated token

      DeviceBuffer<uint8_t> d_table(table_bytes);
      DeviceBuffer<int> d_ids(ids);
      DeviceBuffer<float> d_out(static_cast<size_t>(T) * H);
      precis::cuda::embedding_gather(d_table.get(), d, d_ids.get(), T, H, d_out.get(), nullptr);
      const std::vector<float> out = d_out.download();

      size_t bad = 0;
      for (int t = 0; t < T; ++t)
        for (int i = 0; i < H; ++i)
          bad += out[static_cast<size_t>(t) * H + i] != table[static_cast<size_t>(ids[t]) * H + i];
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("add_rms_norm adds the residual and normalises like the CPU backend", "[gpu]") {
  std::mt19937 rng(202);
  const int T = 6;
  const float eps = 1e-6f;
  // 12000 and 20000: more than 8 elements per thread (the kernel keeps 16 or 64 in registers).
  for (int H : {3, 256, 1000, 4096, 8192, 12000, 20000}) {
    for (bool with_delta : {false, true}) {
      for (DType d : kAllDTypes) {
        INFO("H=" << H << " delta=" << with_delta << " out=" << dtype_str(d));
        const size_t n = static_cast<size_t>(T) * H;
        std::vector<float> x = random_floats(rng, n, -2.f, 2.f);
        std::vector<float> delta = random_floats(rng, n, -1.f, 1.f);
        const std::vector<float> weight = random_floats(rng, H, -1.5f, 1.5f);
        // Row 2 sums to exactly zero: the norm is then x * 1/sqrt(eps) = 0, not NaN.
        for (int i = 0; i < H; ++i) {
          x[2 * static_cast<size_t>(H) + i] = with_delta ? 0.75f : 0.f;
          delta[2 * static_cast<size_t>(H) + i] = -0.75f;
        }
        // Row 4 is large, to catch a reduction that loses partial sums.
        for (int i = 0; i < H; ++i) x[4 * static_cast<size_t>(H) + i] *= 40.f;

        std::vector<float> x_new = x;
        if (with_delta)
          for (size_t i = 0; i < n; ++i) x_new[i] = x[i] + delta[i];  // one f32 add, as on device

        DeviceBuffer<float> d_x(x), d_delta(delta), d_w(weight);
        DeviceBuffer<uint8_t> d_out(n * dtype_bytes(d));
        precis::cuda::add_rms_norm(d_x.get(), with_delta ? d_delta.get() : nullptr, d_w.get(), T, H,
                                   eps, d_out.get(), d, nullptr);
        const std::vector<float> x_after = d_x.download();
        const std::vector<float> out = decode(d_out.download(), d);

        // The residual add is a single rounding on both sides: bit-exact.
        CHECK(std::memcmp(x_after.data(), x_new.data(), n * sizeof(float)) == 0);

        std::vector<double> want(n);
        for (int t = 0; t < T; ++t) {
          const float* xr = x_new.data() + static_cast<size_t>(t) * H;
          double ss = 0.0;
          for (int i = 0; i < H; ++i) ss += static_cast<double>(xr[i]) * xr[i];
          const double inv = 1.0 / std::sqrt(ss / H + static_cast<double>(eps));
          for (int i = 0; i < H; ++i)
            want[static_cast<size_t>(t) * H + i] = static_cast<double>(xr[i]) * inv * weight[i];
        }
        // The kernel rounds the scale to f32 and does two f32 multiplies (<= 3 ulp, ~2e-7);
        // out_rel_tol adds the output dtype's rounding.
        expect_close(out, want, rel_tol(want, out_rel_tol(d), out_abs_tol(d)), "rms_norm");

        if (d == DType::f32) {
          // Same arithmetic as engine::cpu::rms_norm (double sum of squares, f32 scale); only
          // the summation order differs, which moves the f32 scale by at most an ulp.
          precis::engine::TensorView wv;
          wv.name = "weight";
          wv.dtype = precis::engine::DType::F32;
          wv.shape = {H};
          wv.data = reinterpret_cast<const std::byte*>(weight.data());
          wv.nbytes = weight.size() * sizeof(float);
          std::vector<float> cpu(n);
          precis::engine::cpu::rms_norm(x_new.data(), T, H, wv, eps, cpu.data());
          std::vector<double> cpu_d(cpu.begin(), cpu.end());
          expect_close(out, cpu_d, rel_tol(cpu_d, 1e-6, 1e-30), "rms_norm vs cpu::rms_norm");
        }
      }
    }
  }
}

TEST_CASE("add_inplace adds exactly, including past one grid-stride sweep", "[gpu]") {
  std::mt19937 rng(303);
  // 4096 blocks x 256 threads = 1048576 per sweep; the last size needs two and a bit.
  for (int64_t n : {int64_t{1}, int64_t{100003}, int64_t{2 * 1048576 + 5}}) {
    INFO("n=" << n);
    const std::vector<float> x = random_floats(rng, n, -5.f, 5.f);
    const std::vector<float> delta = random_floats(rng, n, -5.f, 5.f);
    DeviceBuffer<float> d_x(x), d_delta(delta);
    precis::cuda::add_inplace(d_x.get(), d_delta.get(), n, nullptr);
    const std::vector<float> got = d_x.download();
    size_t bad = 0;
    for (int64_t i = 0; i < n; ++i) bad += got[i] != x[i] + delta[i];
    CHECK(bad == 0);
  }
}

TEST_CASE("gather_rows copies the selected rows", "[gpu]") {
  std::mt19937 rng(404);
  const int src_rows = 40, R = 13;
  for (int H : {1, 1000, 4097}) {
    INFO("H=" << H);
    const std::vector<float> src = random_floats(rng, static_cast<size_t>(src_rows) * H, -1, 1);
    std::vector<int> rows(R);
    std::uniform_int_distribution<int> pick(0, src_rows - 1);
    for (int& r : rows) r = pick(rng);
    rows[0] = src_rows - 1;
    rows[1] = 0;
    rows[5] = rows[6];
    DeviceBuffer<float> d_src(src), d_dst(static_cast<size_t>(R) * H);
    DeviceBuffer<int> d_rows(rows);
    precis::cuda::gather_rows(d_src.get(), d_rows.get(), R, H, d_dst.get(), nullptr);
    const std::vector<float> got = d_dst.download();
    size_t bad = 0;
    for (int r = 0; r < R; ++r)
      for (int i = 0; i < H; ++i)
        bad += got[static_cast<size_t>(r) * H + i] != src[static_cast<size_t>(rows[r]) * H + i];
    CHECK(bad == 0);
  }
}

TEST_CASE("silu_mul matches g / (1 + exp(-g)) * u in every output dtype", "[gpu]") {
  std::mt19937 rng(505);
  const int T = 3;
  for (int I : {1, 1000, 4099}) {
    for (DType d : kAllDTypes) {
      INFO("I=" << I << " out=" << dtype_str(d));
      std::vector<float> gate_up = random_floats(rng, static_cast<size_t>(T) * 2 * I, -12, 12);
      for (int t = 0; t < T; ++t)
        for (int i = I; i < 2 * I; ++i) gate_up[static_cast<size_t>(t) * 2 * I + i] /= 4.f;
      // Saturation: exp(-g) overflows f32 for g < -88.7 (result a signed zero), is 0 for large g.
      const float specials[] = {0.f, -100.f, 100.f, -88.f, -90.f, 30.f, -1e-20f};
      for (int k = 0; k < 7 && k < I; ++k) gate_up[k] = specials[k];

      std::vector<double> want(static_cast<size_t>(T) * I);
      for (int t = 0; t < T; ++t)
        for (int i = 0; i < I; ++i) {
          const double g = gate_up[static_cast<size_t>(t) * 2 * I + i];
          const double u = gate_up[static_cast<size_t>(t) * 2 * I + I + i];
          want[static_cast<size_t>(t) * I + i] = g / (1.0 + std::exp(-g)) * u;
        }

      DeviceBuffer<float> d_in(gate_up);
      DeviceBuffer<uint8_t> d_out(want.size() * dtype_bytes(d));
      precis::cuda::silu_mul(d_in.get(), T, I, d_out.get(), d, nullptr);
      const std::vector<float> got = decode(d_out.download(), d);
      // f32: expf is within 2 ulp and add, divide and multiply round once each (no
      // cancellation: 1 + exp(-g) > 1), so ~5 ulp ~ 3e-7 relative; out_rel_tol allows 2e-6
      // and adds the f16/bf16 rounding. Results below 1e-30 only occur where exp overflows.
      expect_close(got, want, rel_tol(want, out_rel_tol(d), out_abs_tol(d)), "silu_mul");
    }
  }
}

namespace {

struct RopeCase {
  int head_dim, n_heads, n_kv_heads;
};

std::vector<double> rope_inv_freq(int head_dim) {
  std::vector<double> f(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) f[i] = 1.0 / std::pow(10000.0, 2.0 * i / head_dim);
  return f;
}

}  // namespace

TEST_CASE("rope_and_store_kv rotates q and k and stores k, v at their slots", "[gpu]") {
  std::mt19937 rng(606);
  const int T = 9, block_size = 16, num_blocks = 8;
  const uint16_t sentinel = 0x5a5a;  // f16 ~203: no rotated input in [-2, 2] can produce it
  // GQA ratios 1, 4 and 8, with one and with several kv heads.
  const RopeCase cases[] = {{64, 3, 3},  {64, 8, 2},  {64, 8, 1},  {128, 3, 3},
                            {128, 8, 2}, {128, 8, 1}, {128, 16, 2}};
  for (const RopeCase& c : cases) {
    const int hd = c.head_dim, half = hd / 2, nh = c.n_heads, nkv = c.n_kv_heads;
    INFO("head_dim=" << hd << " n_heads=" << nh << " n_kv_heads=" << nkv);
    const int width = (nh + 2 * nkv) * hd;
    const std::vector<float> qkv = random_floats(rng, static_cast<size_t>(T) * width, -2, 2);
    std::vector<int> pos(T);
    std::uniform_int_distribution<int> pick_pos(0, 5000);
    for (int& p : pos) p = pick_pos(rng);
    pos[0] = 0;  // identity rotation
    pos[1] = 1;
    // Distinct, scattered slots across all blocks.
    std::vector<int> all_slots(num_blocks * block_size);
    std::iota(all_slots.begin(), all_slots.end(), 0);
    std::shuffle(all_slots.begin(), all_slots.end(), rng);
    std::vector<int> slots(all_slots.begin(), all_slots.begin() + T);
    const int last_slot = num_blocks * block_size - 1;  // the cache's very last element
    if (std::find(slots.begin(), slots.end(), last_slot) == slots.end()) slots[2] = last_slot;
    const std::vector<double> inv_freq = rope_inv_freq(hd);
    const size_t cache_elems = static_cast<size_t>(num_blocks) * nkv * block_size * hd;

    DeviceBuffer<float> d_qkv(qkv);
    DeviceBuffer<int> d_pos(pos), d_slots(slots);
    DeviceBuffer<double> d_inv_freq(inv_freq);
    DeviceBuffer<uint16_t> d_k(std::vector<uint16_t>(cache_elems, sentinel));
    DeviceBuffer<uint16_t> d_v(std::vector<uint16_t>(cache_elems, sentinel));
    precis::cuda::rope_and_store_kv(d_qkv.get(), d_pos.get(), d_slots.get(), T, nh, nkv, hd,
                                    d_inv_freq.get(), reinterpret_cast<__half*>(d_k.get()),
                                    reinterpret_cast<__half*>(d_v.get()), block_size, nullptr);
    const std::vector<float> got = d_qkv.download();
    const std::vector<uint16_t> k_cache = d_k.download(), v_cache = d_v.download();

    // Reference rotation in double; `scale` is |a| + |b| of the pair, which bounds the error of
    // the kernel's f32 cos/sin (half an ulp, 2^-25 absolute) and its f32 products and sum.
    std::vector<double> want(got.size()), scale(got.size(), 0.0);
    for (size_t i = 0; i < got.size(); ++i) want[i] = qkv[i];
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < nh + nkv; ++h)
        for (int i = 0; i < half; ++i) {
          const size_t base = static_cast<size_t>(t) * width + static_cast<size_t>(h) * hd;
          const double a = qkv[base + i], b = qkv[base + i + half];
          const double angle = pos[t] * inv_freq[i];
          want[base + i] = a * std::cos(angle) - b * std::sin(angle);
          want[base + i + half] = b * std::cos(angle) + a * std::sin(angle);
          scale[base + i] = scale[base + i + half] = std::fabs(a) + std::fabs(b);
        }
    // q and k are rotated in place within a few f32 ulp of |a| + |b|; v is left as it was.
    expect_close(
        got, want, [&](size_t i) { return 1e-6 * scale[i] + 1e-12; }, "qkv");
    for (int t = 0; t < T; ++t)
      for (int j = (nh + nkv) * hd; j < width; ++j) {
        const size_t i = static_cast<size_t>(t) * width + j;
        if (got[i] != qkv[i]) FAIL("v changed in qkv at row " << t << " column " << j);
      }

    // Cache: k within f16 rounding (2^-11 relative) of the reference rotation, v exactly the
    // round-to-nearest f16 of its input, everything else still the sentinel.
    std::vector<char> written(cache_elems, 0);
    std::vector<float> k_got;
    std::vector<double> k_want, k_scale;
    size_t v_bad = 0;
    for (int t = 0; t < T; ++t) {
      const int block = slots[t] / block_size, offset = slots[t] % block_size;
      for (int g = 0; g < nkv; ++g)
        for (int dd = 0; dd < hd; ++dd) {
          const size_t ci =
              ((static_cast<size_t>(block) * nkv + g) * block_size + offset) * hd + dd;
          written[ci] = 1;
          const size_t ki = static_cast<size_t>(t) * width + static_cast<size_t>(nh + g) * hd + dd;
          k_got.push_back(precis::engine::f16_to_f32(k_cache[ci]));
          k_want.push_back(want[ki]);
          k_scale.push_back(scale[ki]);
          const size_t vi = ki + static_cast<size_t>(nkv) * hd;
          v_bad += v_cache[ci] != precis::engine::f32_to_f16(qkv[vi]);
        }
    }
    expect_close(
        k_got, k_want,
        [&](size_t i) { return 1e-3 * std::fabs(k_want[i]) + 1e-6 * k_scale[i] + 1e-7; },
        "k cache");
    CHECK(v_bad == 0);
    size_t clobbered = 0;
    for (size_t i = 0; i < cache_elems; ++i)
      if (!written[i]) clobbered += (k_cache[i] != sentinel) + (v_cache[i] != sentinel);
    CHECK(clobbered == 0);
  }
}

TEST_CASE("rope_and_store_kv skips the cache store for a negative slot", "[gpu]") {
  const int hd = 64, nh = 4, nkv = 2, block_size = 16, num_blocks = 2, T = 2;
  const int width = (nh + 2 * nkv) * hd;
  std::mt19937 rng(707);
  const std::vector<float> qkv = random_floats(rng, static_cast<size_t>(T) * width, -2, 2);
  const std::vector<int> pos = {0, 0}, slots = {-1, 5};
  const size_t cache_elems = static_cast<size_t>(num_blocks) * nkv * block_size * hd;
  DeviceBuffer<float> d_qkv(qkv);
  DeviceBuffer<int> d_pos(pos), d_slots(slots);
  DeviceBuffer<double> d_inv_freq(rope_inv_freq(hd));
  DeviceBuffer<uint16_t> d_k(std::vector<uint16_t>(cache_elems, 0x5a5a));
  DeviceBuffer<uint16_t> d_v(std::vector<uint16_t>(cache_elems, 0x5a5a));
  precis::cuda::rope_and_store_kv(d_qkv.get(), d_pos.get(), d_slots.get(), T, nh, nkv, hd,
                                  d_inv_freq.get(), reinterpret_cast<__half*>(d_k.get()),
                                  reinterpret_cast<__half*>(d_v.get()), block_size, nullptr);
  const std::vector<uint16_t> k = d_k.download(), v = d_v.download();
  // Only row 1's slot 5 (block 0, offset 5) is written, for both kv heads.
  size_t unexpected = 0;
  for (size_t i = 0; i < cache_elems; ++i) {
    const size_t offset = (i / hd) % block_size,
                 block = i / (static_cast<size_t>(nkv) * block_size * hd);
    const bool should_write = block == 0 && offset == 5;
    unexpected += (k[i] != 0x5a5a) != should_write;
    unexpected += (v[i] != 0x5a5a) != should_write;
  }
  CHECK(unexpected == 0);
  // Position 0 is the identity rotation, so q and k come back unchanged for both rows.
  CHECK(d_qkv.download() == qkv);
}

TEST_CASE("copy_kv_blocks copies whole blocks in every layer and nothing else", "[gpu]") {
  std::mt19937 rng(808);
  const int num_layers = 2, num_blocks = 12;
  const std::vector<int> src = {1, 4, 9, 6}, dst = {0, 7, 10, 3};
  struct Case {
    int n_kv_heads, block_size, head_dim;
    int misalign;  // halves by which the cache bases are offset: forces the scalar path
  };
  const Case cases[] = {{2, 16, 64, 0}, {1, 3, 5, 0}, {2, 16, 64, 1}};
  for (const Case& c : cases) {
    const int64_t block_elems = static_cast<int64_t>(c.n_kv_heads) * c.block_size * c.head_dim;
    const int64_t layer_stride = num_blocks * block_elems;
    const size_t total = static_cast<size_t>(num_layers * layer_stride + c.misalign);
    INFO("block_elems=" << block_elems << " misalign=" << c.misalign);
    std::vector<uint16_t> k(total), v(total);
    for (auto& e : k) e = static_cast<uint16_t>(rng());
    for (auto& e : v) e = static_cast<uint16_t>(rng());
    std::vector<uint16_t> k_want = k, v_want = v;
    for (size_t p = 0; p < src.size(); ++p)
      for (int l = 0; l < num_layers; ++l)
        for (int64_t e = 0; e < block_elems; ++e) {
          const size_t from = c.misalign + l * layer_stride + src[p] * block_elems + e;
          const size_t to = c.misalign + l * layer_stride + dst[p] * block_elems + e;
          k_want[to] = k[from];
          v_want[to] = v[from];
        }

    DeviceBuffer<uint16_t> d_k(k), d_v(v);
    DeviceBuffer<int> d_src(src), d_dst(dst);
    __half* kp = reinterpret_cast<__half*>(d_k.get()) + c.misalign;
    __half* vp = reinterpret_cast<__half*>(d_v.get()) + c.misalign;
    precis::cuda::copy_kv_blocks(kp, vp, d_src.get(), d_dst.get(), static_cast<int>(src.size()),
                                 num_layers, block_elems, layer_stride, nullptr);
    CHECK(d_k.download() == k_want);
    CHECK(d_v.download() == v_want);

    // n = 0 launches nothing.
    precis::cuda::copy_kv_blocks(kp, vp, d_src.get(), d_dst.get(), 0, num_layers, block_elems,
                                 layer_stride, nullptr);
    CHECK(d_k.download() == k_want);
  }
}

TEST_CASE("elementwise launchers reject bad arguments and accept empty batches", "[gpu]") {
  namespace pc = precis::cuda;
  float* f = nullptr;
  int* ip = nullptr;
  __half* hp = nullptr;
  CHECK_THROWS_AS(pc::embedding_gather(f, DType::f32, ip, 1, 0, f, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(pc::embedding_gather(f, DType::f32, ip, -1, 8, f, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::add_rms_norm(f, f, f, 1, 0, 1e-6f, f, DType::f32, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::add_inplace(f, f, -1, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(pc::gather_rows(f, ip, 1, 0, f, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(pc::silu_mul(f, 1, 0, f, DType::f16, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(pc::rope_and_store_kv(f, ip, ip, 1, 4, 2, 63, nullptr, hp, hp, 16, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::rope_and_store_kv(f, ip, ip, 1, 4, 0, 64, nullptr, hp, hp, 16, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::rope_and_store_kv(f, ip, ip, 1, 4, 2, 64, nullptr, hp, hp, 0, nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::copy_kv_blocks(hp, hp, ip, ip, 1, 2, 0, 16, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(pc::copy_kv_blocks(hp, hp, ip, ip, 1, 0, 16, 16, nullptr), std::invalid_argument);
  // Zero rows: no launch (a zero-sized grid would be a launch error), so null pointers are fine.
  CHECK_NOTHROW(pc::embedding_gather(f, DType::bf16, ip, 0, 8, f, nullptr));
  CHECK_NOTHROW(pc::add_rms_norm(f, nullptr, f, 0, 8, 1e-6f, f, DType::f16, nullptr));
  CHECK_NOTHROW(pc::add_inplace(f, f, 0, nullptr));
  CHECK_NOTHROW(pc::gather_rows(f, ip, 0, 8, f, nullptr));
  CHECK_NOTHROW(pc::silu_mul(f, 0, 8, f, DType::bf16, nullptr));
  CHECK_NOTHROW(pc::rope_and_store_kv(f, ip, ip, 0, 4, 2, 64, nullptr, hp, hp, 16, nullptr));
  CHECK_NOTHROW(device_sync());
}
