// Device-side decoding of ggml's quantized blocks (layouts: engine/quant.hpp), one group of 32
// consecutive elements at a time: every type's scale (and offset) is constant over such a group,
// so a thread decodes it once and then reads 32 values. Values are computed in the order ggml's
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

// out[0, 32) = elements [32 g, 32 g + 32) of a row whose blocks start at `row`.
template <QuantType Q>
__device__ __forceinline__ void dequant_group(const uint8_t* row, int g, float out[32]) {
  constexpr int QK = QuantTraits<Q>::elems, BB = QuantTraits<Q>::bytes;
  constexpr int groups_per_block = QK / 32;
  const uint8_t* b = row + static_cast<int64_t>(g / groups_per_block) * BB;
  const int j = g % groups_per_block;  // sub-block of a K-type super-block
  if constexpr (Q == QuantType::q8_0) {
    const float d = load_f16(b);
    const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
#pragma unroll
    for (int l = 0; l < 32; ++l) out[l] = d * qs[l];
  } else if constexpr (Q == QuantType::q4_0 || Q == QuantType::q4_1) {
    const float d = load_f16(b);
    const bool has_min = Q == QuantType::q4_1;
    const uint8_t* qs = b + (has_min ? 4 : 2);
    const float m = has_min ? load_f16(b + 2) : 0.f;
#pragma unroll
    for (int l = 0; l < 16; ++l) {
      const int lo = qs[l] & 0xF, hi = qs[l] >> 4;
      if (has_min) {
        out[l] = lo * d + m;
        out[l + 16] = hi * d + m;
      } else {
        out[l] = (lo - 8) * d;
        out[l + 16] = (hi - 8) * d;
      }
    }
  } else if constexpr (Q == QuantType::q5_0 || Q == QuantType::q5_1) {
    const bool has_min = Q == QuantType::q5_1;
    const float d = load_f16(b);
    const float m = has_min ? load_f16(b + 2) : 0.f;
    const uint8_t* qhp = b + (has_min ? 4 : 2);
    const uint32_t qh =
        qhp[0] | (qhp[1] << 8) | (qhp[2] << 16) | (static_cast<uint32_t>(qhp[3]) << 24);
    const uint8_t* qs = qhp + 4;
#pragma unroll
    for (int l = 0; l < 16; ++l) {
      const int lo = (qs[l] & 0xF) | (((qh >> l) << 4) & 0x10);
      const int hi = (qs[l] >> 4) | ((qh >> (l + 12)) & 0x10);
      if (has_min) {
        out[l] = lo * d + m;
        out[l + 16] = hi * d + m;
      } else {
        out[l] = (lo - 16) * d;
        out[l + 16] = (hi - 16) * d;
      }
    }
  } else if constexpr (Q == QuantType::q4_k || Q == QuantType::q5_k) {
    const float d = load_f16(b), dmin = load_f16(b + 2);
    int sc, mn;
    k4_scale_min(j, b + 4, sc, mn);
    const float d1 = d * sc, m1 = dmin * mn;
    const bool five = Q == QuantType::q5_k;
    const uint8_t* qh = b + 16;  // q5_K only
    const uint8_t* qs = b + (five ? 48 : 16) + 32 * (j / 2);
    const int shift = (j % 2) * 4;  // odd sub-blocks take the high nibbles
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      int q = (qs[l] >> shift) & 0xF;
      if (five) q |= ((qh[l] >> j) & 1) << 4;
      out[l] = d1 * q - m1;
    }
  } else {  // q6_K: elements e = 32 j + l, j = 4 h + k
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
    const float d = load_f16(b + 208);
    const int h = j / 4, k = j % 4;
    const uint8_t* lo = ql + 64 * h + 32 * (k % 2);
    const int lo_shift = k < 2 ? 0 : 4;
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      const int q = (((lo[l] >> lo_shift) & 0xF) | (((qh[32 * h + l] >> (2 * k)) & 3) << 4)) - 32;
      out[l] = d * scales[2 * j + l / 16] * q;
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
