// compress() with a look inside: what the coarse and fine levels decided, for tests and the
// evaluation bench.
#pragma once

#include <vector>

#include "compress/lm_scorer.hpp"
#include "precis/compress.hpp"

namespace precis::compression {

struct CompressDetail {
  int contexts = 0;                    // contexts the prompt was split into
  std::vector<double> context_scores;  // coarse ranking (empty when it did not run)
  std::vector<int> dropped_contexts;   // indices of the contexts dropped whole
  // Per context, in prompt order: its droppable (unprotected) tokens, and how many of them the
  // output keeps.
  std::vector<int> context_droppable_tokens, context_kept_tokens;
  int protected_tokens = 0;            // tokens of the protected-only text
  int target_tokens = 0;               // the budget, in tokens
  std::vector<SegmentTrace> segments;  // lm scorer: every scoring call of the fine level
};

CompressResult compress_detailed(const std::string& prompt, const CompressOptions& options,
                                 const engine::Tokenizer& tokenizer, TokenLogprobModel* engine,
                                 CompressDetail* detail);

}  // namespace precis::compression
