// Code-form plans (the CodePlan idea): before the answer is written, a short Python-like
// pseudo-code plan lays out steps, conditions, loops and intermediate values, and is placed into
// the final prompt. Public API of planner/.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace precis::engine {
class Engine;
class Tokenizer;
}  // namespace precis::engine

namespace precis {

// Which planner writes a plan, chosen once at configuration (and per request by precis.plan).
// templated ("template"): built from the request's own text, no model. lm ("lm"): asked of a
// model through PlanContext::generate, checked, retried once cooler, and replaced by the template
// plan on failure. none ("none"): no plan (the pipeline's choice; make_plan refuses it).
enum class PlannerKind { none, templated, lm };
// What a request asks for, as the template planner recognises it (see task_kinds()).
enum class TaskKind {
  arithmetic,
  multi_hop,
  code_change,
  code,  // new code asked for: signature, steps, edge cases, a test
  summary,
  extraction,
  multi_part,
  general
};
// The names the config file, the HTTP API, the CLI and printed results use.
std::string_view to_string(PlannerKind kind);
std::string_view to_string(TaskKind kind);
// The kind named `name`; nullopt for any other text (callers name the field in their error).
std::optional<PlannerKind> parse_planner_kind(std::string_view name);
std::optional<TaskKind> parse_task_kind(std::string_view name);
// Every accepted planner name ("none", "template", "lm").
const std::vector<std::string>& planner_kind_names();

struct PlanOptions {
  PlannerKind planner = PlannerKind::templated;  // templated or lm
  // When the pipeline plans: "auto" (for the task kinds a plan helps: arithmetic, multi_hop,
  // code_change, code; and only for requests of at least min_request_tokens), "always" or "never".
  // A request's own precis.plan overrides it. make_plan itself always plans.
  std::string when = "auto";
  int min_request_tokens = 24;
  // The plan never exceeds this many tokens (counted by PlanContext::count_tokens); the pipeline
  // also keeps it to at most half the request's tokens (at least 32).
  int budget_tokens = 160;
  // Where render_prompt puts the plan: "before_question", "system" or "answer_prefix".
  std::string placement = "before_question";
  // lm planner: sampling temperature of the first attempt; the retry uses half of it.
  float temperature = 0.7f;
  // lm planner: seed of the first attempt; the retry uses seed + 1.
  uint64_t seed = 0;
  // Grammar bound on the plan's length in lines (see check_plan).
  int max_lines = 40;
  // lm planner: the model writes under a GBNF grammar of plans (PlanGenerateRequest::grammar),
  // so even a small model's plan has the shape check_plan accepts; false: free text, checked
  // afterwards (and replaced by the template plan when it fails).
  bool lm_grammar = true;

