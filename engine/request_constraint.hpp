// One request's output constraint (a JSON Schema's grammar or a GBNF grammar, bound to the
// vocabulary) and the recognizer state of each of its samples, behind one small interface, so
// the engine's sampling code does not care which kind of grammar it is.
#pragma once

#include <memory>
#include <vector>

#include "engine/token_constraint.hpp"

namespace precis::engine {

class RequestConstraint {
 public:
  explicit RequestConstraint(std::shared_ptr<TokenConstraint> json)
      : json_(std::move(json)), json_states_{json_->start()} {}
  explicit RequestConstraint(std::shared_ptr<GbnfTokenConstraint> gbnf)
      : gbnf_(std::move(gbnf)), gbnf_states_{gbnf_->start()} {}

  // How errors name the constraint: "response format" (a JSON Schema) or "grammar" (GBNF).
  const char* name() const { return json_ ? "response format" : "grammar"; }
  // Another sample, starting where sample 0 stands (samples fork before any output).
  void add_sample() {
    if (json_) json_states_.push_back(json_states_[0]);
    if (gbnf_) gbnf_states_.push_back(gbnf_states_[0]);
  }
  std::shared_ptr<const TokenMask> mask(int sample) {
    return json_ ? json_->mask(json_states_[sample]) : gbnf_->mask(gbnf_states_[sample]);
  }
  // False when the token does not fit.
  bool advance(int sample, int token) {
    return json_ ? json_->advance(json_states_[sample], token)
                 : gbnf_->advance(gbnf_states_[sample], token);
  }
  // The output is whole and nothing may follow.
  bool closed(int sample) const {
    return json_ ? TokenConstraint::closed(json_states_[sample])
                 : GbnfTokenConstraint::closed(gbnf_states_[sample]);
  }

 private:
  std::shared_ptr<TokenConstraint> json_;
  std::vector<JsonState> json_states_;
  std::shared_ptr<GbnfTokenConstraint> gbnf_;
  std::vector<GbnfState> gbnf_states_;
};

}  // namespace precis::engine
