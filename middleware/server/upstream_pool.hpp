// The upstream servers of proxy mode and their health: picks the healthy upstream with the fewest
// outstanding requests (ties taken in turn), takes an upstream that failed out of rotation, and
// lets it back in after an exponential backoff (1 s, doubling up to 30 s; reset by a success).
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "middleware/server/upstream_client.hpp"

namespace precis::server {

class UpstreamPool {
 public:
  using Clock = std::chrono::steady_clock;

  // Throws std::invalid_argument for a bad URL or an empty list.
  explicit UpstreamPool(const std::vector<std::string>& urls,
                        std::chrono::milliseconds first_backoff = std::chrono::seconds(1),
                        std::chrono::milliseconds max_backoff = std::chrono::seconds(30));

  // The upstream to try next, not one of `tried`, counted as outstanding until release():
  // a healthy one with the fewest outstanding requests; when none is healthy and nothing was
  // tried yet, the one whose retry is due first (so a request is never refused without trying).
  std::optional<size_t> acquire(const std::set<size_t>& tried);
  // Ends the outstanding request; `failed` takes the upstream out (with backoff), else it is
  // healthy again.
  void release(size_t index, bool failed, const std::string& why = "");

  const UpstreamUrl& url(size_t index) const { return upstreams_[index].url; }
  size_t size() const { return upstreams_.size(); }
  bool healthy(size_t index) const;
  int outstanding(size_t index) const;

 private:
  struct Upstream {
    UpstreamUrl url;
    int outstanding = 0;
    std::chrono::milliseconds backoff{0};  // 0: healthy
    Clock::time_point retry_at{};
  };
  mutable std::mutex mu_;
  std::vector<Upstream> upstreams_;
  std::chrono::milliseconds first_backoff_, max_backoff_;
  size_t turn_ = 0;
};

}  // namespace precis::server
