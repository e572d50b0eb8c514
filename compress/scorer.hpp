// The token-importance interface the fine level drives: segments of the prompt are scored in
// order, and after each the compressor tells the scorer which units it kept, so a scorer that
// conditions on the kept text (the LM) scores the next segment against the compressed prefix.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compress/text_units.hpp"
#include "precis/compress.hpp"

namespace precis::compression {

class Scorer {
 public:
  virtual ~Scorer() = default;

  // Called once per prompt, before any segment. `question` may be empty.
  virtual void begin(const TokenizedText& text, const std::vector<Unit>& units,
                     std::string_view question) = 0;
  // Importance of every token of the given units (in order, concatenated), conditioned on the
  // units committed as kept so far.
  virtual std::vector<float> score_segment(std::span<const int> units) = 0;
  // The compressor's choice for the units just scored (kept[i] for units[i]).
  virtual void commit(std::span<const int> units, const std::vector<char>& kept) = 0;
  // A unit's importance from its tokens' importances.
  virtual double unit_score(std::span<const float> token_scores) const = 0;
  // False when scores do not depend on what was kept before: the compressor then selects over
  // the whole prompt at once instead of forcing the same rate on every segment.
  virtual bool conditional() const = 0;
};

// The scorer of `kind`; lm needs `engine` (std::invalid_argument without it).
std::unique_ptr<Scorer> make_scorer(ScorerKind kind, TokenLogprobModel* engine);

}  // namespace precis::compression
