// Quantized weight formats (engine/quant.hpp): ggml block layouts, their dequantizers, dot
// kernels and reference quantizers.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/dtype.hpp"
#include "engine/ggml_type.hpp"
#include "engine/quant.hpp"

using namespace precis::engine;

namespace {

const GgmlType kBlockTypes[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                                GgmlType::Q5_1, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                              GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
const GgmlType kQuantizable[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                                 GgmlType::Q5_1};

std::string name(GgmlType t) {
  return ggml_type_name(static_cast<uint32_t>(t));
}
int64_t block_elems(GgmlType t) {
  return ggml_type_info(t).block_elems;
}
size_t block_bytes(GgmlType t) {
  return ggml_type_info(t).block_bytes;
}

void put_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}

// Byte offsets of a block's f16 scale (first) and f16 min (second, -1 if none), from ggml-common.h
// rather than from the structs under test.
std::pair<int, int> f16_fields(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
      return {0, 2};
    case GgmlType::Q6_K:
      return {208, -1};
    default:
      return {0, -1};
  }
}

// A random row of n weights of type t: random bytes, with moderate f16 scales (and mins) so that
// no block dominates the dot products; plain types hold normal(0, 0.05) values.
std::vector<uint8_t> random_row(GgmlType t, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> row(quant_row_bytes(t, n));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.f, 0.05f);
  std::uniform_real_distribution<float> uni(0.f, 1.f);
  if (t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = normal(rng);
      if (t == GgmlType::F32) std::memcpy(row.data() + 4 * i, &v, 4);
      const uint16_t h = t == GgmlType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
      if (t != GgmlType::F32) std::memcpy(row.data() + 2 * i, &h, 2);
    }
    return row;
  }
  for (uint8_t& b : row) b = static_cast<uint8_t>(byte(rng));
  const auto [d_off, m_off] = f16_fields(t);
  const bool k_type = block_elems(t) == 256;
  for (size_t b = 0; b < row.size() / block_bytes(t); ++b) {
    uint8_t* blk = row.data() + b * block_bytes(t);
    const float sign = uni(rng) < 0.5f ? -1.f : 1.f;
    // A K type's d multiplies 6-bit (or int8) scales too.
    const float d = sign * (0.002f + 0.02f * uni(rng)) / (k_type ? 32.f : 1.f);
    put_f16(blk + d_off, d);
    if (m_off >= 0) put_f16(blk + m_off, k_type ? 0.001f * uni(rng) : 0.2f * uni(rng) - 0.1f);
  }
  return row;
}

std::vector<float> normal_vector(int64_t n, std::mt19937& rng, float sigma = 1.f) {
  std::normal_distribution<float> normal(0.f, sigma);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

std::vector<float> dequantized(GgmlType t, const std::vector<uint8_t>& row, int64_t n) {
  std::vector<float> w(n);
  dequantize_row(t, row.data(), w.data(), n);
  return w;
}

// sum w * x in double, and sum |w * x| (the scale the f32 rounding error is measured against).
std::pair<double, double> dot_double(const std::vector<float>& w, const float* x) {
  double s = 0, mag = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    s += static_cast<double>(w[i]) * x[i];
    mag += std::fabs(static_cast<double>(w[i]) * x[i]);
  }
  return {s, mag};
}

std::vector<int64_t> sizes_for(GgmlType t) {
  if (block_elems(t) == 1) return {1, 7, 13, 24, 40, 576, 4095};  // every vector tail
  if (block_elems(t) == 256) return {256, 512, 768, 1536, 4096};
  return {32, 64, 96, 288, 576, 1024, 1536, 4096};
}

// Packs eight 6-bit scales and mins the way ggml's q4_K/q5_K store them.
void pack_scale_min(const int sc[8], const int mn[8], uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
  }
}

// Compares a dequantized row with the expected values bit for bit, naming the first mismatch.
void require_same(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], 4) != 0) {
      INFO("element " << i);
      REQUIRE(got[i] == want[i]);
    }
  }
}

}  // namespace

