// CancelToken on its own, so code that only needs cancellation (the fuzzers) need not link the
// pipeline and the engine.
#include <functional>
#include <mutex>

#include "precis/precis.hpp"

namespace precis {

void CancelToken::cancel() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    fn = std::move(fn_);
  }
  if (fn) fn();
}

bool CancelToken::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void CancelToken::on_cancel(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cancelled_) {
      fn_ = std::move(fn);
      return;
    }
  }
  fn();
}

}  // namespace precis
