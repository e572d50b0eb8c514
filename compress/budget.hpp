// The final say on the budget: the output is re-tokenised (dropping words can change how the
// neighbours tokenise), and units are dropped or re-added by score until the count of the
// output text itself is on target.
#pragma once

#include <string>
#include <vector>

#include "compress/text_units.hpp"

namespace precis::engine {
class Tokenizer;
}

namespace precis::compression {

struct FittedText {
  std::string text;
  int tokens = 0;          // tokens of `text`, as the tokenizer encodes it (no BOS)
  std::vector<char> kept;  // per unit
};

FittedText render(const engine::Tokenizer& tokenizer, const TokenizedText& text,
                  const std::vector<Unit>& units, std::vector<char> kept);

// Starting from `kept`, moves the token count of the joined text towards `target`: drops the
// lowest-scoring kept droppable units of `order` when over, re-adds the highest-scoring dropped
// ones when under. Returns the closest result found.
FittedText fit_to_target(const engine::Tokenizer& tokenizer, const TokenizedText& text,
                         const std::vector<Unit>& units, const std::vector<int>& order,
                         const std::vector<char>& is_protected, const std::vector<double>& score,
                         std::vector<char> kept, int target);

}  // namespace precis::compression
