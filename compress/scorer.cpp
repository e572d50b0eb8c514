#include "compress/scorer.hpp"

#include <stdexcept>

#include "compress/lm_scorer.hpp"
#include "compress/stat_scorer.hpp"

namespace precis::compression {

std::unique_ptr<Scorer> make_scorer(ScorerKind kind, TokenLogprobModel* engine) {
  switch (kind) {
    case ScorerKind::stat:
      return std::make_unique<StatScorer>();
    case ScorerKind::lm:
      if (!engine) throw std::invalid_argument("scorer: \"lm\" needs a model (an engine)");
      return std::make_unique<LmScorer>(*engine);
  }
  throw std::invalid_argument("scorer: not a ScorerKind (" +
                              std::to_string(static_cast<int>(kind)) + ")");
}

}  // namespace precis::compression