  // Throws std::invalid_argument naming the bad field.
  void validate() const;
};

// What the lm planner asks of a model. `stop` strings end the generation (not included).
struct PlanGenerateRequest {
  std::string prompt;
  float temperature = 0.0f;
  int max_tokens = 0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  // When not empty, a GBNF grammar (llama.cpp's format) the continuation must follow.
  std::string grammar;
};

// Returns the model's raw continuation of request.prompt; may throw (the planner then falls
// back to the template plan and records the message).
using PlanGenerateFn = std::function<std::string(const PlanGenerateRequest& request)>;
// Number of tokens of a text, without BOS.
using TokenCounter = std::function<int(const std::string& text)>;

struct PlanContext {
  PlanGenerateFn generate;    // needed by the "lm" planner only
  TokenCounter count_tokens;  // empty: estimate_plan_tokens
};

struct Plan {
  std::string code;  // the pseudo-code; empty when the budget cannot hold any plan
  PlannerKind planner_used = PlannerKind::none;  // templated or lm; none: no plan made
  std::optional<TaskKind> task_kind;             // nullopt: the request was not analysed
  bool fell_back = false;  // "lm" was asked for but "template" produced the plan
  std::string fallback_reason;
  int tokens = 0;    // of `code`, by the context's counter
  int attempts = 0;  // model calls made (lm planner: 0, 1 or 2)
  std::string note;  // e.g. why the plan is empty or was shortened
};

// Plans how to answer `request`. Throws std::invalid_argument for bad options, or for the "lm"
// planner without a generate callback. Model failures never throw: they fall back.
Plan make_plan(const std::string& request, const PlanOptions& options,
               const PlanContext& context = {});

// Whether `when` == "auto" plans for a task kind (arithmetic, multi_hop, code_change, code).
bool plan_helps(TaskKind kind);

// The names of the task kinds the template planner recognises: "arithmetic", "multi_hop",
// "code_change", "code", "summary", "extraction", "multi_part", "general".
const std::vector<std::string>& task_kinds();

// ---- grammar ---------------------------------------------------------------------------------

inline constexpr int kMaxPlanLineChars = 120;

struct PlanCheck {
  bool ok = false;
  int line = 0;       // 1-based line of the first problem (0 when ok or for whole-plan problems)
  std::string error;  // "line 3: ..." ; empty when ok
};

// The pseudo-code grammar plans must follow. Accepted statements: `def NAME(args):`,
// `for TARGETS in EXPR:`, `while EXPR:`, `if EXPR:`, `elif EXPR:`, `else:`, `return [EXPR]`,
// `pass`, `break`, `continue`, assignments (`name = `, `a.b = `, `a[i] = `, `a, b = `, `+=` ...)
// and calls (`f(...)`, `obj.method(...)`), plus `# comments` and blank lines. Indentation is
// spaces in one consistent step; a line ending in ':' opens a block that the next code line
// must indent into; dedents only return to levels that were opened. Brackets and quotes balance
// on each line, expressions do not juxtapose two terms (so prose fails), lines are at most
// kMaxPlanLineChars long and the plan at most `max_lines` lines.
PlanCheck check_plan(const std::string& code, int max_lines = 40);

// ---- prompt assembly -------------------------------------------------------------------------

// Templates for the three placements. "{plan}" is replaced by the plan's code and "{prompt}"
// by the prompt (substitution is single-pass: text inside the plan is never re-expanded).
struct PlanTemplates {
  // The whole user text: the plan, then the prompt.
  std::string before_question =
      "Plan for the answer, as pseudo-code:\n```python\n{plan}\n```\n\n{prompt}";
  // A system message; the prompt stays the user text unchanged.
  std::string system =
      "Before answering, follow this plan, written as pseudo-code:\n```python\n{plan}\n```";
  // The beginning of the answer; the model continues after it.
  std::string answer_prefix = "Plan:\n```python\n{plan}\n```\nAnswer:";
};

struct RenderedPrompt {
  std::string system;         // system message (may be empty)
  std::string user;           // user text
  std::string answer_prefix;  // text the assistant's answer starts with (may be empty)
  // One completion-style prompt: system, user and answer prefix joined by blank lines.
  std::string text() const;
};

// Places `plan` into `prompt` as `placement` says. An empty plan leaves the prompt unchanged.
// Throws std::invalid_argument for an unknown placement or a template without "{plan}".
RenderedPrompt render_plan(const std::string& prompt, const Plan& plan,
                           const std::string& placement, const PlanTemplates& templates = {});
// render_plan(...).text(): for completion-style generation (the embedded engine).
std::string render_prompt(const std::string& prompt, const Plan& plan, const std::string& placement,
                          const PlanTemplates& templates = {});

// ---- helpers ---------------------------------------------------------------------------------

// A model-free token estimate for when no tokenizer is at hand: about one token per 4 letters
// or digits of a word, one per punctuation mark, one per line break.
int estimate_plan_tokens(const std::string& text);
// Counts with a SentencePiece tokenizer (no BOS). The tokenizer must outlive the counter.
TokenCounter tokenizer_counter(const engine::Tokenizer& tokenizer);
// generate + count_tokens on the embedded engine. max_tokens is clamped to the room left in the
// model's context window. Not thread-safe (as Engine); the engine must outlive the context.
PlanContext engine_plan_context(engine::Engine& engine);

}  // namespace precis
