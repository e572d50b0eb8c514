// Prefix caching on hand cases: hash chains name whole prefixes, freed named blocks stay
// findable until the LRU evicts the least recently released one, the allocator evicts cached
// blocks only when the free list is empty, and the block manager shares cached prefixes.
#include "engine/prefix_cache.hpp"

#include <catch2/catch.hpp>
#include <numeric>
#include <vector>

#include "engine/kv_cache.hpp"

using precis::engine::BlockAllocator;
using precis::engine::BlockCopy;
using precis::engine::KvCacheManager;
using precis::engine::prefix_block_hash;
using precis::engine::prefix_block_hashes;
using precis::engine::PrefixCache;

TEST_CASE("prefix_block_hashes: one hash per full block, chained through the parent") {
  const std::vector<int> a = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const auto h = prefix_block_hashes(a, 4);
  REQUIRE(h.size() == 2);  // the 9th token is a partial block: no hash
  CHECK(h[0] == prefix_block_hash(0, std::vector<int>{1, 2, 3, 4}));
  CHECK(h[1] == prefix_block_hash(h[0], std::vector<int>{5, 6, 7, 8}));

  // Same second block after a different first block: a different hash (it names the prefix).
  const std::vector<int> b = {1, 2, 3, 0, 5, 6, 7, 8};
  const auto hb = prefix_block_hashes(b, 4);
  CHECK(hb[0] != h[0]);
  CHECK(hb[1] != h[1]);
  // Same prefix, different tail: shared hashes up to where they differ.
  const std::vector<int> c = {1, 2, 3, 4, 5, 6, 7, 9};
  const auto hc = prefix_block_hashes(c, 4);
  CHECK(hc[0] == h[0]);
  CHECK(hc[1] != h[1]);
  // Order within a block matters.
  CHECK(prefix_block_hash(0, std::vector<int>{1, 2}) !=
        prefix_block_hash(0, std::vector<int>{2, 1}));
  CHECK(prefix_block_hashes(std::vector<int>{1, 2, 3}, 4).empty());
}

TEST_CASE("PrefixCache: lookup finds inserted blocks; the first block of a content keeps it") {
  PrefixCache cache(4);
  CHECK_FALSE(cache.lookup(11).has_value());
  CHECK(cache.insert(11, 2));
  CHECK(cache.is_cached(2));
  CHECK(cache.lookup(11) == 2);
  // A second block with the same contents is not registered: the first stays the shared one.
  CHECK_FALSE(cache.insert(11, 3));
  CHECK_FALSE(cache.is_cached(3));
  CHECK(cache.lookup(11) == 2);
  // Its contents change (cut back and rewritten): the name goes, and another block may take it.
  cache.forget(2);
  CHECK_FALSE(cache.lookup(11).has_value());
  CHECK(cache.insert(11, 3));
  CHECK(cache.lookup(11) == 3);
}

TEST_CASE("PrefixCache: released named blocks stay findable; LRU evicts oldest first") {
  PrefixCache cache(4);
  cache.insert(100, 0);
  cache.insert(101, 1);
  cache.insert(102, 2);
  CHECK_FALSE(cache.release(3));  // unnamed: goes to the plain free list, not the LRU
  CHECK(cache.release(1));
  CHECK(cache.release(0));
  CHECK(cache.release(2));
  CHECK(cache.num_evictable() == 3);
  CHECK(cache.lookup(100) == 0);  // still cached while free

  // Block 0 is taken again by a new request: it leaves the LRU, so it cannot be evicted.
  cache.revive(0);
  CHECK(cache.num_evictable() == 2);

  CHECK(cache.evict() == 1);  // released first
  CHECK_FALSE(cache.lookup(101).has_value());
  CHECK_FALSE(cache.is_cached(1));
  CHECK(cache.evict() == 2);
  CHECK_FALSE(cache.evict().has_value());  // block 0 is in use
  CHECK(cache.lookup(100) == 0);

  // Released again, it becomes the most recent entry and is evicted last.
  CHECK(cache.insert(103, 1));
  CHECK(cache.release(0));
  CHECK(cache.release(1));
  CHECK(cache.evict() == 0);
  CHECK(cache.evict() == 1);
  CHECK(cache.evictions() == 4);
}