TEST_CASE("quant: supported types, row sizes and argument checks", "[quant]") {
  for (GgmlType t : kAllTypes) CHECK(quant_supported(t));
  CHECK_FALSE(quant_supported(GgmlType::Q2_K));
  CHECK_FALSE(quant_supported(GgmlType::IQ4_NL));
  for (GgmlType t : kQuantizable) CHECK(quantize_supported(t));
  CHECK(quantize_supported(GgmlType::F16));
  CHECK_FALSE(quantize_supported(GgmlType::Q4_K));

  CHECK(quant_row_bytes(GgmlType::Q8_0, 64) == 68);
  CHECK(quant_row_bytes(GgmlType::Q4_0, 576) == 18 * 18);
  CHECK(quant_row_bytes(GgmlType::Q4_1, 576) == 18 * 20);
  CHECK(quant_row_bytes(GgmlType::Q5_0, 32) == 22);
  CHECK(quant_row_bytes(GgmlType::Q5_1, 32) == 24);
  CHECK(quant_row_bytes(GgmlType::Q4_K, 512) == 288);
  CHECK(quant_row_bytes(GgmlType::Q5_K, 256) == 176);
  CHECK(quant_row_bytes(GgmlType::Q6_K, 256) == 210);
  CHECK(quant_row_bytes(GgmlType::F16, 3) == 6);
  CHECK_THROWS_AS(quant_row_bytes(GgmlType::Q4_0, 33), std::invalid_argument);

  std::vector<float> f(512);
  std::vector<uint8_t> bytes(1024);
  CHECK_THROWS_AS(dequantize_row(GgmlType::Q4_K, bytes.data(), f.data(), 128),
                  std::invalid_argument);
  CHECK_THROWS_AS(dot_row(GgmlType::Q8_0, bytes.data(), f.data(), 31), std::invalid_argument);
  CHECK_THROWS_AS(dot_row(GgmlType::Q2_K, bytes.data(), f.data(), 256), std::invalid_argument);
  CHECK_THROWS_AS(quantize_row(GgmlType::Q6_K, f.data(), bytes.data(), 256), std::invalid_argument);
  CHECK_THROWS_AS(quantize_activations(f.data(), bytes.data(), 48), std::invalid_argument);
  CHECK_THROWS_AS(dot_row_q8(GgmlType::F16, bytes.data(), bytes.data(), 32), std::invalid_argument);
}

// ---- (a) hand-built blocks, expected values from the format definitions --------------------

