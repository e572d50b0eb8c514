// Fine level: choose which units to keep, segment by segment. Each segment is scored
// conditioned on the units already kept (for the LM scorer), protected units are counted
// first, and the rest are taken by score so that the running kept count tracks the target rate.
#pragma once

#include <string_view>
#include <vector>

#include "compress/scorer.hpp"
#include "compress/text_units.hpp"

namespace precis::compression {

struct FineSelection {
  std::vector<char> kept;     // per unit of the prompt (units outside `order` stay 0)
  std::vector<double> score;  // per unit, for the units in `order`
};

// `order`: the units in play (ascending; units of contexts dropped at the coarse level are left
// out). `target_tokens`: what all kept units should add up to, protected ones included.
// `rate_shift` (per unit, or empty for none): added to each unit's keep rate, in [-1, 1]; the
// common base rate is solved so that the rates still add up to the budget.
FineSelection select_units(Scorer& scorer, const TokenizedText& text,
                           const std::vector<Unit>& units, const std::vector<int>& order,
                           const std::vector<char>& is_protected, int target_tokens,
                           int iterative_size, std::string_view question,
                           const std::vector<double>& rate_shift = {});

// Adds candidates (best first) until their tokens reach `goal`; a unit that overshoots is
// taken only when that lands closer to the goal than stopping short. Returns the tokens taken.
int take_towards(const std::vector<int>& candidates, const std::vector<Unit>& units, int goal,
                 std::vector<char>& flags, char value);

}  // namespace precis::compression