TEST_CASE("BlockAllocator: cached blocks count as free and are evicted only when needed") {
  BlockAllocator a(3, /*prefix_caching=*/true);
  const int b0 = *a.allocate(), b1 = *a.allocate(), b2 = *a.allocate();
  a.prefix_cache()->insert(10, b0);
  a.prefix_cache()->insert(11, b1);
  a.decref(b1);
  a.decref(b0);
  a.decref(b2);
  CHECK(a.num_free() == 3);
  CHECK(a.num_used() == 0);
  CHECK(a.prefix_cache()->num_evictable() == 2);

  // The plain free block goes first; the cached ones stay findable.
  CHECK(a.allocate() == b2);
  CHECK(a.prefix_cache()->lookup(10) == b0);
  // A cached free block taken back by a new holder leaves the LRU.
  a.incref(b0);
  CHECK(a.ref_count(b0) == 1);
  CHECK(a.num_free() == 1);
  // Next allocation evicts the only evictable block, b1, and forgets its name.
  CHECK(a.allocate() == b1);
  CHECK_FALSE(a.prefix_cache()->lookup(11).has_value());
  CHECK_FALSE(a.allocate().has_value());
  a.decref(b2);                // unnamed: back to the plain free list
  CHECK_THROWS(a.incref(b2));  // so nobody may take it back by incref
}

TEST_CASE("BlockAllocator without prefix caching frees at zero as before") {
  BlockAllocator a(2);
  CHECK(a.prefix_cache() == nullptr);
  const int b = *a.allocate();
  a.decref(b);
  CHECK(a.num_free() == 2);
  CHECK_THROWS(a.incref(b));
}

namespace {

std::vector<int> iota_tokens(int n, int first = 100) {
  std::vector<int> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

// Runs `tokens` into `kv` as sequence `seq` (all computed) and names its full blocks.
void fill(KvCacheManager& kv, int seq, const std::vector<int>& tokens) {
  std::vector<BlockCopy> copies;
  const int cached = kv.match_prefix(seq, tokens);
  REQUIRE(kv.append_slots(seq, static_cast<int>(tokens.size()) - cached, copies));
  kv.cache_full_blocks(seq, tokens, static_cast<int>(tokens.size()));
}

}  // namespace

TEST_CASE("KvCacheManager: a new sequence starts on the blocks of its longest cached prefix") {
  KvCacheManager kv(8, 4, /*prefix_caching=*/true);
  const auto first = iota_tokens(10);  // blocks [100..103] [104..107], 2 tokens partial
  fill(kv, 1, first);
  const std::vector<int> held = kv.block_table(1);
  kv.free(1);
  CHECK(kv.allocator().num_used() == 0);
  CHECK(kv.allocator().prefix_cache()->num_evictable() == 2);  // the partial block is not named

  auto longer = iota_tokens(8);
  longer.push_back(7);
  longer.push_back(8);
  longer.push_back(9);
  CHECK(kv.match_prefix(2, longer) == 8);
  CHECK(kv.block_table(2) == std::vector<int>{held[0], held[1]});
  CHECK(kv.num_tokens(2) == 8);

  // The whole prompt cached: the last block is left to compute, so the last token has logits.
  CHECK(kv.match_prefix(3, iota_tokens(8)) == 4);
  // Differs in the second block: only the first is shared (hashes chain through the parent).
  auto second_differs = iota_tokens(9);
  second_differs[5] = 1;
  CHECK(kv.match_prefix(4, second_differs) == 4);
  // Differs in the first block: the second block's tokens alone do not match.
  auto first_differs = iota_tokens(9);
  first_differs[0] = 1;
  CHECK(kv.match_prefix(5, first_differs) == 0);
  CHECK_FALSE(kv.has(5));

  CHECK(kv.allocator().ref_count(held[0]) == 3);  // sequences 2, 3 and 4
  kv.free(2);
  kv.free(3);
  kv.free(4);
  CHECK(kv.allocator().num_used() == 0);
}

TEST_CASE("KvCacheManager: cutting a sequence back into a named block unnames it") {
  KvCacheManager kv(8, 4, /*prefix_caching=*/true);
  fill(kv, 1, iota_tokens(8));
  kv.truncate(1, 6);  // block 1 will be rewritten in place from token 6
  std::vector<BlockCopy> copies;
  REQUIRE(kv.append_slots(1, 2, copies));
  CHECK(copies.empty());
  auto again = iota_tokens(9);
  CHECK(kv.match_prefix(2, again) == 4);  // block 0 still cached, block 1 no longer
}

TEST_CASE("KvCacheManager: a shared named block is copied, not rewritten, after a cut") {
  KvCacheManager kv(8, 4, /*prefix_caching=*/true);
  fill(kv, 1, iota_tokens(8));
  kv.fork(1, 2);
  kv.truncate(2, 6);
  std::vector<BlockCopy> copies;
  REQUIRE(kv.append_slots(2, 1, copies));
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].src == kv.block_table(1)[1]);
  CHECK(kv.match_prefix(3, iota_tokens(9)) == 8);  // sequence 1's blocks are intact and named
}

TEST_CASE("KvCacheManager: with prefix caching off nothing is matched or kept") {
  KvCacheManager kv(4, 4);
  fill(kv, 1, iota_tokens(8));
  kv.free(1);
  CHECK(kv.match_prefix(2, iota_tokens(9)) == 0);
  CHECK_FALSE(kv.has(2));
}