TEST_CASE("quant: hand-built q8_0, q4_0, q4_1, q5_0, q5_1 blocks", "[quant]") {
  SECTION("q8_0: d * q") {
    uint8_t b[34];
    put_f16(b, 0.5f);
    for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(4 * j - 128));
    std::vector<float> want(32);
    for (int j = 0; j < 32; ++j) want[j] = 0.5f * static_cast<float>(4 * j - 128);
    std::vector<float> got(32);
    dequantize_row(GgmlType::Q8_0, b, got.data(), 32);
    require_same(got, want);
    CHECK(got[0] == -64.f);
    CHECK(got[31] == 0.5f * -4.f);
  }
  SECTION("q4_0: d * (q - 8), low nibbles are elements 0..15, high nibbles 16..31") {
    uint8_t b[18];
    put_f16(b, 2.f);
    for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    std::vector<float> want(32);
    for (int j = 0; j < 16; ++j) {
      want[j] = 2.f * static_cast<float>(j - 8);
      want[j + 16] = 2.f * static_cast<float>(15 - j - 8);
    }
    std::vector<float> got(32);
    dequantize_row(GgmlType::Q4_0, b, got.data(), 32);
    require_same(got, want);
    CHECK(got[0] == -16.f);
    CHECK(got[16] == 14.f);
  }
  SECTION("q4_1: d * q + m") {
    uint8_t b[20];
    put_f16(b, 0.25f);
    put_f16(b + 2, -1.5f);
    for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<uint8_t>(((3 * j) & 15) | ((j ^ 5) << 4));
    std::vector<float> want(32);
    for (int j = 0; j < 16; ++j) {
      want[j] = 0.25f * static_cast<float>((3 * j) & 15) - 1.5f;
      want[j + 16] = 0.25f * static_cast<float>(j ^ 5) - 1.5f;
    }
    std::vector<float> got(32);
    dequantize_row(GgmlType::Q4_1, b, got.data(), 32);
    require_same(got, want);
    CHECK(got[16] == 0.25f * 5 - 1.5f);
  }
  SECTION("q5_0 and q5_1: bit j of qh is bit 4 of element j") {
    const uint32_t qh = 0xA5C3F00Fu;
    uint8_t b0[22], b1[24];
    put_f16(b0, -0.75f);
    put_f16(b1, 0.125f);
    put_f16(b1 + 2, 3.f);
    for (int i = 0; i < 4; ++i) b0[2 + i] = b1[4 + i] = static_cast<uint8_t>(qh >> (8 * i));
    for (int j = 0; j < 16; ++j)
      b0[6 + j] = b1[8 + j] = static_cast<uint8_t>(((7 * j + 1) & 15) | ((j * j & 15) << 4));
    std::vector<float> want0(32), want1(32);
    for (int j = 0; j < 16; ++j) {
      const int lo = ((7 * j + 1) & 15) | (((qh >> j) & 1) << 4);
      const int hi = (j * j & 15) | (((qh >> (j + 16)) & 1) << 4);
      want0[j] = -0.75f * static_cast<float>(lo - 16);
      want0[j + 16] = -0.75f * static_cast<float>(hi - 16);
      want1[j] = 0.125f * static_cast<float>(lo) + 3.f;
      want1[j + 16] = 0.125f * static_cast<float>(hi) + 3.f;
    }
    std::vector<float> got(32);
    dequantize_row(GgmlType::Q5_0, b0, got.data(), 32);
    require_same(got, want0);
    dequantize_row(GgmlType::Q5_1, b1, got.data(), 32);
    require_same(got, want1);
  }
}

