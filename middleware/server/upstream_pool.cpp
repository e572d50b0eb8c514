#include "middleware/server/upstream_pool.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace precis::server {

UpstreamPool::UpstreamPool(const std::vector<std::string>& urls,
                           std::chrono::milliseconds first_backoff,
                           std::chrono::milliseconds max_backoff)
    : first_backoff_(first_backoff), max_backoff_(max_backoff) {
  if (urls.empty()) throw std::invalid_argument("no upstream URLs given");
  for (const auto& u : urls) upstreams_.push_back({parse_upstream_url(u)});
}

std::optional<size_t> UpstreamPool::acquire(const std::set<size_t>& tried) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = Clock::now();
  const size_t n = upstreams_.size();
  std::optional<size_t> best;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (turn_ + k) % n;  // ties go round
    const Upstream& u = upstreams_[i];
    if (tried.count(i) || u.retry_at > now) continue;
    if (!best || u.outstanding < upstreams_[*best].outstanding) best = i;
  }
  if (!best && tried.empty())
    for (size_t i = 0; i < n; ++i)
      if (!best || upstreams_[i].retry_at < upstreams_[*best].retry_at) best = i;
  if (!best) return std::nullopt;
  turn_ = (*best + 1) % n;
  ++upstreams_[*best].outstanding;
  return best;
}

void UpstreamPool::release(size_t index, bool failed, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  Upstream& u = upstreams_.at(index);
  --u.outstanding;
  if (!failed) {
    if (u.backoff.count() > 0)
      std::fprintf(stderr, "precis proxy: upstream %s is back\n", u.url.text.c_str());
    u.backoff = std::chrono::milliseconds(0);
    u.retry_at = {};
    return;
  }
  u.backoff = u.backoff.count() == 0 ? first_backoff_ : std::min(max_backoff_, u.backoff * 2);
  u.retry_at = Clock::now() + u.backoff;
  std::fprintf(stderr, "precis proxy: upstream %s taken out for %.1f s: %s\n", u.url.text.c_str(),
               static_cast<double>(u.backoff.count()) / 1000.0, why.c_str());
}

bool UpstreamPool::healthy(size_t index) const {
  std::lock_guard<std::mutex> lock(mu_);
  return upstreams_.at(index).retry_at <= Clock::now();
}

int UpstreamPool::outstanding(size_t index) const {
  std::lock_guard<std::mutex> lock(mu_);
  return upstreams_.at(index).outstanding;
}

}  // namespace precis::server
