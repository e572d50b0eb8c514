// Device-side decoding of ggml's quantized blocks (layouts: engine/quant.hpp), eight consecutive
// elements at a time: every type's scale (and offset) is constant over such a run, so a thread
// decodes it once and then reads eight values. Values are computed in the order ggml's
// dequantize_row_* uses (d * scale first, then times q, minus d_min * min), so they match
// engine::dequantize_row up to the fused multiply-adds nvcc may form.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/kernels/quant_kernels.hpp"

namespace precis::cuda {

template <QuantType Q>
struct QuantTraits;
template <>
struct QuantTraits<QuantType::q8_0> {
  static constexpr int elems = 32, bytes = 34;
};
template <>
struct QuantTraits<QuantType::q4_0> {
  static constexpr int elems = 32, bytes = 18;
};
template <>
struct QuantTraits<QuantType::q4_1> {
  static constexpr int elems = 32, bytes = 20;
};
template <>
struct QuantTraits<QuantType::q5_0> {
  static constexpr int elems = 32, bytes = 22;
};
template <>
struct QuantTraits<QuantType::q5_1> {
  static constexpr int elems = 32, bytes = 24;
};
template <>
struct QuantTraits<QuantType::q4_k> {
  static constexpr int elems = 256, bytes = 144;
};
template <>
struct QuantTraits<QuantType::q5_k> {
  static constexpr int elems = 256, bytes = 176;
};
template <>
struct QuantTraits<QuantType::q6_k> {
  static constexpr int elems = 256, bytes = 210;
};

// Blocks are 2-byte aligned (every block size is even), so f16 fields load as one 16-bit word.
__device__ __forceinline__ float load_f16(const uint8_t* p) {
  return __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(p)));
}

