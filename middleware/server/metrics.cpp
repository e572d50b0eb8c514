#include "middleware/server/metrics.hpp"

#include <cstdio>
#include <sstream>

namespace precis::server {

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& help, std::string& out) const {
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + num(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : latency_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}),
      ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      tpot_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}),
      queue_time_({0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
  if (status >= 400) ++errors_;
}

void Metrics::add_tokens(int64_t prompt, int64_t completion, int64_t saved) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += prompt;
  completion_tokens_ += completion;
  saved_tokens_ += saved;
}

void Metrics::observe_latency(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  latency_.observe(s);
}
void Metrics::observe_ttft(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.observe(s);
}
void Metrics::observe_tpot(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  tpot_.observe(s);
}
void Metrics::observe_queue_time(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_time_.observe(s);
}

uint64_t Metrics::requests(const std::string& endpoint, int status) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find({endpoint, status});
  return it == requests_.end() ? 0 : it->second;
}

std::string Metrics::render(const GaugeValues& g) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  header(out, "precis_requests_total", "counter", "HTTP requests by endpoint and status.");
  for (const auto& [key, n] : requests_)
    out += "precis_requests_total{endpoint=\"" + key.first + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  header(out, "precis_request_errors_total", "counter", "Requests answered with status >= 400.");
  out += "precis_request_errors_total " + std::to_string(errors_) + "\n";
  header(out, "precis_prompt_tokens_total", "counter", "Prompt tokens generated from.");
  out += "precis_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
  header(out, "precis_completion_tokens_total", "counter", "Tokens generated.");
  out += "precis_completion_tokens_total " + std::to_string(completion_tokens_) + "\n";
  header(out, "precis_tokens_saved_by_compression_total", "counter",
         "Prompt tokens removed by compression.");
  out += "precis_tokens_saved_by_compression_total " + std::to_string(saved_tokens_) + "\n";
  header(out, "precis_queue_depth", "gauge", "Generation requests in flight.");
  out += "precis_queue_depth " + std::to_string(g.queue_depth) + "\n";
  header(out, "precis_running_requests", "gauge", "Requests running in the engine.");
  out += "precis_running_requests " + std::to_string(g.running_requests) + "\n";
  if (g.kv_blocks_in_use >= 0) {
    header(out, "precis_kv_blocks_in_use", "gauge", "KV cache blocks in use.");
    out += "precis_kv_blocks_in_use " + std::to_string(g.kv_blocks_in_use) + "\n";
    header(out, "precis_kv_blocks_total", "gauge", "KV cache blocks in all.");
    out += "precis_kv_blocks_total " + std::to_string(g.kv_blocks_total) + "\n";
  }
  if (g.prefix_cache_queried_tokens >= 0) {
    header(out, "precis_prefix_cache_queries_total", "counter",
           "Prompt tokens looked up in the prefix cache.");
    out +=
        "precis_prefix_cache_queries_total " + std::to_string(g.prefix_cache_queried_tokens) + "\n";
    header(out, "precis_prefix_cache_hits_total", "counter",
           "Prompt tokens found in the prefix cache (not recomputed).");
    out += "precis_prefix_cache_hits_total " + std::to_string(g.prefix_cache_hit_tokens) + "\n";
    header(out, "precis_prefix_cache_hit_rate", "gauge", "Hits over queries since start.");
    std::ostringstream rate;
    rate << (g.prefix_cache_queried_tokens > 0
                 ? static_cast<double>(g.prefix_cache_hit_tokens) / g.prefix_cache_queried_tokens
                 : 0.0);
    out += "precis_prefix_cache_hit_rate " + rate.str() + "\n";
  }
  for (const auto& [name, value] : g.plugin_metrics) {
    const bool counter = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    header(out, name, counter ? "counter" : "gauge", "Reported by a pipeline plugin.");
    std::ostringstream v;
    v << value;
    out += name + " " + v.str() + "\n";
  }
  latency_.render("precis_request_latency_seconds", "Time from request to last byte.", out);
  ttft_.render("precis_time_to_first_token_seconds", "Time from request to first token.", out);
  tpot_.render("precis_time_per_output_token_seconds", "Time per generated token after the first.",
               out);
  queue_time_.render("precis_queue_time_seconds", "Time a request waited before its run began.",
                     out);
  return out;
}

}  // namespace precis::server
