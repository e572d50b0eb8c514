// Server metrics, thread-safe, rendered in Prometheus' text exposition format:
//   precis_requests_total{endpoint,status}, precis_request_errors_total,
//   precis_prompt_tokens_total, precis_completion_tokens_total,
//   precis_tokens_saved_by_compression_total, precis_queue_depth, precis_kv_blocks_in_use,
//   precis_kv_blocks_total, precis_prefix_cache_queries_total, precis_prefix_cache_hits_total,
//   precis_prefix_cache_hit_rate, and the histograms precis_request_latency_seconds,
//   precis_time_to_first_token_seconds, precis_time_per_output_token_seconds,
//   precis_queue_time_seconds.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace precis::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Appends the _bucket/_sum/_count lines (caller holds the lock that guards this object).
  void render(const std::string& name, const std::string& help, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct GaugeValues {
  int queue_depth = 0;        // generation requests in flight
  int kv_blocks_in_use = -1;  // -1: unknown (not rendered)
  int kv_blocks_total = -1;
  int running_requests = 0;                  // in the engine
  int64_t prefix_cache_queried_tokens = -1;  // -1: unknown (not rendered)
  int64_t prefix_cache_hit_tokens = -1;
  // Plugin metrics: names ending in _total are counters, the rest gauges.
  std::vector<std::pair<std::string, double>> plugin_metrics;
};

class Metrics {
 public:
  Metrics();

  void count_request(const std::string& endpoint, int status);
  void add_tokens(int64_t prompt, int64_t completion, int64_t saved_by_compression);
  void observe_latency(double seconds);
  void observe_ttft(double seconds);
  void observe_tpot(double seconds);
  void observe_queue_time(double seconds);

  std::string render(const GaugeValues& gauges) const;

  // For tests.
  uint64_t requests(const std::string& endpoint, int status) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t errors_ = 0;
  int64_t prompt_tokens_ = 0, completion_tokens_ = 0, saved_tokens_ = 0;
  Histogram latency_, ttft_, tpot_, queue_time_;
};

}  // namespace precis::server
