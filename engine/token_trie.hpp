// The vocabulary as a byte trie laid out in depth-first order, so that a constraint's token mask
// is one forward scan: each node is checked once, on its parent's state, and a rejected node
// skips its whole subtree (every token that starts with those bytes) in one jump.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace precis::engine {

class Tokenizer;

class TokenTrie {
 public:
  struct Node {
    uint8_t byte = 0;    // the edge into this node (unused at the root)
    uint16_t depth = 0;  // bytes from the root
    uint32_t end = 0;    // one past the last node of this subtree
    uint32_t first = 0;  // tokens ending here: token_ids_[first, first + count)
    uint32_t count = 0;
  };

  // `bytes[id]` is token id's text. Empty entries are left out: a token that adds no byte would
  // never advance a constraint (and could repeat forever).
  explicit TokenTrie(const std::vector<std::string>& bytes);
  // Every token's token_bytes(), leaving out special (control) tokens, which are not text.
  static TokenTrie from_tokenizer(const Tokenizer& tok);

  const std::vector<Node>& nodes() const { return nodes_; }
  const int* tokens(const Node& n) const { return token_ids_.data() + n.first; }
  int max_depth() const { return max_depth_; }
  int vocab_size() const { return static_cast<int>(bytes_.size()); }
  // The bytes of token `id` ("" for a left-out token).
  const std::string& bytes(int id) const { return bytes_[id]; }

 private:
  std::vector<Node> nodes_;
  std::vector<int> token_ids_;
  std::vector<std::string> bytes_;
  int max_depth_ = 0;
};

}  // namespace precis::engine
