// Orchestration of compress(): lay the prompt out as sections (instruction, contexts,
// question), tokenise and group into units, mark protected units, drop whole contexts (coarse
// level), choose units segment by segment (fine level), then re-tokenise the output and fit it
// to the budget.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "compress/budget.hpp"
#include "compress/compress_detail.hpp"
#include "compress/context_ranker.hpp"
#include "compress/protected_spans.hpp"
#include "compress/scorer.hpp"
#include "compress/text_units.hpp"
#include "compress/token_compressor.hpp"
#include "compress/utf8_text.hpp"
#include "engine/tokenizer.hpp"

namespace precis {

void CompressOptions::validate() const {
  if (rate.has_value() == target_tokens.has_value())
    throw std::invalid_argument("rate/target_tokens: give exactly one of them");
  if (rate && !(*rate > 0.0 && *rate <= 1.0))
    throw std::invalid_argument("rate: must be in (0, 1], got " + std::to_string(*rate));
  if (target_tokens && *target_tokens < 1)
    throw std::invalid_argument("target_tokens: must be at least 1, got " +
                                std::to_string(*target_tokens));
  if (iterative_size < 1)
    throw std::invalid_argument("iterative_size: must be at least 1, got " +
                                std::to_string(iterative_size));
  if (scorer != ScorerKind::lm && scorer != ScorerKind::stat)
    throw std::invalid_argument("scorer: expected lm or stat, got ScorerKind " +
                                std::to_string(static_cast<int>(scorer)));
  if (!(context_level_slack >= 0.0 && std::isfinite(context_level_slack)))
    throw std::invalid_argument("context_level_slack: must be a finite number >= 0");
  if (!(context_rate_spread >= 0.0 && context_rate_spread <= 1.0))
    throw std::invalid_argument("context_rate_spread: must be in [0, 1], got " +
                                std::to_string(context_rate_spread));
  if (keep_open.empty() != keep_close.empty())
    throw std::invalid_argument(keep_open.empty() ? "keep_open: empty while keep_close is set"
                                                  : "keep_close: empty while keep_open is set");
}

namespace compression {

namespace {

enum class SectionKind { Instruction, Context, Question };

struct Section {
  size_t begin = 0, end = 0;
  SectionKind kind = SectionKind::Context;
};

// The prompt laid out as one text: instruction, contexts, question, separated by blank lines
// (LLMLingua's layout). Keep markers are removed here; what they enclosed is recorded.
struct Layout {
  std::string text;
  std::vector<Section> sections;
  std::vector<ByteRange> keep;  // between keep markers
};

// Ranges of `s` separated by blank (whitespace-only) lines.
std::vector<ByteRange> split_on_blank_lines(std::string_view s) {
  std::vector<ByteRange> out;
  size_t line = 0;
  bool open = false;
  size_t start = 0, last_end = 0;
  while (line <= s.size()) {
    size_t nl = s.find('\n', line);
    if (nl == std::string_view::npos) nl = s.size();
    bool blank = true;
    for (size_t i = line; i < nl; ++i)
      if (!is_ascii_space(s[i])) blank = false;
    if (blank) {
      if (open) out.push_back({start, last_end});
      open = false;
    } else {
      if (!open) start = line;
      open = true;
      last_end = nl;
    }
    line = nl + 1;
  }
  if (open) out.push_back({start, last_end});
  return out;
}

Layout lay_out(const std::string& prompt, const CompressOptions& o) {
  Layout l;
  auto separate = [&] {
    if (!l.text.empty()) l.text += "\n\n";
  };
  auto add_text = [&](std::string_view raw, bool split) {
    std::vector<ByteRange> keep;
    const std::string clean =
        strip_keep_markers(sanitize_utf8(raw), o.keep_open, o.keep_close, keep);
    const auto parts =
        split ? split_on_blank_lines(clean) : std::vector<ByteRange>{ByteRange{0, clean.size()}};
    if (parts.empty() || clean.find_first_not_of(" \t\r\n\v\f") == std::string::npos) return;
    separate();
    const size_t base = l.text.size();
    l.text += clean;
    for (const ByteRange& p : parts)
      l.sections.push_back({base + p.begin, base + p.end, SectionKind::Context});
    for (const ByteRange& k : keep) l.keep.push_back({base + k.begin, base + k.end});
  };
  const std::string instruction = sanitize_utf8(o.instruction);
  const std::string question = sanitize_utf8(o.question);
  if (!instruction.empty()) {
    l.text = instruction;
    l.sections.push_back({0, l.text.size(), SectionKind::Instruction});
  }
  add_text(prompt, true);
  for (const std::string& c : o.contexts) add_text(c, false);
  if (!question.empty()) {
    separate();
    l.sections.push_back({l.text.size(), l.text.size() + question.size(), SectionKind::Question});
    l.text += question;
  }
  return l;
}

// Section of each unit: the first section ending after the unit starts, so the whitespace
// between two sections goes with the one after it.
std::vector<int> unit_sections(const std::vector<Unit>& units, const std::vector<Section>& secs) {
  std::vector<int> out(units.size(), 0);
  size_t s = 0;
  for (size_t u = 0; u < units.size(); ++u) {
    const size_t pos = units[u].core < units[u].end ? units[u].core : units[u].begin;
    while (s + 1 < secs.size() && pos >= secs[s].end) ++s;
    out[u] = static_cast<int>(s);
  }
  return out;
}

bool overlaps(const ByteRange& r, const Section& s) {
  return r.begin < s.end && s.begin < r.end;
}

// Per unit, the keep-rate shift of its context by rank among the contexts still in play
// (LongLLMLingua's dynamic compression ratio): the best-ranked gets +spread, the worst -spread,
// the ones between linearly, ties in prompt order; units outside contexts get none.
std::vector<double> context_rate_shifts(const std::vector<double>& score,
                                        const std::vector<int>& contexts,
                                        const std::vector<char>& section_dropped,
                                        const std::vector<int>& section_of, double spread) {
  std::vector<int> ranked;  // indices into contexts, best first
  for (size_t i = 0; i < contexts.size(); ++i)
    if (!section_dropped[contexts[i]]) ranked.push_back(static_cast<int>(i));
  std::stable_sort(ranked.begin(), ranked.end(), [&](int a, int b) { return score[a] > score[b]; });
  std::vector<double> section_shift(section_dropped.size(), 0.0);
  const size_t n = ranked.size();
  for (size_t r = 0; n > 1 && r < n; ++r)
    section_shift[contexts[ranked[r]]] =
        spread * (1.0 - 2.0 * static_cast<double>(r) / static_cast<double>(n - 1));
  std::vector<double> shift(section_of.size());
  for (size_t u = 0; u < section_of.size(); ++u) shift[u] = section_shift[section_of[u]];
  return shift;
}

void check_lm_tokenizer(const engine::Tokenizer& tokenizer, TokenLogprobModel& engine) {
  const engine::Tokenizer& own = engine.tokenizer();
  bool same = own.vocab_size() == tokenizer.vocab_size();
  for (int id = 0; same && id < own.vocab_size(); id += std::max(1, own.vocab_size() / 64))
    same = own.piece(id) == tokenizer.piece(id);
  if (!same)
    throw std::invalid_argument(
        "scorer: \"lm\" needs the model's own tokenizer (the given one differs)");
}

}  // namespace

CompressResult compress_detailed(const std::string& prompt, const CompressOptions& options,
                                 const engine::Tokenizer& tokenizer, TokenLogprobModel* engine,
                                 CompressDetail* detail) {
  options.validate();
  if (options.scorer == ScorerKind::lm) {
    if (!engine) throw std::invalid_argument("scorer: \"lm\" needs a model (an engine)");
    check_lm_tokenizer(tokenizer, *engine);
  }
  const auto started = std::chrono::steady_clock::now();
  CompressDetail local;
  CompressDetail& d = detail ? *detail : local;
  d = CompressDetail{};
  CompressResult r;
  auto finish = [&](CompressResult& res) -> CompressResult {
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return std::move(res);
  };

  const Layout layout = lay_out(prompt, options);
  const TokenizedText tt = tokenize_aligned(tokenizer, layout.text);
  const std::vector<Unit> units = group_units(tt);
  r.original_tokens = static_cast<int>(tt.ids.size());
  for (int id : tt.ids) r.pieces.push_back(tokenizer.piece(id));
  r.kept.assign(tt.ids.size(), true);
  r.text = layout.text;
  r.compressed_tokens = r.original_tokens;
  if (tt.ids.empty()) return finish(r);

  const int target =
      options.rate ? std::max(1, static_cast<int>(std::lround(*options.rate * r.original_tokens)))
                   : *options.target_tokens;
  d.target_tokens = target;
  if ((options.rate && *options.rate >= 1.0) || target >= r.original_tokens) return finish(r);
  const double tolerance = std::max(1.0, 0.05 * target);

  // Protected units.
  std::vector<ByteRange> explicit_ranges = layout.keep;
  for (const Section& s : layout.sections)
    if (s.kind != SectionKind::Context) explicit_ranges.push_back({s.begin, s.end});
  ProtectionRules rules{options.force_tokens, options.keep_numbers, options.keep_structure};
  const std::vector<char> is_protected = protected_units(tt, units, explicit_ranges, rules);
  const std::vector<int> section_of = unit_sections(units, layout.sections);

  // Coarse level: drop whole contexts, lowest ranked first.
  std::vector<int> contexts;  // section indices
  for (size_t s = 0; s < layout.sections.size(); ++s)
    if (layout.sections[s].kind == SectionKind::Context) contexts.push_back(static_cast<int>(s));
  d.contexts = static_cast<int>(contexts.size());
  std::vector<char> section_dropped(layout.sections.size(), 0);
  const bool drop_contexts = options.context_level_slack > 0.0;
  const bool spread_rates = options.context_rate_spread > 0.0;
  if (contexts.size() > 1 && (drop_contexts || spread_rates)) {
    std::vector<int> section_tokens(layout.sections.size(), 0);
    for (size_t u = 0; u < units.size(); ++u) section_tokens[section_of[u]] += units[u].tokens();
    int fixed = 0;
    std::vector<int> ctx_tokens;
    std::vector<char> droppable;
    std::vector<std::string> ctx_text;
    std::vector<std::vector<int>> ctx_ids;
    const std::vector<ByteRange> fences =
        options.keep_structure ? find_code_fences(tt.text) : std::vector<ByteRange>{};
    for (size_t s = 0; s < layout.sections.size(); ++s)
      if (layout.sections[s].kind != SectionKind::Context) fixed += section_tokens[s];
    for (int s : contexts) {
      const Section& sec = layout.sections[s];
      ctx_tokens.push_back(section_tokens[s]);
      // Text the user marked to keep, or a code block, pins its whole context.
      bool pinned = false;
      for (const ByteRange& k : layout.keep) pinned = pinned || overlaps(k, sec);
      for (const ByteRange& f : fences) pinned = pinned || overlaps(f, sec);
      droppable.push_back(!pinned);
      ctx_text.push_back(tt.text.substr(sec.begin, sec.end - sec.begin));
      std::vector<int> ids;
      for (size_t u = 0; u < units.size(); ++u)
        if (section_of[u] == s)
          ids.insert(ids.end(), tt.ids.begin() + units[u].first_token,
                     tt.ids.begin() + units[u].end_token);
      ctx_ids.push_back(std::move(ids));
    }
    if (options.scorer == ScorerKind::lm) {
      const std::vector<int> q =
          options.question.empty() ? std::vector<int>{} : tokenizer.encode(options.question, false);
      d.context_scores = rank_contexts_lm(*engine, ctx_ids, q);
    } else {
      d.context_scores = rank_contexts_stat(ctx_text, options.question);
    }
    const double budget = target - fixed;
    if (drop_contexts)
      for (int i : choose_dropped_contexts(d.context_scores, ctx_tokens, droppable,
                                           budget * (1.0 + options.context_level_slack), budget)) {
        d.dropped_contexts.push_back(i);
        section_dropped[contexts[i]] = 1;
      }
  }
  const std::vector<double> rate_shift =
      spread_rates && !d.context_scores.empty()
          ? context_rate_shifts(d.context_scores, contexts, section_dropped, section_of,
                                options.context_rate_spread)
          : std::vector<double>{};
  std::vector<int> order;
  for (size_t u = 0; u < units.size(); ++u)
    if (!section_dropped[section_of[u]]) order.push_back(static_cast<int>(u));

  // Protected text alone over the budget: keep it all, drop everything else, and say so.
  std::vector<char> only_protected(units.size(), 0);
  for (int u : order) only_protected[u] = is_protected[u];
  FittedText fitted = render(tokenizer, tt, units, only_protected);
  d.protected_tokens = fitted.tokens;
  if (fitted.tokens > target + tolerance) {
    r.note = "protected text alone is " + std::to_string(fitted.tokens) +
             " tokens, above the target of " + std::to_string(target);
  } else {
    // Fine level.
    std::unique_ptr<Scorer> scorer = make_scorer(options.scorer, engine);
    const FineSelection sel = select_units(*scorer, tt, units, order, is_protected, target,
                                           options.iterative_size, options.question, rate_shift);
    if (auto* lm = dynamic_cast<LmScorer*>(scorer.get())) d.segments = lm->traces();
    fitted = fit_to_target(tokenizer, tt, units, order, is_protected, sel.score, sel.kept, target);
    if (std::abs(fitted.tokens - target) > tolerance)
      r.note = "could not land within 5% of the target of " + std::to_string(target) +
               " tokens: got " + std::to_string(fitted.tokens);
  }

  std::vector<int> context_index(layout.sections.size(), -1);
  for (size_t i = 0; i < contexts.size(); ++i) context_index[contexts[i]] = static_cast<int>(i);
  d.context_droppable_tokens.assign(contexts.size(), 0);
  d.context_kept_tokens.assign(contexts.size(), 0);
  for (size_t u = 0; u < units.size(); ++u) {
    const size_t sec = static_cast<size_t>(section_of[u]);
    const int c = sec < context_index.size() ? context_index[sec] : -1;
    if (c < 0 || is_protected[u]) continue;
    d.context_droppable_tokens[c] += units[u].tokens();
    if (fitted.kept[u]) d.context_kept_tokens[c] += units[u].tokens();
  }

  r.text = std::move(fitted.text);
  r.compressed_tokens = fitted.tokens;
  r.kept.assign(tt.ids.size(), false);
  for (size_t u = 0; u < units.size(); ++u)
    if (fitted.kept[u])
      for (int k = units[u].first_token; k < units[u].end_token; ++k) r.kept[k] = true;
  r.ratio = static_cast<double>(r.compressed_tokens) / r.original_tokens;
  return finish(r);
}

}  // namespace compression

CompressResult compress(const std::string& prompt, const CompressOptions& options,
                        const engine::Tokenizer& tokenizer, TokenLogprobModel* engine) {
  return compression::compress_detailed(prompt, options, tokenizer, engine, nullptr);
}

}  // namespace precis
