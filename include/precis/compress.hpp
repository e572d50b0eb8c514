// Prompt compression: keep the most informative tokens of a prompt under a budget, never
// dropping protected text. Public API of compress/.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "precis/token_logprobs.hpp"

namespace precis::engine {
class Tokenizer;
}  // namespace precis::engine

namespace precis {

// How tokens are scored, chosen once at configuration. "lm": self-information under the engine's
// model (needs an Engine); "stat": model-free.
enum class ScorerKind { stat, lm };
// "stat" or "lm": the names the config file, the CLI and printed results use.
std::string_view to_string(ScorerKind kind);
// The kind named `name`; nullopt for any other text (callers name the field in their error).
std::optional<ScorerKind> parse_scorer_kind(std::string_view name);
// Every accepted name, in declaration order.
const std::vector<std::string>& scorer_kind_names();

struct CompressOptions {
  // Budget: exactly one of these (rate = kept tokens / original tokens, in (0, 1]).
  std::optional<double> rate;
  std::optional<int> target_tokens;

  // Protected and never dropped; the question also drives question-aware context ranking.
  std::string question;
  std::string instruction;

  // The prompt's contexts/documents/demonstrations. When empty, the prompt is split on blank
  // lines. Contexts are ranked and the lowest dropped first (coarse level), then tokens
  // (fine level). When both are given, the prompt's contexts come first, then these.
  std::vector<std::string> contexts;

  // Tokens/strings that are always kept wherever they occur as whole words (e.g. "\n", "?",
  // "."). Like numbers, they guard against token-level dropping; the coarse level may still drop
  // a whole context holding them (text between keep markers and code fences pin theirs).
  std::vector<std::string> force_tokens;
  // Text between these markers is kept verbatim; the markers themselves are removed.
  std::string keep_open = "<keep>";
  std::string keep_close = "</keep>";
  bool keep_numbers = true;
  // Keep fenced code blocks, and JSON keys, brackets and punctuation, so structure parses.
  bool keep_structure = false;

  // Fine level: tokens are scored in segments of this many tokens, each conditioned on the
  // already-compressed text before it.
  int iterative_size = 200;
  ScorerKind scorer = ScorerKind::stat;
  // Coarse level: fraction of the budget the context-level step aims for before token-level
  // compression (LongLLMLingua's dynamic ratio); 0 disables dropping whole contexts.
  double context_level_slack = 0.3;
  // Fine level: how much more of its tokens the best-ranked context keeps than the budget's
  // rate, and how much less the worst-ranked, the ones between linearly by rank (LLMLingua's
  // dynamic_context_compression_ratio), in [0, 1]. The total still lands on the budget. 0: every
  // context keeps the same fraction. 0.3 (LongLLMLingua's setting) took the default model's
  // answers at rate 0.5 from 28 to 34 of 120 questions (bench/e2e_eval, 2026-12-07).
  double context_rate_spread = 0.3;

  // Throws std::invalid_argument naming the bad field.
  void validate() const;
};

struct CompressResult {
  // The compressed prompt: instruction, contexts, then question, separated by blank lines.
  std::string text;
  // The original prompt's tokens (SentencePiece pieces), laid out as `text` is, keep markers
  // removed.
  std::vector<std::string> pieces;
  std::vector<bool> kept;  // per original token
  int original_tokens = 0;
  int compressed_tokens = 0;
  double ratio = 1.0;  // compressed / original
  double seconds = 0.0;
  // Empty when the target was met within 5%; otherwise why not (e.g. protected text alone
  // exceeds the budget).
  std::string note;
};

// Compresses `prompt`. `tokenizer` counts and splits tokens; `model` scores for the "lm" scorer
// (the embedded engine::Engine is one; null is fine for "stat"), with the same tokenizer.
CompressResult compress(const std::string& prompt, const CompressOptions& options,
                        const engine::Tokenizer& tokenizer, TokenLogprobModel* model = nullptr);

}  // namespace precis
