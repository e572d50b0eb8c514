// A JSON grammar bound to a vocabulary: which tokens may come next in a given recognizer state
// (a bit mask over the vocabulary), and how a chosen token advances the state. Masks are cached
// by state, so the scan over the vocabulary's trie runs once per distinct state (inside a string,
// after a comma, ...), not once per token; samples and requests that use the same grammar share
// one TokenConstraint and its cache (ConstraintCache).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/json_grammar.hpp"
#include "engine/json_recognizer.hpp"
#include "engine/token_trie.hpp"

namespace precis::engine {

class Tokenizer;

struct TokenMask {
  std::vector<uint64_t>
      bits;         // bit t: token t allowed (end tokens only when the value is complete)
  int allowed = 0;  // tokens set
  bool allows(int t) const { return (bits[t >> 6] >> (t & 63)) & 1; }
};

class TokenConstraint {
 public:
  TokenConstraint(std::shared_ptr<const JsonGrammar> grammar, std::shared_ptr<const TokenTrie> trie,
                  std::vector<int> end_ids);

  JsonState start() const { return recognizer_.start(); }
  // The tokens allowed next; `allowed == 0` means no token of the vocabulary can continue.
  // Thread-safe.
  std::shared_ptr<const TokenMask> mask(const JsonState& s);
  // Feeds `token`'s bytes. False when the token does not fit (or is an end token).
  bool advance(JsonState& s, int token) const;
  bool complete(const JsonState& s) const { return recognizer_.complete(s); }
  static bool closed(const JsonState& s) { return JsonRecognizer::closed(s); }
  const JsonGrammar& grammar() const { return *grammar_; }

 private:
  std::shared_ptr<TokenMask> compute(const JsonState& s) const;

  std::shared_ptr<const JsonGrammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  std::vector<int> end_ids_;
  JsonRecognizer recognizer_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const TokenMask>> cache_;
};

// Bound constraints by grammar key, for one vocabulary; builds the vocabulary's trie on first use
// (so engines that never constrain pay nothing). Keeps the most recent few grammars.
class ConstraintCache {
 public:
  ConstraintCache(const Tokenizer& tok, std::vector<int> end_ids);
  std::shared_ptr<TokenConstraint> get(const std::shared_ptr<const JsonGrammar>& grammar);

 private:
  const Tokenizer& tok_;
  std::vector<int> end_ids_;
  std::shared_ptr<const TokenTrie> trie_;
  std::map<std::string, std::pair<uint64_t, std::shared_ptr<TokenConstraint>>> bound_;
  uint64_t uses_ = 0;
};

// Sets logits of tokens the mask does not allow to -infinity.
void apply_token_mask(std::vector<float>& logits, const TokenMask& mask);

}  // namespace precis::engine
