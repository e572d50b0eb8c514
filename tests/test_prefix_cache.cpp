// PrefixCache on hand cases: hash chains name whole prefixes, lookups count hits, freed named
// blocks stay findable until the LRU evicts the least recently released one.
#include "engine/prefix_cache.hpp"

#include <catch2/catch.hpp>
#include <vector>

using precis::engine::prefix_block_hash;
using precis::engine::prefix_block_hashes;
using precis::engine::PrefixCache;

TEST_CASE("prefix_block_hashes: one hash per full block, chained through the parent") {
  const std::vector<std::int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const auto h = prefix_block_hashes(a, 4);
  REQUIRE(h.size() == 2);  // the 9th token is a partial block: no hash
  CHECK(h[0] == prefix_block_hash(0, std::vector<std::int32_t>{1, 2, 3, 4}));
  CHECK(h[1] == prefix_block_hash(h[0], std::vector<std::int32_t>{5, 6, 7, 8}));

  // Same second block after a different first block: a different hash (it names the prefix).
  const std::vector<std::int32_t> b = {1, 2, 3, 0, 5, 6, 7, 8};
  const auto hb = prefix_block_hashes(b, 4);
  CHECK(hb[0] != h[0]);
  CHECK(hb[1] != h[1]);
  // Same prefix, different tail: shared hashes up to where they differ.
  const std::vector<std::int32_t> c = {1, 2, 3, 4, 5, 6, 7, 9};
  const auto hc = prefix_block_hashes(c, 4);
  CHECK(hc[0] == h[0]);
  CHECK(hc[1] != h[1]);
  // Order within a block matters.
  CHECK(prefix_block_hash(0, std::vector<std::int32_t>{1, 2}) !=
        prefix_block_hash(0, std::vector<std::int32_t>{2, 1}));
  CHECK(prefix_block_hashes(std::vector<std::int32_t>{1, 2, 3}, 4).empty());
}

TEST_CASE("PrefixCache: lookup finds inserted blocks and counts queries and hits") {
  PrefixCache cache(4);
  CHECK_FALSE(cache.lookup(11).has_value());
  CHECK(cache.insert(11, 2));
  CHECK(cache.is_cached(2));
  CHECK(cache.lookup(11) == 2);
  // A second block with the same contents is not registered: the first stays the shared one.
  CHECK_FALSE(cache.insert(11, 3));
  CHECK_FALSE(cache.is_cached(3));
  CHECK(cache.lookup(11) == 2);
  CHECK(cache.queried_blocks() == 3);
  CHECK(cache.hit_blocks() == 2);
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
}
