// What the evaluation benchmarks share: data/eval/qa.jsonl's items (a question whose answer is
// in one of several passages) and the two baselines that shorten the passages to a token budget
// without a model, so compress_eval (does the answer survive?) and e2e_eval (does the model
// still answer?) compare compression against the same baselines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tokenizer.hpp"

namespace precis::bench {

struct EvalItem {
  std::string id, source, question, answer;
  std::vector<std::string> aliases;  // other right answers ("22" for "two and twenty")
  std::vector<std::string> contexts;
};

// The items of a JSON-lines file; throws std::runtime_error naming the file and line.
std::vector<EvalItem> load_eval_items(const std::string& path);

struct TokenizedItem {
  std::vector<std::vector<int>> contexts;
  int question = 0;  // tokens
  int total = 0;     // contexts + question
};
TokenizedItem tokenize_item(const engine::Tokenizer& tok, const EvalItem& it);

// The passages shortened to rate x (contexts + question) tokens less the question's (which is
// always kept), as text: passages joined by blank lines.
struct Shortened {
  std::string contexts_text;
  int original_tokens = 0;  // contexts + question
  int kept_tokens = 0;      // kept context tokens + question
};
// Keeps the first tokens of the passages, in order (truncation).
Shortened keep_first_tokens(const engine::Tokenizer& tok, const EvalItem& it, double rate);
// Keeps a uniformly random subset of the passages' tokens (seeded), in order.
Shortened keep_random_tokens(const engine::Tokenizer& tok, const EvalItem& it, double rate,
                             uint64_t seed);

}  // namespace precis::bench
