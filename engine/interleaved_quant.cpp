#include "engine/interleaved_quant.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/aligned_allocator.hpp"
#include "engine/dtype.hpp"
#include "engine/quant.hpp"
#include "engine/safetensors.hpp"
#include "engine/thread_pool.hpp"

namespace precis::engine {

namespace {

constexpr size_t kAlign = kCacheLine;  // each section starts on a cache line

size_t align_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

// One row decoded into codes and per-block scales and mins, each scale or min as the raw bits
// the repacked matrix stores (f16 bits, or the K types' 8-bit integers), and the K types'
// per-super-block d and dmin (f16 bits).
struct DecodedRow {
  std::vector<uint8_t> codes;     // K
  std::vector<uint32_t> scales;   // nb * scales_per_block
  std::vector<uint32_t> mins;     // nb (types with a min)
  std::vector<uint16_t> d, dmin;  // nb / 8 (K types)
};

// Element j of a q4_0/q4_1/q5 block's low 4 bits.
uint8_t nibble(const uint8_t* qs, int j) {
  return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4;
}

uint8_t fifth_bit(const uint8_t* qh, int j) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  return static_cast<uint8_t>(((h >> j) & 1u) << 4);
}

void decode_q4_0(const void* row, int64_t nb, DecodedRow& out) {
  const auto* b = static_cast<const BlockQ4_0*>(row);
  for (int64_t i = 0; i < nb; ++i) {
    for (int j = 0; j < kQK; ++j) out.codes[i * kQK + j] = nibble(b[i].qs, j);
    out.scales[i] = b[i].d;
  }
}

void decode_q4_1(const void* row, int64_t nb, DecodedRow& out) {
  const auto* b = static_cast<const BlockQ4_1*>(row);
  for (int64_t i = 0; i < nb; ++i) {
    for (int j = 0; j < kQK; ++j) out.codes[i * kQK + j] = nibble(b[i].qs, j);
    out.scales[i] = b[i].d;
    out.mins[i] = b[i].m;
  }
}

void decode_q5_0(const void* row, int64_t nb, DecodedRow& out) {
  const auto* b = static_cast<const BlockQ5_0*>(row);
  for (int64_t i = 0; i < nb; ++i) {
    for (int j = 0; j < kQK; ++j)
      out.codes[i * kQK + j] = nibble(b[i].qs, j) | fifth_bit(b[i].qh, j);
    out.scales[i] = b[i].d;
  }
}

void decode_q5_1(const void* row, int64_t nb, DecodedRow& out) {
  const auto* b = static_cast<const BlockQ5_1*>(row);
  for (int64_t i = 0; i < nb; ++i) {
    for (int j = 0; j < kQK; ++j)
      out.codes[i * kQK + j] = nibble(b[i].qs, j) | fifth_bit(b[i].qh, j);
    out.scales[i] = b[i].d;
    out.mins[i] = b[i].m;
  }
}

void decode_q8_0(const void* row, int64_t nb, DecodedRow& out) {
  const auto* b = static_cast<const BlockQ8_0*>(row);
  for (int64_t i = 0; i < nb; ++i) {
    for (int j = 0; j < kQK; ++j) out.codes[i * kQK + j] = static_cast<uint8_t>(b[i].qs[j] + 128);
    out.scales[i] = b[i].d;
  }
}

// q4_K and q5_K: sub-block j of super-block s is block 8s + j, scale d * sc[j], min -dmin * mn[j]
// (as the reference dequantizer rounds them: exact products, and w = scale * q + min); sc and mn
// kept as the integers they are.
template <class B>
void decode_q45_k(const void* row, int64_t nb, DecodedRow& out) {
  const auto* b = static_cast<const B*>(row);
  for (int64_t s = 0; s < nb / 8; ++s) {
    out.d[s] = b[s].d;
    out.dmin[s] = b[s].dmin;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, mn;
      q4k_scale_min(j, b[s].scales, sc, mn);
      out.scales[s * 8 + j] = sc;
      out.mins[s * 8 + j] = mn;
      for (int l = 0; l < 32; ++l) {
        const uint8_t q = b[s].qs[32 * (j / 2) + l];
        uint8_t code = j % 2 ? q >> 4 : q & 0xF;
        if constexpr (std::is_same_v<B, BlockQ5_K>) code |= ((b[s].qh[l] >> j) & 1) << 4;
        out.codes[(s * 8 + j) * kQK + l] = code;
      }
    }
  }
}

// q6_K: element e = 128h + 32k + l; scale d * scales[e / 16] per 16 elements.
void decode_q6_k(const void* row, int64_t nb, DecodedRow& out) {
  const auto* b = static_cast<const BlockQ6_K*>(row);
  for (int64_t s = 0; s < nb / 8; ++s) {
    out.d[s] = b[s].d;
    for (int g = 0; g < 16; ++g) out.scales[s * 16 + g] = static_cast<uint8_t>(b[s].scales[g]);
    for (int e = 0; e < kQKK; ++e) {
      const int h = e / 128, k = (e % 128) / 32, l = e % 32;
      const uint8_t lo = b[s].ql[64 * h + 32 * (k % 2) + l];
      const uint8_t low4 = k < 2 ? lo & 0xF : lo >> 4;
      const uint8_t high2 = (b[s].qh[32 * h + l] >> (2 * k)) & 3;
      out.codes[s * kQKK + e] = static_cast<uint8_t>(low4 | (high2 << 4));
    }
  }
}

