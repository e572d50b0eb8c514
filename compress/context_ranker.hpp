// Coarse level: rank a prompt's contexts (documents, demonstrations) and choose which to drop
// whole before token-level compression. Higher score = more worth keeping.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "precis/token_logprobs.hpp"

namespace precis::compression {

// Without a question: information density (mean corpus self-information of the words). With
// one: the question's content terms found in the context, weighted by how rare each is among
// the contexts (IDF), so the context holding the question's rare terms ranks first.
std::vector<double> rank_contexts_stat(const std::vector<std::string>& contexts,
                                       std::string_view question);

// Without a question: log-perplexity of the context (LLMLingua keeps the most perplexing,
// i.e. least predictable, contexts). With one (LongLLMLingua): mean log p(question tokens |
// context), the contexts that make the question most likely first. `contexts` and `question`
// are token ids without BOS; contexts longer than the model's window are cut to their head.
std::vector<double> rank_contexts_lm(TokenLogprobModel& engine,
                                     const std::vector<std::vector<int>>& contexts,
                                     const std::vector<int>& question);

// Contexts to drop: lowest score first, while the tokens of the remaining ones exceed `limit`.
// A context whose removal would leave fewer than `floor` tokens is skipped (the budget could no
// longer be met); contexts with droppable[i] == 0 are never dropped, nor the last one left.
std::vector<int> choose_dropped_contexts(const std::vector<double>& score,
                                         const std::vector<int>& tokens,
                                         const std::vector<char>& droppable, double limit,
                                         double floor);

}  // namespace precis::compression
