#include "compress/lm_scorer.hpp"

#include <algorithm>
#include <cmath>

#include "engine/tokenizer.hpp"

namespace precis::compression {

namespace {

// Information given to a token the model has no context for (the very first one without BOS):
// high, so that it is kept rather than dropped on no evidence.
constexpr float kNoContextInformation = 20.0f;

}  // namespace

LmScorer::LmScorer(TokenLogprobModel& engine) : engine_(engine) {}
LmScorer::~LmScorer() = default;

void LmScorer::begin(const TokenizedText& text, const std::vector<Unit>& units, std::string_view) {
  text_ = &text;
  units_ = &units;
  kept_ids_.clear();
  traces_.clear();
  window_ = engine_.context_window();
  session_ = engine_.open_logprob_session();
  pending_.clear();
  if (engine_.tokenizer().bos_id() >= 0) pending_.push_back(engine_.tokenizer().bos_id());
}

std::vector<int> LmScorer::context() const {
  std::vector<int> all(session_->tokens().size() + pending_.size());
  std::copy(session_->tokens().begin(), session_->tokens().end(), all.begin());
  std::copy(pending_.begin(), pending_.end(),
            all.begin() + static_cast<std::ptrdiff_t>(session_->tokens().size()));
  return all;
}

void LmScorer::restart_with_tail(const std::vector<int>& history, int room) {
  const int bos = engine_.tokenizer().bos_id();
  const int fixed = bos >= 0 ? 1 : 0;
  // Keep half of what would fit, so that restarts are rare rather than every segment.
  const int keep =
      std::min<int>(static_cast<int>(history.size()), std::max(0, window_ - fixed - room) / 2);
  // [bos] + the last `keep` tokens, written in place (see context_ranker.cpp: GCC 12's false
  // -Warray-bounds on push_back + insert with AVX-512).
  std::vector<int> start(static_cast<size_t>(fixed + keep));
  if (bos >= 0) start[0] = bos;
  std::copy(history.end() - keep, history.end(), start.begin() + fixed);
  session_->truncate(0);
  pending_ = std::move(start);
}

std::vector<float> LmScorer::score_segment(std::span<const int> units) {
  std::vector<int> seg;
  for (int u : units) {
    const Unit& x = (*units_)[u];
    seg.insert(seg.end(), text_->ids.begin() + x.first_token, text_->ids.begin() + x.end_token);
  }
  prefix_size_ = session_->size() + static_cast<int>(pending_.size());
  restarted_ = false;
  std::vector<float> info;
  info.reserve(seg.size());
  // A segment longer than half the context window is scored in chunks, each still conditioned
  // on what precedes it in the session.
  const size_t chunk = std::max(1, (window_ - 1) / 2);
  for (size_t at = 0; at < seg.size(); at += chunk) {
    std::vector<int> part(seg.begin() + at, seg.begin() + std::min(seg.size(), at + chunk));
    SegmentTrace trace;
    trace.context = context();
    if (trace.context.size() + part.size() > static_cast<size_t>(window_)) {
      const int fixed = engine_.tokenizer().bos_id() >= 0 ? 1 : 0;
      std::vector<int> history(trace.context.begin() + fixed, trace.context.end());
      restart_with_tail(history, static_cast<int>(part.size()));
      restarted_ = true;
      trace.context = context();
    }
    trace.logprobs = session_->append_after(pending_, part);
    pending_.clear();
    for (float lp : trace.logprobs) info.push_back(std::isnan(lp) ? kNoContextInformation : -lp);
    trace.segment = std::move(part);
    traces_.push_back(std::move(trace));
  }
  return info;
}

void LmScorer::commit(std::span<const int> units, const std::vector<char>& kept) {
  std::vector<int> add;
  for (size_t i = 0; i < units.size(); ++i) {
    if (!kept[i]) continue;
    const Unit& x = (*units_)[units[i]];
    add.insert(add.end(), text_->ids.begin() + x.first_token, text_->ids.begin() + x.end_token);
  }
  kept_ids_.insert(kept_ids_.end(), add.begin(), add.end());
  if (!restarted_ && prefix_size_ + static_cast<int>(add.size()) <= window_) {
    if (pending_.empty()) {
      session_->truncate(prefix_size_);  // the segment went in: cut back to its context
      pending_ = std::move(add);
    } else {
      pending_.insert(pending_.end(), add.begin(), add.end());  // an empty segment never went in
    }
    return;
  }
  // The compressed prefix no longer fits the window: continue from its most recent part.
  restart_with_tail(kept_ids_, 0);
}

double LmScorer::unit_score(std::span<const float> token_scores) const {
  if (token_scores.empty()) return 0.0;
  double sum = 0.0;
  for (float v : token_scores) sum += v;
  return sum / std::sqrt(static_cast<double>(token_scores.size()));
}

}  // namespace precis::compression