using Decoder = void (*)(const void*, int64_t, DecodedRow&);

Decoder decoder_for(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0:
      return decode_q4_0;
    case GgmlType::Q4_1:
      return decode_q4_1;
    case GgmlType::Q5_0:
      return decode_q5_0;
    case GgmlType::Q5_1:
      return decode_q5_1;
    case GgmlType::Q8_0:
      return decode_q8_0;
    case GgmlType::Q4_K:
      return decode_q45_k<BlockQ4_K>;
    case GgmlType::Q5_K:
      return decode_q45_k<BlockQ5_K>;
    case GgmlType::Q6_K:
      return decode_q6_k;
    default:
      return nullptr;
  }
}

// The low `bytes` bytes of bits (little-endian, as every target of these kernels is).
void store_value(std::byte* at, uint32_t bits, size_t bytes) {
  std::memcpy(at, &bits, bytes);
}

// Writes row r (of 16) of a group from its decoded form.
void pack_row(const InterleavedMatrix& m, const DecodedRow& d, int r, std::byte* group) {
  const InterleavedFormat& f = m.format;
  const size_t sb = m.scale_bytes();
  for (int64_t b = 0; b < m.nb; ++b) {
    auto* codes = reinterpret_cast<uint8_t*>(group + m.codes_offset(b));
    const uint8_t* c = d.codes.data() + b * kQK;
    if (f.nibbles) {
      for (int p = 0; p < 4; ++p)
        for (int i = 0; i < 4; ++i)
          codes[64 * p + 4 * r + i] =
              static_cast<uint8_t>((c[4 * p + i] & 0xF) | ((c[16 + 4 * p + i] & 0xF) << 4));
      if (const int hb = f.high_bits; hb > 0) {
        for (int ch = 0; ch < 8; ++ch)
          for (int i = 0; i < 4; ++i)
            codes[interleaved_plane_offset(hb, ch) + 4 * r + i] |= static_cast<uint8_t>(
                ((c[4 * ch + i] >> 4) & ((1 << hb) - 1)) << interleaved_plane_shift(hb, ch));
      }
    } else {
      for (int ch = 0; ch < 8; ++ch)
        for (int i = 0; i < 4; ++i) codes[64 * ch + 4 * r + i] = c[4 * ch + i];
    }
    for (int h = 0; h < f.scales_per_block; ++h)
      store_value(group + m.scales_offset(b) + (h * kInterleaveRows + r) * sb,
                  d.scales[b * f.scales_per_block + h], sb);
    if (f.has_min) store_value(group + m.mins_offset(b) + r * sb, d.mins[b], sb);
    if (f.k_scales && b % 8 == 0) {
      std::byte* header = group + m.unit_offset(b);
      store_value(header + r * 2, d.d[b / 8], 2);
      if (f.has_min) store_value(header + 32 + r * 2, d.dmin[b / 8], 2);
    }
  }
}

}  // namespace

std::optional<InterleavedFormat> interleaved_format(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0:
      return InterleavedFormat{true, 0, 1, false, 8, false};
    case GgmlType::Q4_1:
      return InterleavedFormat{true, 0, 1, true, 0, false};
    case GgmlType::Q5_0:
      return InterleavedFormat{true, 1, 1, false, 16, false};
    case GgmlType::Q5_1:
      return InterleavedFormat{true, 1, 1, true, 0, false};
    case GgmlType::Q8_0:
      return InterleavedFormat{false, 0, 1, false, 128, false};
    case GgmlType::Q4_K:
      return InterleavedFormat{true, 0, 1, true, 0, true};
    case GgmlType::Q5_K:
      return InterleavedFormat{true, 1, 1, true, 0, true};
    case GgmlType::Q6_K:
      return InterleavedFormat{true, 2, 2, false, 32, true};
    default:
      return std::nullopt;
  }
}

