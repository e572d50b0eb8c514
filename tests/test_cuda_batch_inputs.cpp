// The CUDA backend's host-side inputs (cuda/batch_inputs): the flattened rows, KV slots, output
// rows, prefill tiles and block tables the kernels read, and the padded layout of captured decode
// graphs. Plain C++, so it runs on every machine whose build has the CUDA backend.
#include <catch2/catch.hpp>

#ifdef PRECIS_WITH_CUDA

#include "cuda/batch_inputs.hpp"
#include "cuda/kernels/kernels.hpp"

using namespace precis;

TEST_CASE("flatten_batch: rows, slots, logits rows, tiles and tables") {
  const int bs = 4;
  // Sequence 0: a 21-token prompt chunk from position 3 (blocks 7, 2, 9, 5, 11, 6); sequence 1:
  // one decode token at position 5 (blocks 1, 8); sequence 2: scoring (all logits) of 2 tokens.
  std::vector<int> t0(21), t1{42}, t2{5, 6};
  for (int i = 0; i < 21; ++i) t0[i] = 100 + i;
  std::vector<int> b0{7, 2, 9, 5, 11, 6}, b1{1, 8}, b2{3};
  std::vector<engine::BatchSequence> batch(3);
  batch[0].tokens = t0, batch[0].start_pos = 3, batch[0].block_table = b0;
  batch[1].tokens = t1, batch[1].start_pos = 5, batch[1].block_table = b1;
  batch[2].tokens = t2, batch[2].start_pos = 0, batch[2].block_table = b2,
  batch[2].all_logits = true;
  const cuda::BatchInputs in = cuda::flatten_batch(batch, bs, 1000);
  REQUIRE(in.T == 24);
  CHECK(in.R == 1 + 1 + 2);
  CHECK_FALSE(in.all_single);
  CHECK(in.table_stride == 6);
  const auto at = [&](size_t base, int i) { return in.packed[base + i]; };
  for (int r = 0; r < 21; ++r) {
    const int p = 3 + r;
    CHECK(at(in.tokens, r) == 100 + r);
    CHECK(at(in.pos, r) == p);
    CHECK(at(in.row_seq, r) == 0);
    CHECK(at(in.slots, r) == b0[p / bs] * bs + p % bs);
  }
  CHECK(at(in.slots, 21) == 8 * bs + 1);  // position 5: block 1 of the table (8), offset 1
  CHECK(at(in.row_seq, 21) == 1);
  CHECK(at(in.slots, 23) == 3 * bs + 1);
  CHECK(at(in.out_rows, 0) == 20);
  CHECK(at(in.out_rows, 1) == 21);
  CHECK(at(in.out_rows, 2) == 22);
  CHECK(at(in.out_rows, 3) == 23);
  // Tiles: sequence 0's 21 rows in tiles of kPrefillTileRows, then one per other sequence.
  REQUIRE(cuda::kPrefillTileRows == 16);
  REQUIRE(in.num_tiles == 4);
  CHECK(at(in.tiles, 0) == 0);
  CHECK(at(in.tiles, 1) == 16);
  CHECK(at(in.tiles, 2) == 21);
  CHECK(at(in.tiles, 3) == 22);
  for (int j = 0; j < 6; ++j) CHECK(at(in.tables, j) == b0[j]);
  CHECK(at(in.tables, 6) == 1);
  CHECK(at(in.tables, 7) == 8);
  CHECK(at(in.tables, 8) == 0);  // padding of a shorter table
  CHECK(at(in.tables, 12) == 3);
  CHECK(in.packed.size() == in.tables + 3 * 6);
}

TEST_CASE("flatten_batch rejects what the CPU backend rejects") {
  std::vector<int> toks{1, 2, 3, 4, 5}, short_table{0}, bad{7000};
  std::vector<engine::BatchSequence> batch(1);
  batch[0].tokens = toks, batch[0].block_table = short_table;
  CHECK_THROWS_WITH(cuda::flatten_batch(batch, 4, 1000), Catch::Contains("block table"));
  std::vector<int> table{0};
  batch[0].tokens = bad, batch[0].block_table = table;
  CHECK_THROWS_WITH(cuda::flatten_batch(batch, 4, 1000), Catch::Contains("7000"));
}

TEST_CASE("pad_for_graph keeps the real rows and parks padding rows on the scratch block") {
  const int bs = 16, scratch = 99, stride = 8, max_rows = 256;
  std::vector<std::vector<int>> toks{{11}, {12}, {13}}, tables{{4, 5}, {6}, {7, 8, 9}};
  std::vector<engine::BatchSequence> batch(3);
  for (int s = 0; s < 3; ++s) {
    batch[s].tokens = toks[s];
    batch[s].block_table = tables[s];
    batch[s].start_pos = static_cast<int>(tables[s].size()) * bs - 1;  // last slot of the table
  }
  const cuda::BatchInputs in = cuda::flatten_batch(batch, bs, 100);
  REQUIRE(in.all_single);
  const int rows = cuda::graph_bucket(in.T);
  CHECK(rows == 4);
  size_t used = 0;
  const cuda::BatchInputs g = cuda::pad_for_graph(in, rows, max_rows, stride, scratch, bs, &used);
  CHECK(g.T == 4);
  CHECK(g.R == 4);
  CHECK(g.table_stride == stride);
  CHECK(used == g.tables + 4 * stride);
  // Offsets depend only on max_rows and the stride: every bucket's graph reads the same places.
  CHECK(g.pos == 256);
  CHECK(g.tables == 5 * 256);
  for (int r = 0; r < 3; ++r) {
    CHECK(g.packed[g.tokens + r] == toks[r][0]);
    CHECK(g.packed[g.pos + r] == in.packed[in.pos + r]);
    CHECK(g.packed[g.slots + r] == in.packed[in.slots + r]);
    CHECK(g.packed[g.row_seq + r] == r);
    CHECK(g.packed[g.out_rows + r] == r);
    for (size_t j = 0; j < tables[r].size(); ++j)
      CHECK(g.packed[g.tables + r * stride + j] == tables[r][j]);
  }
  CHECK(g.packed[g.tokens + 3] == 0);
  CHECK(g.packed[g.pos + 3] == 0);
  CHECK(g.packed[g.slots + 3] == scratch * bs);
  CHECK(g.packed[g.tables + 3 * stride] == scratch);
  CHECK(cuda::graph_bucket(1) == 1);
  CHECK(cuda::graph_bucket(5) == 8);
  CHECK(cuda::graph_bucket(9) == 16);
  CHECK(cuda::graph_bucket(256) == 256);
  CHECK_THROWS(cuda::pad_for_graph(in, 2, max_rows, stride, scratch, bs, &used));
}

#else

TEST_CASE("CUDA batch inputs: this build has no CUDA backend") {
  WARN("skipped: built without the CUDA backend (nvcc not found)");
}

#endif
