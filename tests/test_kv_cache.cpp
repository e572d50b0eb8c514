// Block allocator and block manager: ref counts, free list, fork and copy-on-write, checked
// against a simulated KV memory in which every slot records the token written to it.
#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "engine/kv_cache.hpp"

using namespace precis::engine;

TEST_CASE("allocator hands out each block once and takes it back at ref count zero") {
  BlockAllocator a(4);
  std::vector<int> got;
  for (int i = 0; i < 4; ++i) got.push_back(*a.allocate());
  CHECK_FALSE(a.allocate().has_value());
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<int>{0, 1, 2, 3});
  a.incref(2);
  a.decref(2);
  CHECK(a.num_free() == 0);
  a.decref(2);
  CHECK(a.num_free() == 1);
  CHECK_THROWS(a.decref(2));
}

namespace {

// Simulated KV memory: slot contents per physical block.
struct Memory {
  int block_size;
  std::map<int, std::vector<int>> blocks;
  void apply(const std::vector<BlockCopy>& copies) {
    for (auto c : copies) blocks[c.dst] = blocks[c.src];
  }
  void write(const std::vector<int>& table, int pos, int token) {
    auto& b = blocks[table[pos / block_size]];
    b.resize(block_size, -1);
    b[pos % block_size] = token;
  }
  std::vector<int> read(const std::vector<int>& table, int n) {
    std::vector<int> out;
    for (int p = 0; p < n; ++p) out.push_back(blocks[table[p / block_size]].at(p % block_size));
    return out;
  }
};

}  // namespace

TEST_CASE("forked sequences never see each other's tokens, and every block comes back") {
  const int bs = 4;
  KvCacheManager kv(64, bs);
  Memory mem{bs, {}};
  std::vector<BlockCopy> copies;
  // Parent: a 10-token prompt (last block partly filled, so forks must copy it on write).
  std::vector<int> prompt;
  for (int i = 0; i < 10; ++i) prompt.push_back(100 + i);
  REQUIRE(kv.append_slots(0, 10, copies));
  for (int p = 0; p < 10; ++p) mem.write(kv.block_table(0), p, prompt[p]);
  const int n = 5;
  std::map<SeqId, std::vector<int>> history;
  history[0] = prompt;
  for (SeqId s = 1; s < n; ++s) {
    kv.fork(0, s);
    history[s] = prompt;
  }
  CHECK(kv.allocator().ref_count(kv.block_table(0)[0]) == n);
  std::mt19937 rng(1);
  for (int step = 0; step < 15; ++step) {
    for (SeqId s = 0; s < n; ++s) {
      copies.clear();
      REQUIRE(kv.append_slots(s, 1, copies));
      mem.apply(copies);
      const int token = 1000 * static_cast<int>(s) + step;
      mem.write(kv.block_table(s), static_cast<int>(history[s].size()), token);
      history[s].push_back(token);
    }
  }
  for (SeqId s = 0; s < n; ++s)
    CHECK(mem.read(kv.block_table(s), static_cast<int>(history[s].size())) == history[s]);
  // The two full prompt blocks are still shared by everyone; the third was copied.
  CHECK(kv.block_table(1)[0] == kv.block_table(0)[0]);
  CHECK(kv.block_table(1)[1] == kv.block_table(0)[1]);
  CHECK(kv.block_table(1)[2] != kv.block_table(0)[2]);
  for (SeqId s = 0; s < n; ++s) kv.free(s);
  CHECK(kv.allocator().num_used() == 0);
  for (int b = 0; b < 64; ++b) CHECK(kv.allocator().ref_count(b) == 0);
}

TEST_CASE("append fails cleanly when the pool is exhausted") {
  KvCacheManager kv(3, 4);
  std::vector<BlockCopy> copies;
  REQUIRE(kv.append_slots(7, 12, copies));
  CHECK(kv.blocks_needed(7, 1) == 1);
  CHECK_FALSE(kv.append_slots(7, 1, copies));
  CHECK(kv.num_tokens(7) == 12);  // unchanged
  kv.free(7);
  CHECK(kv.allocator().num_free() == 3);
}