TEST_CASE("quant: hand-built q4_K, q5_K, q6_K super-blocks", "[quant]") {
  const int sc[8] = {1, 63, 17, 32, 5, 48, 33, 60};
  const int mn[8] = {0, 7, 63, 20, 41, 16, 2, 31};
  uint8_t packed[12];
  pack_scale_min(sc, mn, packed);
  for (int j = 0; j < 8; ++j) {
    uint8_t s, m;
    q4k_scale_min(j, packed, s, m);
    CHECK(s == sc[j]);
    CHECK(m == mn[j]);
  }
  const float d = 0.0625f, dmin = 0.03125f;
  uint8_t qs[128], qh[32];
  for (int i = 0; i < 128; ++i) qs[i] = static_cast<uint8_t>(i * 37 + 11);
  for (int i = 0; i < 32; ++i) qh[i] = static_cast<uint8_t>(i * 73 + 5);

  SECTION("q4_K: sub-block j of 32 is d * sc[j] * q - dmin * mn[j]") {
    uint8_t b[144];
    put_f16(b, d);
    put_f16(b + 2, dmin);
    std::memcpy(b + 4, packed, 12);
    std::memcpy(b + 16, qs, 128);
    // ggml's loop: each 32 bytes of qs give 64 elements, low nibbles first.
    std::vector<float> want;
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l)
        want.push_back(d * sc[2 * c] * (qs[32 * c + l] & 0xF) - dmin * mn[2 * c]);
      for (int l = 0; l < 32; ++l)
        want.push_back(d * sc[2 * c + 1] * (qs[32 * c + l] >> 4) - dmin * mn[2 * c + 1]);
    }
    std::vector<float> got(256);
    dequantize_row(GgmlType::Q4_K, b, got.data(), 256);
    require_same(got, want);
  }
  SECTION("q5_K: bit j of qh[l] adds 16 to element 32j + l") {
    uint8_t b[176];
    put_f16(b, d);
    put_f16(b + 2, dmin);
    std::memcpy(b + 4, packed, 12);
    std::memcpy(b + 16, qh, 32);
    std::memcpy(b + 48, qs, 128);
    std::vector<float> want;
    for (int c = 0; c < 4; ++c) {
      const int u1 = 1 << (2 * c), u2 = 2 << (2 * c);
      for (int l = 0; l < 32; ++l)
        want.push_back(d * sc[2 * c] * ((qs[32 * c + l] & 0xF) + (qh[l] & u1 ? 16 : 0)) -
                       dmin * mn[2 * c]);
      for (int l = 0; l < 32; ++l)
        want.push_back(d * sc[2 * c + 1] * ((qs[32 * c + l] >> 4) + (qh[l] & u2 ? 16 : 0)) -
                       dmin * mn[2 * c + 1]);
    }
    std::vector<float> got(256);
    dequantize_row(GgmlType::Q5_K, b, got.data(), 256);
    require_same(got, want);
  }
  SECTION("q6_K: d * scale[e / 16] * (q - 32), 4 low bits from ql, 2 high bits from qh") {
    uint8_t b[210];
    int8_t scales[16];
    for (int i = 0; i < 16; ++i) scales[i] = static_cast<int8_t>(i * 19 - 128);
    uint8_t ql[128], qh6[64];
    for (int i = 0; i < 128; ++i) ql[i] = static_cast<uint8_t>(i * 29 + 3);
    for (int i = 0; i < 64; ++i) qh6[i] = static_cast<uint8_t>(i * 53 + 9);
    std::memcpy(b, ql, 128);
    std::memcpy(b + 128, qh6, 64);
    std::memcpy(b + 192, scales, 16);
    put_f16(b + 208, -0.125f);
    // ggml's loop over two halves of 128.
    std::vector<float> want(256);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* L = ql + 64 * h;
      const uint8_t* H = qh6 + 32 * h;
      const int8_t* S = scales + 8 * h;
      float* y = want.data() + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((L[l] & 0xF) | ((H[l] & 3) << 4)) - 32;
        const int q2 = ((L[l + 32] & 0xF) | (((H[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32;
        y[l] = -0.125f * S[is] * q1;
        y[l + 32] = -0.125f * S[is + 2] * q2;
        y[l + 64] = -0.125f * S[is + 4] * q3;
        y[l + 96] = -0.125f * S[is + 6] * q4;
      }
    }
    std::vector<float> got(256);
    dequantize_row(GgmlType::Q6_K, b, got.data(), 256);
    require_same(got, want);
  }
}

// ---- (b) dot products against dequantize + double-precision dot ----------------------------

TEST_CASE("quant: dot_row matches dequantize-then-dot for every type and size", "[quant]") {
  std::mt19937 rng(1234);
  for (GgmlType t : kAllTypes) {
    for (int64_t n : sizes_for(t)) {
      for (int rep = 0; rep < 3; ++rep) {
        INFO(name(t) << " n=" << n << " rep " << rep);
        const auto row = random_row(t, n, rng);
        const auto x = normal_vector(n, rng);
        const auto w = dequantized(t, row, n);
        const auto [want, mag] = dot_double(w, x.data());
        const float fast = dot_row(t, row.data(), x.data(), n);
        const float scalar = dot_row_scalar(t, row.data(), x.data(), n);
        // f32 sums over at most a few hundred terms in sequence: well inside 3e-5 of sum|w x|.
        CHECK(std::fabs(fast - want) <= 3e-5 * mag);
        CHECK(std::fabs(scalar - want) <= 3e-5 * mag);
        CHECK(std::fabs(fast - scalar) <= 3e-5 * mag);
      }
    }
  }
}

TEST_CASE("quant: dot_row on full-range f16 scales stays finite and close", "[quant]") {
  // Random bytes everywhere, f16 fields included (finite only): extreme magnitudes mixed.
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> byte(0, 255);
  for (GgmlType t : kBlockTypes) {
    const int64_t n = 1024;
    std::vector<uint8_t> row(quant_row_bytes(t, n));
    for (uint8_t& b : row) b = static_cast<uint8_t>(byte(rng));
    const auto [d_off, m_off] = f16_fields(t);
    for (size_t b = 0; b < row.size(); b += block_bytes(t)) {
      for (int off : {d_off, m_off}) {
        if (off < 0) continue;
        if ((row[b + off + 1] & 0x7c) == 0x7c) row[b + off + 1] &= 0xbf;  // exponent 31 -> 15
      }
    }
    INFO(name(t));
    const auto x = normal_vector(n, rng);
    const auto w = dequantized(t, row, n);
    for (float v : w) REQUIRE(std::isfinite(v));
    const auto [want, mag] = dot_double(w, x.data());
    CHECK(std::fabs(dot_row(t, row.data(), x.data(), n) - want) <= 3e-5 * mag);
    CHECK(std::fabs(dot_row_scalar(t, row.data(), x.data(), n) - want) <= 3e-5 * mag);
  }
}

TEST_CASE("quant: int8 activations and dot_row_q8", "[quant]") {
  std::mt19937 rng(77);
  SECTION("quantize_activations: |x - d q| <= d / 2, s = d * sum(q)") {
    auto x = normal_vector(4096, rng, 3.f);
    std::fill(x.begin() + 64, x.begin() + 96, 0.f);  // an all-zero block: d = 0
    std::vector<BlockQ8A> xq(x.size() / 32);
    quantize_activations(x.data(), xq.data(), static_cast<int64_t>(x.size()));
    CHECK(q8_activation_bytes(4096) == xq.size() * sizeof(BlockQ8A));
    CHECK(xq[2].d == 0.f);
    for (size_t b = 0; b < xq.size(); ++b) {
      int sum = 0, amax = 0;
      for (int j = 0; j < 32; ++j) {
        const int q = xq[b].qs[j];
        sum += q;
        amax = std::max(amax, std::abs(q));
        REQUIRE(std::fabs(x[32 * b + j] - xq[b].d * q) <= 0.5001f * xq[b].d + 1e-30f);
      }
      CHECK(amax == (xq[b].d == 0.f ? 0 : 127));
      CHECK(xq[b].s == xq[b].d * static_cast<float>(sum));
    }
  }
  SECTION("dot_row_q8 = weights . dequantized activations, within float rounding") {
    for (GgmlType t : kBlockTypes) {
      for (int64_t n : sizes_for(t)) {
        INFO(name(t) << " n=" << n);
        const auto row = random_row(t, n, rng);
        const auto x = normal_vector(n, rng);
        std::vector<BlockQ8A> xq(n / 32);
        quantize_activations(x.data(), xq.data(), n);
        std::vector<float> xhat(n);
        for (int64_t i = 0; i < n; ++i) xhat[i] = xq[i / 32].d * xq[i / 32].qs[i % 32];
        const auto w = dequantized(t, row, n);
        const auto [want_hat, mag_hat] = dot_double(w, xhat.data());
        const float fast = dot_row_q8(t, row.data(), xq.data(), n);
        const float scalar = dot_row_q8_scalar(t, row.data(), xq.data(), n);
        CHECK(std::fabs(fast - want_hat) <= 3e-5 * mag_hat);
        CHECK(std::fabs(scalar - want_hat) <= 3e-5 * mag_hat);
        // Against the exact activations, the error is the activations' rounding at most.
        const auto [want, mag] = dot_double(w, x.data());
        double bound = 0;
        for (int64_t i = 0; i < n; ++i) bound += std::fabs(w[i]) * 0.5 * xq[i / 32].d;
        CHECK(std::fabs(fast - want) <= bound * 1.001 + 1e-4 * mag);
      }
    }
  }
}

// ---- (c) quantize -> dequantize ------------------------------------------------------------

TEST_CASE("quant: quantize_row error bounds and requantization", "[quant]") {
  std::mt19937 rng(5);
  const int64_t n = 8192;
  const auto x = normal_vector(n, rng);
  auto rms = [](const std::vector<float>& v) {
    double s = 0;
    for (float f : v) s += static_cast<double>(f) * f;
    return std::sqrt(s / static_cast<double>(v.size()));
  };
  const std::vector<float> u = [&] {
    std::vector<float> v(n);
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    for (float& f : v) f = uni(rng);
    return v;
  }();

  // RMS error / RMS. The rounding error's RMS is step / sqrt(12) with step = max|x| / 127 (q8_0),
  // max|x| / 8 (q4_0), (max - min) / 15 (q4_1), half that for q5. Over blocks of 32 gaussian
  // values max|x| is about 2.1 sigma: q8_0 0.48%, q4_0 7.6%, q4_1 7.3% (measured: 0.53%, 8.6%,
  // 7.8%); uniform values: q8_0 0.39%, q4_0 6.2%, q4_1 5.9% (measured 0.38%, 6.5%, 6.0%).
  struct Bound {
    GgmlType type;
    double gaussian, uniform;
  };
  const Bound bounds[] = {{GgmlType::Q8_0, 0.006, 0.004}, {GgmlType::Q4_0, 0.10, 0.07},
                          {GgmlType::Q4_1, 0.09, 0.065},  {GgmlType::Q5_0, 0.05, 0.035},
                          {GgmlType::Q5_1, 0.045, 0.032}, {GgmlType::F16, 3e-4, 3e-4},
                          {GgmlType::BF16, 3e-3, 3e-3}};
  for (const Bound& b : bounds) {
    const GgmlType t = b.type;
    for (const auto* data : {&x, &u}) {
      INFO(name(t) << (data == &x ? " gaussian" : " uniform"));
      std::vector<uint8_t> q(quant_row_bytes(t, n));
      quantize_row(t, data->data(), q.data(), n);
      const auto y = dequantized(t, q, n);
      std::vector<float> diff(n);
      for (int64_t i = 0; i < n; ++i) diff[i] = (*data)[i] - y[i];
      CHECK(rms(diff) / rms(*data) <= (data == &x ? b.gaussian : b.uniform));

      // Quantizing the dequantized values again gives back the same values: every dequantized
      // value is on the grid the second quantization picks (q8_0 and the symmetric types: bit
      // for bit; the affine types: to a rounding of d * q + m).
      std::vector<uint8_t> q2(q.size());
      quantize_row(t, y.data(), q2.data(), n);
      if (t == GgmlType::Q4_1 || t == GgmlType::Q5_1) {
        const auto y2 = dequantized(t, q2, n);
        for (int64_t i = 0; i < n; ++i)
          REQUIRE(std::fabs(y2[i] - y[i]) <= 1e-6f * (1 + std::fabs(y[i])));
      } else {
        CHECK(q2 == q);
      }
    }
  }

  SECTION("per-element error within one quantization step") {
    for (GgmlType t : kQuantizable) {
      INFO(name(t));
      std::vector<uint8_t> q(quant_row_bytes(t, n));
      quantize_row(t, x.data(), q.data(), n);
      const auto y = dequantized(t, q, n);
      for (int64_t b = 0; b < n / 32; ++b) {
        float lo = x[32 * b], hi = x[32 * b], amax = 0;
        for (int j = 0; j < 32; ++j) {
          lo = std::min(lo, x[32 * b + j]);
          hi = std::max(hi, x[32 * b + j]);
          amax = std::max(amax, std::fabs(x[32 * b + j]));
        }
        // The step, and how far the f16 rounding of d (and m) can move a value.
        float step = 0, f16_slack = 0;
        if (t == GgmlType::Q8_0) step = amax / 127, f16_slack = amax / 1024;
        if (t == GgmlType::Q4_0) step = amax / 8 * 2, f16_slack = amax / 1024;  // clamped end
        if (t == GgmlType::Q5_0) step = amax / 16 * 2, f16_slack = amax / 1024;
        if (t == GgmlType::Q4_1) step = (hi - lo) / 15, f16_slack = (amax + hi - lo) / 1024;
        if (t == GgmlType::Q5_1) step = (hi - lo) / 31, f16_slack = (amax + hi - lo) / 1024;
        for (int j = 0; j < 32; ++j)
          REQUIRE(std::fabs(x[32 * b + j] - y[32 * b + j]) <= 0.5f * step + f16_slack + 1e-7f);
      }
    }
  }

  SECTION("zeros and constant blocks") {
    // -127/64: a constant whose every scale (c/127, c/-8, c/-16, m = c) is exact in f16.
    const float c = -127.f / 64.f;
    std::vector<float> z(64, 0.f);
    std::fill(z.begin() + 32, z.end(), c);
    for (GgmlType t : kQuantizable) {
      INFO(name(t));
      std::vector<uint8_t> q(quant_row_bytes(t, 64));
      quantize_row(t, z.data(), q.data(), 64);
      const auto y = dequantized(t, q, 64);
      for (int j = 0; j < 32; ++j) CHECK(y[j] == 0.f);
      for (int j = 32; j < 64; ++j) CHECK(y[j] == c);
    }
  }
}

// ---- (d) golden data from the `gguf` Python package ----------------------------------------

namespace {

struct GoldenRecord {
  uint32_t kind;  // 0: dequantize, 1: quantize
  GgmlType type;
  uint32_t n;
  std::string label;
  std::vector<uint8_t> input, output;
};

std::vector<GoldenRecord> read_golden() {
  const std::string path = PRECIS_SOURCE_DIR "/tests/data/quant_golden.bin";
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  const std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)),
                                  std::istreambuf_iterator<char>());
  size_t pos = 0;
  auto bytes = [&](size_t k) {
    if (pos + k > data.size()) throw std::runtime_error(path + ": truncated");
    std::vector<uint8_t> out(data.begin() + pos, data.begin() + pos + k);
    pos += k;
    return out;
  };
  auto u32 = [&] {
    const auto b = bytes(4);
    uint32_t v;
    std::memcpy(&v, b.data(), 4);
    return v;
  };
  const auto magic = bytes(8);
  if (std::string(magic.begin(), magic.end()) != "PQGOLD01")
    throw std::runtime_error(path + ": bad magic");
  std::vector<GoldenRecord> records(u32());
  for (GoldenRecord& r : records) {
    r.kind = u32();
    r.type = static_cast<GgmlType>(u32());
    r.n = u32();
    const auto label = bytes(u32());
    r.label.assign(label.begin(), label.end());
    r.input = bytes(u32());
    r.output = bytes(u32());
  }
  if (pos != data.size()) throw std::runtime_error(path + ": trailing bytes");
  return records;
}

