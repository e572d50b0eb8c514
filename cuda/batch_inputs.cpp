#include "cuda/batch_inputs.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

BatchInputs flatten_batch(std::span<const engine::BatchSequence> batch, int block_size,
                          int vocab_size) {
  std::vector<int> tokens, pos, row_seq, slots, out_rows, tiles;
  size_t max_blocks = 1;
  bool all_single = true;
  for (size_t s = 0; s < batch.size(); ++s) {
    const engine::BatchSequence& b = batch[s];
    const size_t n = b.tokens.size();
    const size_t need_blocks = (b.start_pos + n + block_size - 1) / block_size;
    if (b.block_table.size() < need_blocks)
      throw std::logic_error("block table too short for the batch");
    max_blocks = std::max(max_blocks, b.block_table.size());
    if (n != 1) all_single = false;
    for (size_t i = 0; i < n; ++i) {
      const int tok = b.tokens[i];
      if (tok < 0 || tok >= vocab_size)
        throw std::out_of_range("token id " + std::to_string(tok) + " outside the vocabulary");
      const int row = static_cast<int>(tokens.size());
      if (i % kPrefillTileRows == 0) tiles.push_back(row);
      if (b.all_logits || i + 1 == n) out_rows.push_back(row);
      const int p = b.start_pos + static_cast<int>(i);
      tokens.push_back(tok);
      pos.push_back(p);
      row_seq.push_back(static_cast<int>(s));
      slots.push_back(b.block_table[p / block_size] * block_size + p % block_size);
    }
  }
  BatchInputs in;
  in.T = static_cast<int>(tokens.size());
  in.R = static_cast<int>(out_rows.size());
  in.num_tiles = static_cast<int>(tiles.size());
  in.table_stride = static_cast<int>(max_blocks);
  in.num_seqs = static_cast<int>(batch.size());
  in.all_single = all_single && !batch.empty();
  auto& p = in.packed;
  const auto append = [&p](const std::vector<int>& v) {
    const size_t at = p.size();
    p.insert(p.end(), v.begin(), v.end());
    return at;
  };
  in.tokens = append(tokens);
  in.pos = append(pos);
  in.row_seq = append(row_seq);
  in.slots = append(slots);
  in.out_rows = append(out_rows);
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
