#include "compress/token_compressor.hpp"

#include <algorithm>
#include <cmath>

namespace precis::compression {

int take_towards(const std::vector<int>& candidates, const std::vector<Unit>& units, int goal,
                 std::vector<char>& flags, char value) {
  int taken = 0;
  for (int u : candidates) {
    if (taken >= goal) break;
    const int n = units[u].tokens();
    if (n == 0) continue;
    if (taken + n <= goal || taken + n - goal < goal - taken) {
      flags[u] = value;
      taken += n;
    }
  }
  return taken;
}

FineSelection select_units(Scorer& scorer, const TokenizedText& text,
                           const std::vector<Unit>& units, const std::vector<int>& order,
                           const std::vector<char>& is_protected, int target_tokens,
                           int iterative_size, std::string_view question) {
  FineSelection sel;
  sel.kept.assign(units.size(), 0);
  sel.score.assign(units.size(), 0.0);
  long protected_tokens = 0, droppable_tokens = 0;
  for (int u : order) (is_protected[u] ? protected_tokens : droppable_tokens) += units[u].tokens();
  // The same fraction of droppable text is kept throughout, so no part of the prompt is
  // squeezed harder than another just because of where it sits.
  const double rate =
      droppable_tokens == 0
          ? 0.0
          : std::clamp(static_cast<double>(target_tokens - protected_tokens) / droppable_tokens,
                       0.0, 1.0);

  scorer.begin(text, units, question);
  // A scorer that ignores the kept prefix is best served by one global threshold.
  const size_t seg_tokens = scorer.conditional() ? static_cast<size_t>(std::max(1, iterative_size))
                                                 : static_cast<size_t>(-1);
  long seen_droppable = 0, kept_droppable = 0;
  for (size_t at = 0; at < order.size();) {
    // Segment: whole units, at least one, up to seg_tokens tokens.
    size_t end = at, tokens = 0;
    while (end < order.size() && (end == at || tokens + units[order[end]].tokens() <= seg_tokens))
      tokens += units[order[end++]].tokens();
    const std::span<const int> seg(order.data() + at, end - at);

    const std::vector<float> token_scores = scorer.score_segment(seg);
    std::vector<int> candidates;
    size_t pos = 0;
    for (int u : seg) {
      const size_t n = units[u].tokens();
      sel.score[u] = scorer.unit_score(std::span<const float>(token_scores.data() + pos, n));
      pos += n;
      if (is_protected[u]) {
        sel.kept[u] = 1;
      } else {
        seen_droppable += units[u].tokens();
        candidates.push_back(u);
      }
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](int a, int b) { return sel.score[a] > sel.score[b]; });
    const long goal = std::lround(rate * seen_droppable) - kept_droppable;
    if (goal > 0) kept_droppable += take_towards(candidates, units, goal, sel.kept, 1);

    std::vector<char> seg_kept;
    for (int u : seg) seg_kept.push_back(sel.kept[u]);
    scorer.commit(seg, seg_kept);
    at = end;
  }
  return sel;
}

}  // namespace precis::compression
