// The host side of one forward pass on the GPU: the batch flattened into rows (token, position,
// sequence, KV slot), the rows whose logits are wanted, prefill tiles and block tables, packed
// into one int array so a single copy moves them to the device. Plain C++, tested on the CPU.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "engine/backend.hpp"

namespace precis::cuda {

struct BatchInputs {
  std::vector<int> packed;  // every array below, at its offset
  size_t tokens = 0, pos = 0, row_seq = 0, slots = 0, out_rows = 0, tiles = 0, tables = 0;
  int T = 0;             // rows (new tokens)
  int R = 0;             // rows whose logits are computed
  int num_tiles = 0;     // prefill tiles (kPrefillTileRows rows of one sequence each)
  int table_stride = 0;  // ints per sequence in the block tables
  int num_seqs = 0;
  bool all_single = true;  // every sequence has one new token: the decode kernel applies
};

// Validates (block tables long enough, token ids inside the vocabulary) and flattens, rows in
// batch order. Throws std::logic_error / std::out_of_range like the CPU backend.
BatchInputs flatten_batch(std::span<const engine::BatchSequence> batch, int block_size,
                          int vocab_size);

// A decode batch (all_single) laid out for a captured CUDA graph: arrays at offsets fixed by
// max_rows and table_stride (so one graph serves every step of its size), padded from T to
// `rows` rows. Padding rows are harmless work: token 0 at position 0, their K/V written to slot
// 0 of `scratch_block` (a block the engine never hands out), their own one-block table, logits
// computed and ignored. Only the prefix of `packed` up to the last used table needs copying:
// `used_ints` says how much.
BatchInputs pad_for_graph(const BatchInputs& in, int rows, int max_rows, int table_stride,
                          int scratch_block, int block_size, size_t* used_ints);

// The smallest captured batch size >= T: 1, 2, 4, 8, then multiples of 8 up to max_rows (as
// vLLM does, so padding wastes at most 7 rows).
int graph_bucket(int T);

}  // namespace precis::cuda
