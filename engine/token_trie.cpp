#include "engine/token_trie.hpp"

#include <algorithm>
#include <cstdint>

#include "engine/tokenizer.hpp"

namespace precis::engine {

TokenTrie::TokenTrie(const std::vector<std::string>& bytes) : bytes_(bytes) {
  // Sorting the tokens by their bytes lists them in exactly the trie's depth-first order, so the
  // trie is built in one pass without pointers: a token shares with its predecessor the nodes of
  // their common prefix and opens new nodes for the rest.
  std::vector<int> order;
  for (int id = 0; id < static_cast<int>(bytes_.size()); ++id)
    if (!bytes_[id].empty()) order.push_back(id);
  std::stable_sort(order.begin(), order.end(),
                   [this](int a, int b) { return bytes_[a] < bytes_[b]; });
  nodes_.push_back({});
  std::vector<uint32_t> path{0};  // path[d]: the node at depth d on the current branch
  const std::string* prev = nullptr;
  std::vector<std::pair<uint32_t, int>> owner;  // (node, token) for every token
  for (int id : order) {
    const std::string& b = bytes_[id];
    size_t common = 0;
    if (prev)
      while (common < b.size() && common < prev->size() && (*prev)[common] == b[common]) ++common;
    // Nodes deeper than the shared prefix are finished.
    for (size_t d = path.size() - 1; d > common; --d) nodes_[path[d]].end = nodes_.size();
    path.resize(common + 1);
    for (size_t d = common; d < b.size(); ++d) {
      Node n;
      n.byte = static_cast<uint8_t>(b[d]);
      n.depth = static_cast<uint16_t>(std::min<size_t>(d + 1, UINT16_MAX));
      path.push_back(static_cast<uint32_t>(nodes_.size()));
      nodes_.push_back(n);
    }
    owner.emplace_back(path.back(), id);
    max_depth_ = std::max(max_depth_, static_cast<int>(b.size()));
    prev = &b;
  }
  for (size_t d = path.size(); d-- > 0;) nodes_[path[d]].end = nodes_.size();
  // Tokens with the same bytes share a node; list each node's tokens contiguously.
  std::stable_sort(owner.begin(), owner.end());
  size_t k = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i].first = static_cast<uint32_t>(token_ids_.size());
    for (; k < owner.size() && owner[k].first == i; ++k) token_ids_.push_back(owner[k].second);
    nodes_[i].count = static_cast<uint32_t>(token_ids_.size()) - nodes_[i].first;
  }
}

TokenTrie TokenTrie::from_tokenizer(const Tokenizer& tok) {
  std::vector<std::string> bytes(static_cast<size_t>(tok.vocab_size()));
  for (int id = 0; id < tok.vocab_size(); ++id)
    if (!tok.is_special(id)) bytes[id] = tok.token_bytes(id);
  return TokenTrie(bytes);
}

}  // namespace precis::engine