std::optional<InterleavedMatrix> interleave_matrix(const TensorView& w, int N, int K) {
  if (!w.quant) return std::nullopt;
  const std::optional<InterleavedFormat> format = interleaved_format(*w.quant);
  if (!format || N <= 0 || N % kInterleaveRows != 0) return std::nullopt;
  const uint64_t row_bytes = quant_row_bytes(*w.quant, K);  // throws for a bad K
  if (w.nbytes < row_bytes * static_cast<uint64_t>(N))
    throw std::invalid_argument("interleave_matrix: " + w.name + " holds fewer than " +
                                std::to_string(N) + " rows");
  InterleavedMatrix m;
  m.source = *w.quant;
  m.format = *format;
  m.N = N;
  m.K = K;
  m.nb = K / kQK;
  m.code_bytes = interleaved_code_bytes(format->nibbles, format->high_bits);
  const size_t sb = m.scale_bytes();
  // A K type's unit is its super-block; the others pair blocks, so two blocks' f16 scales fill
  // one aligned line.
  m.unit_shift = format->k_scales ? 3 : (m.nb % 2 == 0 ? 1 : 0);
  const size_t ub = size_t{1} << m.unit_shift;
  m.codes_at = format->k_scales ? align_up(format->has_min ? 64 : 32) : 0;
  m.scales_at = m.codes_at + ub * m.code_bytes;
  m.mins_at = align_up(m.scales_at + ub * format->scales_per_block * kInterleaveRows * sb);
  m.unit_bytes = align_up(m.mins_at + (format->has_min ? ub * kInterleaveRows * sb : size_t{0}));
  m.group_bytes = m.unit_bytes * static_cast<size_t>(m.nb >> m.unit_shift);
  const size_t total = m.group_bytes * static_cast<size_t>(N / kInterleaveRows);
  auto* raw = static_cast<std::byte*>(std::aligned_alloc(kAlign, total));
  if (!raw) throw std::bad_alloc();
  m.data = {raw, [](std::byte* p) { std::free(p); }};
  std::memset(raw, 0, total);  // the padding between sections, so the bytes are deterministic

  const Decoder decode = decoder_for(*w.quant);
  parallel_for(N / kInterleaveRows, 1, [&](int begin, int end, int) {
    DecodedRow d;
    d.codes.resize(K);
    d.scales.resize(m.nb * format->scales_per_block);
    d.mins.resize(format->has_min ? m.nb : 0);
    d.d.resize(format->k_scales ? m.nb / 8 : 0);
    d.dmin.resize(d.d.size());
    for (int g = begin; g < end; ++g) {
      for (int r = 0; r < kInterleaveRows; ++r) {
        const int n = g * kInterleaveRows + r;
        decode(w.data + n * row_bytes, m.nb, d);
        pack_row(m, d, r, raw + static_cast<size_t>(g) * m.group_bytes);
      }
    }
  });
  return m;
}

float interleaved_scale(const InterleavedMatrix& m, const std::byte* group, int64_t b, int h,
                        int r) {
  const InterleavedFormat& f = m.format;
  const std::byte* at = group + m.scales_offset(b) + (h * kInterleaveRows + r) * m.scale_bytes();
  if (f.k_scales) {
    uint16_t d;
    std::memcpy(&d, group + m.unit_offset(b) + r * 2, 2);
    const auto q = static_cast<uint8_t>(*at);
    // q6_K's scales (the K type without a min) are signed, q4_K's and q5_K's not.
    const float sc = f.has_min ? static_cast<float>(q) : static_cast<float>(static_cast<int8_t>(q));
    return f16_to_f32(d) * sc;
  }
  uint16_t h16;
  std::memcpy(&h16, at, 2);
  return f16_to_f32(h16);
}

float interleaved_min(const InterleavedMatrix& m, const std::byte* group, int64_t b, int r) {
  const InterleavedFormat& f = m.format;
  const std::byte* at = group + m.mins_offset(b) + r * m.scale_bytes();
  if (f.k_scales) {
    uint16_t dmin;
    std::memcpy(&dmin, group + m.unit_offset(b) + 32 + r * 2, 2);
    return -(f16_to_f32(dmin) * static_cast<float>(static_cast<uint8_t>(*at)));
  }
  uint16_t h16;
  std::memcpy(&h16, at, 2);
  return f16_to_f32(h16);
}

int interleaved_code(const InterleavedMatrix& m, const std::byte* group, int64_t b, int r, int e) {
  const auto* codes = reinterpret_cast<const uint8_t*>(group + m.codes_offset(b));
  if (m.format.nibbles) {
    const uint8_t byte = codes[64 * ((e % 16) / 4) + 4 * r + e % 4];
    const int low = e < 16 ? byte & 0xF : byte >> 4;
    const int hb = m.format.high_bits;
    if (hb == 0) return low;
    const int ch = e / 4;
    const uint8_t plane = codes[interleaved_plane_offset(hb, ch) + 4 * r + e % 4];
    return low | (((plane >> interleaved_plane_shift(hb, ch)) & ((1 << hb) - 1)) << 4);
  }
  return codes[64 * (e / 4) + 4 * r + e % 4];
}

float interleaved_weight(const InterleavedMatrix& m, int n, int k) {
  const InterleavedFormat& f = m.format;
  const int r = n % kInterleaveRows;
  const int64_t b = k / kQK;
  const int e = k % kQK;
  const std::byte* g = m.group(n / kInterleaveRows);
  const int code = interleaved_code(m, g, b, r, e);
  const int h = f.scales_per_block == 2 ? e / 16 : 0;
  float w = interleaved_scale(m, g, b, h, r) * static_cast<float>(code - f.offset);
  if (f.has_min) w += interleaved_min(m, g, b, r);
  return w;
}

}  // namespace precis::engine
