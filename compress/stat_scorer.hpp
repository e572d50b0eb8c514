// The model-free scorer: a unit's importance from in-prompt statistics (term rarity across the
// prompt's sentences, repeats, position, capitalisation), the corpus prior that marks function
// words, and, when there is a question, overlap with the question's terms.
#pragma once

#include "compress/scorer.hpp"

namespace precis::compression {

class StatScorer : public Scorer {
 public:
  void begin(const TokenizedText& text, const std::vector<Unit>& units,
             std::string_view question) override;
  std::vector<float> score_segment(std::span<const int> units) override;
  void commit(std::span<const int>, const std::vector<char>&) override {}
  // Every token of a unit carries the unit's score.
  double unit_score(std::span<const float> token_scores) const override;
  bool conditional() const override { return false; }

  // Per unit, after begin(); exposed for tests.
  const std::vector<double>& unit_scores() const { return scores_; }

 private:
  const std::vector<Unit>* units_ = nullptr;
  std::vector<double> scores_;
};

// Score of each unit of `units` (see StatScorer), computed in one pass.
std::vector<double> stat_unit_scores(const TokenizedText& text, const std::vector<Unit>& units,
                                     std::string_view question);

}  // namespace precis::compression
