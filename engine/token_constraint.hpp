// A grammar (a JSON Schema's, or a GBNF grammar) bound to a vocabulary: which tokens may come
// next in a given recognizer state (a bit mask over the vocabulary), and how a chosen token
// advances the state. Masks are cached
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

#include "engine/gbnf_grammar.hpp"
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

// One implementation for every recognizer with the same shape (start, feed, complete, closed):
// JsonRecognizer over a JsonGrammar, GbnfRecognizer over a GbnfGrammar.
template <class Grammar, class Recognizer, class State>
class BasicTokenConstraint {
 public:
  BasicTokenConstraint(std::shared_ptr<const Grammar> grammar,
                       std::shared_ptr<const TokenTrie> trie, std::vector<int> end_ids);

  State start() const { return recognizer_.start(); }
  // The tokens allowed next; `allowed == 0` means no token of the vocabulary can continue.
  // Thread-safe.
  std::shared_ptr<const TokenMask> mask(const State& s);
  // Feeds `token`'s bytes. False when the token does not fit (or is an end token).
  bool advance(State& s, int token) const;
  bool complete(const State& s) const { return recognizer_.complete(s); }
  static bool closed(const State& s) { return Recognizer::closed(s); }
  const Grammar& grammar() const { return *grammar_; }

 private:
  std::shared_ptr<TokenMask> compute(const State& s) const;

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  std::vector<int> end_ids_;
  Recognizer recognizer_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const TokenMask>> cache_;
};

using TokenConstraint = BasicTokenConstraint<JsonGrammar, JsonRecognizer, JsonState>;
using GbnfTokenConstraint = BasicTokenConstraint<GbnfGrammar, GbnfRecognizer, GbnfState>;

// Bound constraints by grammar key, for one vocabulary; builds the vocabulary's trie on first use
// (so engines that never constrain pay nothing). Keeps the most recent few grammars.
class ConstraintCache {
 public:
  ConstraintCache(const Tokenizer& tok, std::vector<int> end_ids);
  std::shared_ptr<TokenConstraint> get(const std::shared_ptr<const JsonGrammar>& grammar);
  std::shared_ptr<GbnfTokenConstraint> get(const std::shared_ptr<const GbnfGrammar>& grammar);

 private:
  template <class Bound, class Grammar>
  std::shared_ptr<Bound> get_bound(
      std::map<std::string, std::pair<uint64_t, std::shared_ptr<Bound>>>& bound,
      const std::shared_ptr<const Grammar>& grammar);

  const Tokenizer& tok_;
  std::vector<int> end_ids_;
  std::shared_ptr<const TokenTrie> trie_;
  std::map<std::string, std::pair<uint64_t, std::shared_ptr<TokenConstraint>>> bound_;
  std::map<std::string, std::pair<uint64_t, std::shared_ptr<GbnfTokenConstraint>>> bound_gbnf_;
  uint64_t uses_ = 0;
};

// Sets logits of tokens the mask does not allow to -infinity.
void apply_token_mask(std::vector<float>& logits, const TokenMask& mask);

}  // namespace precis::engine
