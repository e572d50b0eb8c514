#include "engine/token_constraint.hpp"

#include <algorithm>
#include <bit>
#include <limits>

#include "engine/tokenizer.hpp"

namespace precis::engine {

namespace {

// Masks are a vocabulary's worth of bits each (6 KiB for 49k tokens); past this many bytes of
// masks a grammar's cache starts over rather than grow without bound (16 MiB: some 2,700 states
// of a 49k vocabulary, far more than a typical output visits).
constexpr size_t kMaxCachedMaskBytes = size_t{16} << 20;
constexpr size_t kMaxBoundGrammars = 8;

}  // namespace

template <class G, class R, class S>
BasicTokenConstraint<G, R, S>::BasicTokenConstraint(std::shared_ptr<const G> grammar,
                                                    std::shared_ptr<const TokenTrie> trie,
                                                    std::vector<int> end_ids)
    : grammar_(std::move(grammar)),
      trie_(std::move(trie)),
      end_ids_(std::move(end_ids)),
      recognizer_(*grammar_) {}

template <class G, class R, class S>
std::shared_ptr<const TokenMask> BasicTokenConstraint<G, R, S>::mask(const S& s) {
  std::string key = s.key();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  std::shared_ptr<const TokenMask> m = compute(s);
  std::lock_guard<std::mutex> lock(mu_);
  if ((cache_.size() + 1) * m->bits.size() * sizeof(uint64_t) > kMaxCachedMaskBytes) cache_.clear();
  cache_.emplace(std::move(key), m);
  return m;
}

template <class G, class R, class S>
std::shared_ptr<TokenMask> BasicTokenConstraint<G, R, S>::compute(const S& s) const {
  auto m = std::make_shared<TokenMask>();
  const int vocab = trie_->vocab_size();
  m->bits.assign((static_cast<size_t>(vocab) + 63) / 64, 0);
  const auto& nodes = trie_->nodes();
  // states[d]: the state after the first d bytes of the branch being scanned. Assigning into
  // these reuses their stacks' storage, so the scan allocates nothing after the first nodes.
  thread_local std::vector<S> states;
  if (states.size() < static_cast<size_t>(trie_->max_depth()) + 1)
    states.resize(static_cast<size_t>(trie_->max_depth()) + 1);
  states[0] = s;
  for (size_t i = 1; i < nodes.size();) {
    const TokenTrie::Node& n = nodes[i];
    S& st = states[n.depth];
    st = states[n.depth - 1];
    if (!recognizer_.feed(st, n.byte)) {
      i = n.end;  // no token starting with these bytes fits
      continue;
    }
    const int* ids = trie_->tokens(n);
    for (uint32_t k = 0; k < n.count; ++k) m->bits[ids[k] >> 6] |= uint64_t{1} << (ids[k] & 63);
    ++i;
  }
  if (recognizer_.complete(s))
    for (int t : end_ids_)
      if (t >= 0 && t < vocab) m->bits[t >> 6] |= uint64_t{1} << (t & 63);
  for (uint64_t w : m->bits) m->allowed += std::popcount(w);
  return m;
}

template <class G, class R, class S>
bool BasicTokenConstraint<G, R, S>::advance(S& s, int token) const {
  if (token < 0 || token >= trie_->vocab_size()) return false;
  const std::string& b = trie_->bytes(token);
  return !b.empty() && recognizer_.feed(s, b);
}

ConstraintCache::ConstraintCache(const Tokenizer& tok, std::vector<int> end_ids)
    : tok_(tok), end_ids_(std::move(end_ids)) {}

template class BasicTokenConstraint<JsonGrammar, JsonRecognizer, JsonState>;
template class BasicTokenConstraint<GbnfGrammar, GbnfRecognizer, GbnfState>;

template <class Bound, class Grammar>
std::shared_ptr<Bound> ConstraintCache::get_bound(
    std::map<std::string, std::pair<uint64_t, std::shared_ptr<Bound>>>& bound,
    const std::shared_ptr<const Grammar>& grammar) {
  if (!trie_) trie_ = std::make_shared<const TokenTrie>(TokenTrie::from_tokenizer(tok_));
  auto& slot = bound[grammar->key];
  slot.first = ++uses_;
  if (!slot.second) {
    slot.second = std::make_shared<Bound>(grammar, trie_, end_ids_);
    if (bound.size() > kMaxBoundGrammars) {
      // Forget the least recently used grammar (requests still running keep theirs alive).
      auto oldest = bound.begin();
      for (auto it = bound.begin(); it != bound.end(); ++it)
        if (it->second.first < oldest->second.first) oldest = it;
      bound.erase(oldest);  // never `slot`: it was used last
    }
  }
  return bound[grammar->key].second;
}

std::shared_ptr<TokenConstraint> ConstraintCache::get(
    const std::shared_ptr<const JsonGrammar>& grammar) {
  return get_bound(bound_, grammar);
}

std::shared_ptr<GbnfTokenConstraint> ConstraintCache::get(
    const std::shared_ptr<const GbnfGrammar>& grammar) {
  return get_bound(bound_gbnf_, grammar);
}

void apply_token_mask(std::vector<float>& logits, const TokenMask& mask) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const size_t n = logits.size();
  for (size_t w = 0; w < mask.bits.size(); ++w) {
    const uint64_t bits = mask.bits[w];
    if (bits == ~uint64_t{0}) continue;
    const size_t end = std::min(n, (w + 1) * 64);
    for (size_t t = w * 64; t < end; ++t)
      if (!((bits >> (t - w * 64)) & 1)) logits[t] = kNegInf;
  }
  // Ids past the tokenizer's vocabulary (a model may pad its embedding) are never text.
  for (size_t t = mask.bits.size() * 64; t < n; ++t) logits[t] = kNegInf;
}

}  // namespace precis::engine