std::vector<float> as_floats(const std::vector<uint8_t>& b) {
  std::vector<float> f(b.size() / 4);
  std::memcpy(f.data(), b.data(), f.size() * 4);
  return f;
}

}  // namespace

TEST_CASE("quant: golden data from the gguf Python package", "[quant]") {
  const auto records = read_golden();
  int dequant = 0, quant = 0, real = 0;
  std::mt19937 rng(11);
  for (const GoldenRecord& r : records) {
    INFO(r.label << " (" << name(r.type) << ", " << r.n << " elements)");
    if (r.kind == 0) {
      ++dequant;
      REQUIRE(r.input.size() == quant_row_bytes(r.type, r.n));
      const auto want = as_floats(r.output);
      REQUIRE(want.size() == r.n);
      require_same(dequantized(r.type, r.input, r.n), want);
      if (r.label.find(".gguf") != std::string::npos) {
        // Real weights: the dot kernels against the reference values too.
        ++real;
        const auto x = normal_vector(r.n, rng);
        const auto [dot, mag] = dot_double(want, x.data());
        CHECK(std::fabs(dot_row(r.type, r.input.data(), x.data(), r.n) - dot) <= 3e-5 * mag);
        CHECK(std::fabs(dot_row_scalar(r.type, r.input.data(), x.data(), r.n) - dot) <= 3e-5 * mag);
      }
    } else {
      ++quant;
      const auto x = as_floats(r.input);
      REQUIRE(x.size() == r.n);
      std::vector<uint8_t> got(quant_row_bytes(r.type, r.n));
      quantize_row(r.type, x.data(), got.data(), r.n);
      REQUIRE(got.size() == r.output.size());
      for (size_t i = 0; i < got.size(); ++i) {
        INFO("byte " << i << " (block " << i / block_bytes(r.type) << ")");
        REQUIRE(static_cast<int>(got[i]) == static_cast<int>(r.output[i]));
      }
    }
  }
  CHECK(dequant >= 8);  // every block type
  CHECK(quant >= 25);   // five inputs x five types
  CHECK(real == 2);     // token_embd (q8_0) and blk.0.attn_q (q4_1) of the SmolLM2 GGUF
}