// 6-bit scale and min of sub-block j of q4_K/q5_K (ggml's get_scale_min_k4).
__device__ __forceinline__ void k4_scale_min(int j, const uint8_t* s, int& sc, int& mn) {
  if (j < 4) {
    sc = s[j] & 63;
    mn = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Eight consecutive bytes from an even address (every field the decoder reads is 2-byte
// aligned: block sizes are even and so are the offsets of their fields), as four 16-bit loads
// rather than eight byte loads.
struct Bytes8 {
  unsigned short w[4];
  __device__ __forceinline__ int operator[](int i) const {
    return (w[i >> 1] >> ((i & 1) * 8)) & 0xFF;
  }
};
__device__ __forceinline__ Bytes8 load_bytes8(const uint8_t* p) {
  const auto* s = reinterpret_cast<const unsigned short*>(p);
  return Bytes8{{s[0], s[1], s[2], s[3]}};
}

// out[0, 8) = elements [e0, e0 + 8) of a row whose blocks start at `row`; e0 a multiple of 8, so
// the eight share one block, one scale (and offset) and, for the 4-bit types, one nibble half.
// Eight per thread keeps a warp's loads contiguous (a warp decodes 256 consecutive elements).
template <QuantType Q>
__device__ __forceinline__ void dequant8(const uint8_t* row, int e0, float out[8]) {
  constexpr int QK = QuantTraits<Q>::elems, BB = QuantTraits<Q>::bytes;
  const uint8_t* b = row + static_cast<int64_t>(e0 / QK) * BB;
  const int o = e0 % QK;  // offset in the block
  if constexpr (Q == QuantType::q8_0) {
    const float d = load_f16(b);
    const Bytes8 q = load_bytes8(b + 2 + o);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = d * static_cast<int8_t>(q[i]);
  } else if constexpr (Q == QuantType::q4_0 || Q == QuantType::q4_1) {
    // Byte l of qs holds element l in its low nibble and element l + 16 in its high one.
    const bool has_min = Q == QuantType::q4_1;
    const float d = load_f16(b);
    const float m = has_min ? load_f16(b + 2) : 0.f;
    const Bytes8 qs = load_bytes8(b + (has_min ? 4 : 2) + (o & 15));
    const int shift = (o >> 4) << 2;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int q = (qs[i] >> shift) & 0xF;
      out[i] = has_min ? q * d + m : (q - 8) * d;
    }
  } else if constexpr (Q == QuantType::q5_0 || Q == QuantType::q5_1) {
    // As q4_x, plus bit e of the 32-bit qh as each element's fifth bit.
    const bool has_min = Q == QuantType::q5_1;
    const float d = load_f16(b);
    const float m = has_min ? load_f16(b + 2) : 0.f;
    const uint8_t* qhp = b + (has_min ? 4 : 2);
    const auto* qh16 = reinterpret_cast<const unsigned short*>(qhp);
    const uint32_t qh = qh16[0] | (static_cast<uint32_t>(qh16[1]) << 16);
    const Bytes8 qs = load_bytes8(qhp + 4 + (o & 15));
    const int shift = (o >> 4) << 2;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int q = ((qs[i] >> shift) & 0xF) | (((qh >> (o + i)) & 1) << 4);
      out[i] = has_min ? q * d + m : (q - 16) * d;
    }
  } else if constexpr (Q == QuantType::q4_k || Q == QuantType::q5_k) {
    // Sub-block j of 32 elements: 6-bit scale and min; its nibbles are in the 32 bytes j / 2,
    // low nibbles for even j. q5_K adds bit j of qh[l] as the fifth bit.
    const int j = o / 32, l = o % 32;
    const float d = load_f16(b), dmin = load_f16(b + 2);
    int sc, mn;
    k4_scale_min(j, b + 4, sc, mn);
    const float d1 = d * sc, m1 = dmin * mn;
    const bool five = Q == QuantType::q5_k;
    const Bytes8 qs = load_bytes8(b + (five ? 48 : 16) + 32 * (j / 2) + l);
    const int shift = (j % 2) * 4;
    Bytes8 qh{};
    if (five) qh = load_bytes8(b + 16 + l);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      int q = (qs[i] >> shift) & 0xF;
      if (five) q |= ((qh[i] >> j) & 1) << 4;
      out[i] = d1 * q - m1;
    }
  } else {  // q6_K: element 32 j + l with j = 4 h + k; low 4 bits in ql, high 2 in qh
    const int j = o / 32, l = o % 32, h = j / 4, k = j % 4;
    const Bytes8 lo = load_bytes8(b + 64 * h + 32 * (k % 2) + l);
    const Bytes8 hi = load_bytes8(b + 128 + 32 * h + l);
    const int lo_shift = k < 2 ? 0 : 4;
    // One scale per 16 elements; the eight lie in one such half.
    const float ds = load_f16(b + 208) * reinterpret_cast<const int8_t*>(b + 192)[2 * j + l / 16];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int q = (((lo[i] >> lo_shift) & 0xF) | (((hi[i] >> (2 * k)) & 3) << 4)) - 32;
      out[i] = ds * q;
    }
  }
}

// Calls f.template operator()<Q>() with Q == t.
template <typename F>
void dispatch_quant(QuantType t, F&& f) {
  switch (t) {
    case QuantType::q8_0:
      f.template operator()<QuantType::q8_0>();
      break;
    case QuantType::q4_0:
      f.template operator()<QuantType::q4_0>();
      break;
    case QuantType::q4_1:
      f.template operator()<QuantType::q4_1>();
      break;
    case QuantType::q5_0:
      f.template operator()<QuantType::q5_0>();
      break;
    case QuantType::q5_1:
      f.template operator()<QuantType::q5_1>();
      break;
    case QuantType::q4_k:
      f.template operator()<QuantType::q4_k>();
      break;
    case QuantType::q5_k:
      f.template operator()<QuantType::q5_k>();
      break;
    case QuantType::q6_k:
      f.template operator()<QuantType::q6_k>();
      break;
  }
}

}  // namespace precis::cuda
