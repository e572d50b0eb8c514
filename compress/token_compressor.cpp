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

namespace {

double clamp01(double v) {
  return std::clamp(v, 0.0, 1.0);
}

// The base rate b with sum over droppable units of clamp(b + shift, 0, 1) x tokens equal to
// `goal` (the function rises with b, so bisection finds it; at shift 0 everywhere this is
// goal / droppable). Each unit then keeps clamp(b + its shift) of its context's tokens.
double base_rate(const std::vector<int>& order, const std::vector<Unit>& units,
                 const std::vector<char>& is_protected, const std::vector<double>& shift,
                 double goal) {
  auto kept_at = [&](double b) {
    double sum = 0.0;
    for (int u : order)
      if (!is_protected[u]) sum += clamp01(b + shift[u]) * units[u].tokens();
    return sum;
  };
  double lo = -1.0, hi = 2.0;  // shifts lie in [-1, 1]: every unit at 0 at lo, at 1 at hi
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (kept_at(mid) < goal ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

FineSelection select_units(Scorer& scorer, const TokenizedText& text,
                           const std::vector<Unit>& units, const std::vector<int>& order,
                           const std::vector<char>& is_protected, int target_tokens,
                           int iterative_size, std::string_view question,
                           const std::vector<double>& rate_shift) {
  FineSelection sel;
  sel.kept.assign(units.size(), 0);
  sel.score.assign(units.size(), 0.0);
  long protected_tokens = 0, droppable_tokens = 0;
  for (int u : order) (is_protected[u] ? protected_tokens : droppable_tokens) += units[u].tokens();
  const double goal_tokens = std::clamp(static_cast<double>(target_tokens - protected_tokens), 0.0,
                                        static_cast<double>(droppable_tokens));

  // Each unit's rate: without shifts the same fraction of droppable text is kept throughout, so
  // no part of the prompt is squeezed harder than another just because of where it sits; with
  // them (better-ranked contexts keep more) the rates still add up to the budget. Units of one
  // rate form a class, and each class's running kept count tracks its own rate, so a segment
  // spanning two contexts keeps each at its rate; with no shifts there is one class.
  std::vector<int> rate_class(units.size(), 0);
  std::vector<double> class_rate;
  if (droppable_tokens > 0) {
    const bool shifted =
        std::any_of(rate_shift.begin(), rate_shift.end(), [](double v) { return v != 0.0; });
    const double base = shifted ? base_rate(order, units, is_protected, rate_shift, goal_tokens)
                                : goal_tokens / static_cast<double>(droppable_tokens);
    for (int u : order) {
      if (is_protected[u]) continue;
      const double rate = clamp01(base + (shifted ? rate_shift[u] : 0.0));
      auto it = std::find(class_rate.begin(), class_rate.end(), rate);
      rate_class[u] = static_cast<int>(it - class_rate.begin());
      if (it == class_rate.end()) class_rate.push_back(rate);
    }
  }
  std::vector<long> seen_droppable(class_rate.size(), 0), kept_droppable(class_rate.size(), 0);

  scorer.begin(text, units, question);
  // A scorer that ignores the kept prefix is best served by one global threshold.
  const size_t seg_tokens = scorer.conditional() ? static_cast<size_t>(std::max(1, iterative_size))
                                                 : static_cast<size_t>(-1);
  for (size_t at = 0; at < order.size();) {
    // Segment: whole units, at least one, up to seg_tokens tokens.
    size_t end = at, tokens = 0;
    while (end < order.size() && (end == at || tokens + units[order[end]].tokens() <= seg_tokens))
      tokens += units[order[end++]].tokens();
    const std::span<const int> seg(order.data() + at, end - at);

    const std::vector<float> token_scores = scorer.score_segment(seg);
    std::vector<std::vector<int>> candidates(class_rate.size());
    size_t pos = 0;
    for (int u : seg) {
      const size_t n = units[u].tokens();
      sel.score[u] = scorer.unit_score(std::span<const float>(token_scores.data() + pos, n));
      pos += n;
      if (is_protected[u]) {
        sel.kept[u] = 1;
      } else {
        seen_droppable[rate_class[u]] += units[u].tokens();
        candidates[rate_class[u]].push_back(u);
      }
    }
    for (size_t c = 0; c < class_rate.size(); ++c) {
      if (candidates[c].empty()) continue;
      std::stable_sort(candidates[c].begin(), candidates[c].end(),
                       [&](int a, int b) { return sel.score[a] > sel.score[b]; });
      const long goal = std::lround(class_rate[c] * seen_droppable[c]) - kept_droppable[c];
      if (goal > 0) kept_droppable[c] += take_towards(candidates[c], units, goal, sel.kept, 1);
    }

    std::vector<char> seg_kept;
    for (int u : seg) seg_kept.push_back(sel.kept[u]);
    scorer.commit(seg, seg_kept);
    at = end;
  }
  return sel;
}

}  // namespace precis::compression
