#include "compress/budget.hpp"

#include <algorithm>
#include <cstdlib>

#include "compress/token_compressor.hpp"
#include "engine/tokenizer.hpp"

namespace precis::compression {

FittedText render(const engine::Tokenizer& tokenizer, const TokenizedText& text,
                  const std::vector<Unit>& units, std::vector<char> kept) {
  FittedText f;
  f.text = join_units(text.text, units, kept);
  f.tokens = static_cast<int>(tokenizer.encode(f.text, false).size());
  f.kept = std::move(kept);
  return f;
}

FittedText fit_to_target(const engine::Tokenizer& tokenizer, const TokenizedText& text,
                         const std::vector<Unit>& units, const std::vector<int>& order,
                         const std::vector<char>& is_protected, const std::vector<double>& score,
                         std::vector<char> kept, int target) {
  // Aim well inside the 5% the caller promises; each round costs one encode of the output.
  const int tight = std::max(1, target / 100);
  constexpr int kRounds = 12;
  FittedText best = render(tokenizer, text, units, kept);
  FittedText cur = best;
  for (int round = 0; round < kRounds; ++round) {
    const int diff = cur.tokens - target;
    if (std::abs(diff) <= tight) break;
    std::vector<int> candidates;
    for (int u : order)
      if (!is_protected[u] && (cur.kept[u] != 0) == (diff > 0)) candidates.push_back(u);
    if (candidates.empty()) break;
    // Over: drop the least important kept units first; under: re-add the most important.
    std::stable_sort(candidates.begin(), candidates.end(), [&](int a, int b) {
      return diff > 0 ? score[a] < score[b] : score[a] > score[b];
    });
    std::vector<char> next = cur.kept;
    if (take_towards(candidates, units, std::abs(diff), next, diff > 0 ? 0 : 1) == 0) break;
    cur = render(tokenizer, text, units, std::move(next));
    if (std::abs(cur.tokens - target) < std::abs(best.tokens - target)) best = cur;
  }
  return best;
}

}  // namespace precis::compression
