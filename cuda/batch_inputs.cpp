#include "cuda/batch_inputs.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/kernels/kernels.hpp"
#include "engine/batch_rows.hpp"

namespace precis::cuda {

BatchInputs flatten_batch(std::span<const engine::BatchSequence> batch, int block_size,
                          int vocab_size) {
  const engine::BatchRows rows = engine::flatten_rows(batch, block_size, vocab_size);
  // What the kernels need beyond the rows: each row's cache slot, and a prefill tile starting
  // at every kPrefillTileRows-th row of each sequence.
  const size_t T = rows.tokens.size();
  std::vector<int> slots(T), tiles;
  for (size_t r = 0; r < T; ++r) {
    const int s = rows.row_seq[r], p = rows.pos[r];
    slots[r] = batch[s].block_table[p / block_size] * block_size + p % block_size;
    if ((p - batch[s].start_pos) % kPrefillTileRows == 0) tiles.push_back(static_cast<int>(r));
  }
  const size_t max_blocks = std::max<size_t>(rows.max_blocks, 1);
  BatchInputs in;
  in.T = static_cast<int>(T);
  in.R = static_cast<int>(rows.out_rows.size());
  in.num_tiles = static_cast<int>(tiles.size());
  in.table_stride = static_cast<int>(max_blocks);
  in.num_seqs = static_cast<int>(batch.size());
  in.all_single = rows.all_single;
  auto& p = in.packed;
  const auto append = [&p](const std::vector<int>& v) {
    const size_t at = p.size();
    p.insert(p.end(), v.begin(), v.end());
    return at;
  };
  in.tokens = append(rows.tokens);
  in.pos = append(rows.pos);
  in.row_seq = append(rows.row_seq);
  in.slots = append(slots);
  in.out_rows = append(rows.out_rows);
  in.tiles = append(tiles);
  in.tables = p.size();
  p.resize(in.tables + batch.size() * max_blocks, 0);
  for (size_t s = 0; s < batch.size(); ++s)
    std::copy(batch[s].block_table.begin(), batch[s].block_table.end(),
              p.begin() + static_cast<std::ptrdiff_t>(in.tables + s * max_blocks));
  return in;
}

BatchInputs pad_for_graph(const BatchInputs& in, int rows, int max_rows, int table_stride,
                          int scratch_block, int block_size, size_t* used_ints) {
  if (!in.all_single || in.T > rows || rows > max_rows || in.table_stride > table_stride)
    throw std::logic_error("pad_for_graph: batch does not fit the graph layout");
  BatchInputs g;
  g.T = g.R = g.num_seqs = rows;
  g.num_tiles = 0;
  g.table_stride = table_stride;
  g.all_single = true;
  const size_t M = static_cast<size_t>(max_rows);
  g.tokens = 0;
  g.pos = M;
  g.row_seq = 2 * M;
  g.slots = 3 * M;
  g.out_rows = 4 * M;
  g.tiles = 5 * M;  // none
  g.tables = 5 * M;
  const size_t used = g.tables + static_cast<size_t>(rows) * table_stride;
  g.packed.assign(used, 0);
  for (int r = 0; r < rows; ++r) {
    const bool real = r < in.T;
    g.packed[g.tokens + r] = real ? in.packed[in.tokens + r] : 0;
    g.packed[g.pos + r] = real ? in.packed[in.pos + r] : 0;
    g.packed[g.row_seq + r] = r;  // decode: row r is sequence r
    g.packed[g.slots + r] = real ? in.packed[in.slots + r] : scratch_block * block_size;
    g.packed[g.out_rows + r] = r;
    int* table = g.packed.data() + g.tables + static_cast<size_t>(r) * table_stride;
    if (real) {
      const int* src = in.packed.data() + in.tables + static_cast<size_t>(r) * in.table_stride;
      std::copy(src, src + in.table_stride, table);
    } else {
      table[0] = scratch_block;
    }
  }
  if (used_ints) *used_ints = used;
  return g;
}

int graph_bucket(int T) {
  if (T <= 1) return 1;
  if (T <= 2) return 2;
  if (T <= 4) return 4;
  return (T + 7) / 8 * 8;
}

}  // namespace precis::cuda
