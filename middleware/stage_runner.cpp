#include "middleware/stage_runner.hpp"

#include <chrono>
#include <stdexcept>

namespace precis {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Runs fn(stage), naming the stage in any failure.
template <typename Fn>
auto call_stage(const Stage& stage, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    throw std::runtime_error("stage '" + stage.name() + "' failed: " + e.what());
  }
}

}  // namespace

FilteredStream::FilteredStream(const std::vector<std::shared_ptr<Stage>>& stages,
                               const Request& request, ChoiceTextCallback out)
    : stages_(stages), request_(request), out_(std::move(out)) {}

ChoiceTextCallback FilteredStream::callback() {
  if (!out_) return {};
  return [this](int index, const std::string& delta) { push(index, delta); };
}

std::vector<FilteredStream::Filter>& FilteredStream::chain(int index) {
  const size_t i = static_cast<size_t>(index);
  if (chains_.size() <= i) chains_.resize(i + 1), started_.resize(i + 1, false);
  if (!started_[i]) {
    started_[i] = true;
    for (auto it = stages_.rbegin(); it != stages_.rend(); ++it) {
      const Stage& s = **it;
      auto f = call_stage(s, [&] { return s.stream_filter(request_); });
      if (f) chains_[i].push_back({s.name(), std::move(f)});
    }
  }
  return chains_[i];
}

void FilteredStream::push(int index, const std::string& delta) {
  std::string text = delta;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.empty()) return;
    try {
      for (Filter& f : chain(index)) {
        try {
          text = f.filter->push(text);
        } catch (const std::exception& e) {
          throw std::runtime_error("stage '" + f.stage + "' failed: " + e.what());
        }
      }
    } catch (const std::exception& e) {
      // This runs inside the generator's stream callback: record it, fail the request later.
      error_ = e.what();
      return;
    }
  }
  if (!text.empty()) out_(index, text);
}

void FilteredStream::finish() {
  if (!out_) return;
  std::vector<std::pair<int, std::string>> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.empty()) throw std::runtime_error(error_);
    for (size_t i = 0; i < chains_.size(); ++i) {
      std::string text;
      // Each filter's held text goes through the filters after it.
      for (Filter& f : chains_[i]) {
        try {
          text = f.filter->push(text);
          text += f.filter->finish();
        } catch (const std::exception& e) {
          throw std::runtime_error("stage '" + f.stage + "' failed: " + e.what());
        }
      }
      if (!text.empty()) held.push_back({static_cast<int>(i), std::move(text)});
    }
  }
  for (auto& [i, text] : held) out_(i, text);
}

void StageRunner::before(Request& request, Result& res) const {
  if (stages_.empty()) return;
  const auto t = Clock::now();
  for (const auto& s : stages_) call_stage(*s, [&] { s->before(request); });
  res.timings.push_back({"plugins (before)", ms_since(t)});
}

bool StageRunner::answer(const Request& request, const std::string& sent,
                         const GenerateOptions& gen, Result& res,
                         const ChoiceTextCallback& on_text) const {
  const auto t = Clock::now();
  for (const auto& s : stages_) {
    if (!call_stage(*s, [&] { return s->before_generate(request, sent, gen, res); })) continue;
    res.completion_tokens = 0;
    for (size_t i = 0; i < res.choices.size(); ++i) {
      res.completion_tokens += res.choices[i].tokens;
      if (on_text && !res.choices[i].text.empty())
        on_text(static_cast<int>(i), res.choices[i].text);
    }
    res.text = res.choices.empty() ? std::string() : res.choices[0].text;
    res.timings.push_back({s->name(), ms_since(t)});
    return true;
  }
  res.choices.clear();  // a stage that declined must not leave choices behind
  return false;
}

void StageRunner::after_generate(const Request& request, const std::string& sent,
                                 const GenerateOptions& gen, const Result& res) const {
  for (const auto& s : stages_) call_stage(*s, [&] { s->after_generate(request, sent, gen, res); });
}

void StageRunner::after(const Request& request, Result& res) const {
  if (stages_.empty()) return;
  const auto t = Clock::now();
  for (auto it = stages_.rbegin(); it != stages_.rend(); ++it)
    call_stage(**it, [&] { (*it)->after(request, res); });
  res.timings.push_back({"plugins (after)", ms_since(t)});
}

}  // namespace precis
