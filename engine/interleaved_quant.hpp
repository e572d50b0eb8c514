// Quantized weights repacked for the 8-bit-activation GEMM (the AVX-512 VNNI kernels of
// engine/quant_interleaved.cpp), as llama.cpp repacks Q4_0 and Q4_K at load: the rows of a
// matrix are taken 16 at a time and their blocks interleaved so that one 512-bit register holds
// four weights of each of 16 rows. One VPDPBUSD against four broadcast activations then adds
// 64 products into 16 rows' sums, one row per lane, and a block's scales meet the sums as a
// 16-lane vector: every instruction works for 16 rows at once, with no horizontal sums.
//
// Every weight becomes an unsigned integer code and per-block scales:
//   w = scale * (code - offset) [+ min]
// exactly (the scales are the file's f16 values, or f32 products that are exact in f32), so the
// kernels compute the same integer sums as the row kernels' dot_q8 and differ from them only in
// the order their float sums round.
//
// A group of 16 rows is a run of units, each unit_blocks blocks of 32 (8, one super-block, for
// the K types; 2 for the others, or 1 where the row has an odd number of blocks), every section
// 64-byte aligned:
//  - the K types' header: 16 f16 d, then (q4_K, q5_K) 16 f16 dmin, for the unit's super-block;
//  - codes, per block: nibbles: 4 x 64 bytes; byte 64p + 4r + i holds element 4p + i (low
//    nibble) and element 16 + 4p + i (high nibble) of row r. Codes of 4 + h bits (h = 1: q5_0,
//    q5_1, q5_K; h = 2: q6_K) have their low nibbles so, then h planes of 64 bytes holding their
//    high bits: element 4c + i's are bits [h j, h j + h) of byte 64q + 4r + i, with
//    c = (8 / h) q + j. A decode step reads every code byte, and these types as bytes cost
//    8 bits per weight instead of 5 or 6: tinyllama-shape int8 decode on 2 threads (Zen 4,
//    alternating runs) Q5_0 31 -> 42 tok/s, Q5_K_M 26 -> 33, Q4_K_M (its q6_K tensors) 42 -> 45;
//    the unpacking costs prefill 5-7% on the q5 types. Bytes (q8_0): 8 x 64 bytes; byte
//    64c + 4r + i is element 4c + i of row r.
//  - scales, per block and half (one scale per 32, or per 16 for q6_K): 16 values, row r's r-th;
//  - mins, per block: 16 values (the types with an offset term: q4_1, q5_1, q4_K, q5_K).
// So a decode step reads each group as one stream in address order. The first layout (codes for
// the whole row, then each other section for the whole row) was read as two to four streams side
// by side: tinyllama-shape int8 decode on 2 threads, alternating runs, Q4_0 37-42 -> 44-57 tok/s
// and Q4_K_M 34-36 -> 39-47 with units (llama.cpp tg128 on the same machine: 51 and 49). Q4_0's
// 256-token prefill lost ~8% (245-264 -> 218-235 tok/s); Q4_K_M's stayed at 200-220.
// Scales and mins are f16 where the file's are (q4_0, q4_1, q5_0, q5_1, q8_0: no bytes added).
// The K types keep theirs as the file does, an 8-bit integer per block (u8 for q4_K/q5_K, i8 for
// q6_K) times the super-block's d (scales) or -dmin (mins): products exact in f32, as the
// reference dequantizer computes them, at a byte per block instead of four.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "engine/ggml_type.hpp"

