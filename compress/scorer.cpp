#include "compress/scorer.hpp"

#include <stdexcept>

#include "compress/lm_scorer.hpp"
#include "compress/stat_scorer.hpp"

namespace precis::compression {

std::unique_ptr<Scorer> make_scorer(const std::string& name, engine::Engine* engine) {
  if (name == "stat") return std::make_unique<StatScorer>();
  if (name == "lm") {
    if (!engine) throw std::invalid_argument("scorer: \"lm\" needs a model (an engine)");
    return std::make_unique<LmScorer>(*engine);
  }
  throw std::invalid_argument("scorer: expected \"lm\" or \"stat\", got \"" + name + "\"");
}

}  // namespace precis::compression
