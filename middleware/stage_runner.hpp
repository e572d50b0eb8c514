// The plugin stages' part of a request, in one place for the embedded pipeline and proxy mode:
// before(), the answer-from-a-stage check (a cache hit), after_generate(), after(), and the
// streamed text passed through the stages' stream filters. Every stage failure becomes
// "stage 'NAME' failed: ..." here and nowhere else.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "precis/precis.hpp"

namespace precis {

// A request's streamed deltas through every stage's StreamFilter (reverse stage order, one chain
// per choice). Thread-safe: choices may stream from any thread.
class FilteredStream {
 public:
  FilteredStream(const std::vector<std::shared_ptr<Stage>>& stages, const Request& request,
                 ChoiceTextCallback out);
  // Empty when there is no client callback.
  ChoiceTextCallback callback();
  // Sends what the filters held back, choice by choice. Call once every choice has ended. A
  // filter that threw (its deltas stopped there) fails the request here: "stage 'NAME' failed".
  void finish();

 private:
  struct Filter {
    std::string stage;  // for errors
    std::unique_ptr<StreamFilter> filter;
  };
  void push(int index, const std::string& delta);
  std::vector<Filter>& chain(int index);

  const std::vector<std::shared_ptr<Stage>>& stages_;
  const Request& request_;
  ChoiceTextCallback out_;
  std::mutex mu_;
  std::vector<std::vector<Filter>> chains_;  // per choice
  std::vector<bool> started_;
  std::string error_;  // the first filter failure; nothing streams after it
};

class StageRunner {
 public:
  explicit StageRunner(std::vector<std::shared_ptr<Stage>> stages) : stages_(std::move(stages)) {}
  const std::vector<std::shared_ptr<Stage>>& stages() const { return stages_; }

  // Every stage's before(), in order; adds the "plugins (before)" timing.
  void before(Request& request, Result& res) const;
  // before_generate() in order until one answers; then res holds its choices, text and
  // completion tokens, and each choice's text went to `on_text`. `sent` is what the model would
  // have been given (the final prompt, or proxy mode's upstream request).
  bool answer(const Request& request, const std::string& sent, const GenerateOptions& gen,
              Result& res, const ChoiceTextCallback& on_text) const;
  void after_generate(const Request& request, const std::string& sent, const GenerateOptions& gen,
                      const Result& res) const;
  // Every stage's after(), in reverse order; adds the "plugins (after)" timing.
  void after(const Request& request, Result& res) const;

 private:
  std::vector<std::shared_ptr<Stage>> stages_;
};

}  // namespace precis