namespace precis::engine {

struct TensorView;

inline constexpr int kInterleaveRows = 16;

struct InterleavedFormat {
  bool nibbles;          // 4-bit codes, two per byte; else a byte each
  int high_bits;         // with nibbles: code bits above the nibble (0, 1 or 2), in planes
  int scales_per_block;  // 1, or 2 (one per 16 elements)
  bool has_min;
  int offset;     // subtracted from every code
  bool k_scales;  // 8-bit integer scales and mins times per-super-block d and dmin; else f16
};

// The format a type repacks to; nullopt for a type without one.
std::optional<InterleavedFormat> interleaved_format(GgmlType t);

// Bytes of one row's scale or min in the scales and mins sections, and how far apart two
// consecutive blocks' scales (or mins) are within a unit: the layout's one definition, for the
// offsets below and the kernel's compile-time steps.
constexpr size_t interleaved_scale_bytes(bool k_scales) {
  return k_scales ? 1 : 2;
}
constexpr size_t interleaved_scales_step(int scales_per_block, bool k_scales) {
  return static_cast<size_t>(scales_per_block) * kInterleaveRows *
         interleaved_scale_bytes(k_scales);
}
constexpr size_t interleaved_mins_step(bool k_scales) {
  return kInterleaveRows * interleaved_scale_bytes(k_scales);
}

// A block's codes (16 rows x 32): nibbles, 4 x 64 bytes, plus one 64-byte plane per code bit
// above the nibble; or bytes, 8 x 64. Chunk ch (elements 4 ch .. 4 ch + 3) keeps its high bits
// in the plane at interleaved_plane_offset, from bit interleaved_plane_shift of each byte: the
// layout's one definition, for the packer, the reference reader and the kernel.
inline constexpr size_t kInterleavedNibbleBytes = 4 * 64;
constexpr size_t interleaved_code_bytes(bool nibbles, int high_bits) {
  return nibbles ? kInterleavedNibbleBytes + 64 * static_cast<size_t>(high_bits) : 8 * 64;
}
constexpr size_t interleaved_plane_offset(int high_bits, int ch) {
  return kInterleavedNibbleBytes + 64 * static_cast<size_t>(ch / (8 / high_bits));
}
constexpr int interleaved_plane_shift(int high_bits, int ch) {
  return high_bits * (ch % (8 / high_bits));
}

struct InterleavedMatrix {
  GgmlType source;
  InterleavedFormat format;
  int N = 0, K = 0;       // N a multiple of 16; K of the source type's block
  int64_t nb = 0;         // blocks of 32 per row
  size_t code_bytes = 0;  // per block: 256 + 64 high_bits (nibbles) or 512 (bytes)
  int unit_shift = 0;     // log2 of the blocks per unit
  size_t unit_bytes = 0;
  size_t codes_at = 0, scales_at = 0, mins_at = 0;  // section offsets in a unit (header at 0)
  size_t group_bytes = 0;
  std::unique_ptr<std::byte[], void (*)(std::byte*)> data{nullptr, nullptr};

  const std::byte* group(int g) const { return data.get() + static_cast<size_t>(g) * group_bytes; }
  size_t scale_bytes() const { return interleaved_scale_bytes(format.k_scales); }

  // Offsets in a group of block b's unit (its header: the K types' d, and dmin) and sections.
  size_t unit_offset(int64_t b) const { return static_cast<size_t>(b >> unit_shift) * unit_bytes; }
  size_t codes_offset(int64_t b) const {
    return unit_offset(b) + codes_at + static_cast<size_t>(in_unit(b)) * code_bytes;
  }
  size_t scales_offset(int64_t b) const {
    return unit_offset(b) + scales_at +
           static_cast<size_t>(in_unit(b)) *
               interleaved_scales_step(format.scales_per_block, format.k_scales);
  }
  size_t mins_offset(int64_t b) const {
    return unit_offset(b) + mins_at +
           static_cast<size_t>(in_unit(b)) * interleaved_mins_step(format.k_scales);
  }

 private:
  int64_t in_unit(int64_t b) const { return b & ((int64_t{1} << unit_shift) - 1); }
};

// W [N, K] (w.quant set) repacked, on the engine's thread pool; nullopt where it has no
// interleaved format or N is not a multiple of 16. Throws std::invalid_argument for a K that is
// not a multiple of the type's block.
std::optional<InterleavedMatrix> interleave_matrix(const TensorView& w, int N, int K);

// Row r's (of 16) code for element e (< 32) of block b, in a group.
int interleaved_code(const InterleavedMatrix& m, const std::byte* group, int64_t b, int r, int e);
// Row r's (of 16) scale for block b (half h) and min, in a group: what the kernels multiply by.
// Portable; the reference kernel and the tests read the layout through these.
float interleaved_scale(const InterleavedMatrix& m, const std::byte* group, int64_t b, int h,
                        int r);
float interleaved_min(const InterleavedMatrix& m, const std::byte* group, int64_t b, int r);

// Row n's element k as the repacked matrix holds it (scale * (code - offset) [+ min]): the
// format's meaning, for tests.
float interleaved_weight(const InterleavedMatrix& m, int n, int k);

}  // namespace precis::engine
