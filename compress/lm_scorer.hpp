// LLMLingua's scorer: a token's importance is its self-information -log p(token | the kept
// text before it) under a model's (the engine's, through TokenLogprobModel). The compressed prefix
// lives in a session's KV cache: a segment is appended to it and scored, then the session is cut
// back to the prefix, so the prefix is never recomputed. The kept tokens of a segment join the
// session with the next segment, in the same pass (append_after), and those of the last segment
// are never computed: nothing reads them.
#pragma once

#include <memory>

#include "compress/scorer.hpp"
#include "precis/token_logprobs.hpp"

namespace precis::compression {

// What one scoring call saw, for checking against a full re-score.
struct SegmentTrace {
  std::vector<int> context;     // the session's tokens before the segment (BOS + kept prefix)
  std::vector<int> segment;     // the tokens scored
  std::vector<float> logprobs;  // log p(segment[i] | context, segment[<i])
};

class LmScorer : public Scorer {
 public:
  explicit LmScorer(TokenLogprobModel& engine);
  ~LmScorer() override;

  void begin(const TokenizedText& text, const std::vector<Unit>& units,
             std::string_view question) override;
  std::vector<float> score_segment(std::span<const int> units) override;
  void commit(std::span<const int> units, const std::vector<char>& kept) override;
  // Sum of the tokens' self-information over sqrt(token count): between a word's total
  // surprise (which favours long words) and its per-token density (what the budget pays for).
  double unit_score(std::span<const float> token_scores) const override;
  bool conditional() const override { return true; }

  const std::vector<SegmentTrace>& traces() const { return traces_; }

 private:
  // Restarts the session as BOS + the last tokens of `history`, leaving `room` positions free
  // under the model's context window. Used only when the compressed prefix outgrows it.
  void restart_with_tail(const std::vector<int>& history, int room);

  TokenLogprobModel& engine_;
  std::unique_ptr<TokenLogprobSession> session_;
  const TokenizedText* text_ = nullptr;
  const std::vector<Unit>* units_ = nullptr;
  // The session's tokens and then pending_: the context the next segment is scored after.
  std::vector<int> context() const;

  std::vector<int> kept_ids_;  // every kept token so far, in order
  std::vector<int> pending_;   // context not yet in the session: it goes in with the next segment
  int prefix_size_ = 0;        // context size before the current segment
  bool restarted_ = false;     // the current segment had to restart the session
  int window_ = 0;
  std::vector<SegmentTrace> traces_;
};

}  // namespace precis::compression
