// The cache plugin: a mutex-guarded LRU list plus a hash index on the full key.
#include "plugins/cache.hpp"

#include <openssl/evp.h>
#include <atomic>
#include <chrono>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "plugins/settings.hpp"

namespace precis::plugins {

namespace {

using Clock = std::chrono::steady_clock;

void put(std::string& k, const std::string& s) {
  k += std::to_string(s.size());
  k += ':';
  k += s;
}

void put(std::string& k, int64_t v) {
  k += std::to_string(v);
  k += ';';
}

void put(std::string& k, float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  put(k, static_cast<int64_t>(bits));
}

class CacheStage : public Stage {
 public:
  CacheStage(size_t capacity, std::optional<double> ttl_s, bool cache_sampled)
      : capacity_(capacity), ttl_s_(ttl_s), cache_sampled_(cache_sampled) {}

  std::string name() const override { return "cache"; }

  bool before_generate(const Request&, const std::string& final_prompt,
                       const GenerateOptions& options, Result& result) override {
    if (!cacheable(options)) {
      skipped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    const std::string key = cache_key(final_prompt, options);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end() && expired(*it->second)) {
      lru_.erase(it->second);
      index_.erase(it);
      ++expired_;
      it = index_.end();
    }
    if (it == index_.end()) {
      ++misses_;
      return false;
    }
    lru_.splice(lru_.begin(), lru_, it->second);  // most recently used first
    result.choices = it->second->choices;
    ++hits_;
    return true;
  }

  void after_generate(const Request&, const std::string& final_prompt,
                      const GenerateOptions& options, const Result& result) override {
    if (!cacheable(options) || result.choices.empty()) return;
    for (const auto& c : result.choices)
      if (c.finish_reason == "abort") return;
    std::string key = cache_key(final_prompt, options);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {  // two identical requests raced: keep the newer answer
      it->second->choices = result.choices;
      it->second->stored = Clock::now();
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    lru_.push_front({key, result.choices, Clock::now()});
    index_.emplace(std::move(key), lru_.begin());
    while (lru_.size() > capacity_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
      ++evictions_;
    }
  }

  std::vector<std::pair<std::string, double>> metrics() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return {{"precis_cache_hits_total", static_cast<double>(hits_)},
            {"precis_cache_misses_total", static_cast<double>(misses_)},
            {"precis_cache_evictions_total", static_cast<double>(evictions_)},
            {"precis_cache_expired_total", static_cast<double>(expired_)},
            {"precis_cache_skipped_total", static_cast<double>(skipped_.load())},
            {"precis_cache_entries", static_cast<double>(lru_.size())}};
  }

 private:
  struct Entry {
    std::string key;
    std::vector<Choice> choices;
    Clock::time_point stored;
  };

  bool cacheable(const GenerateOptions& o) const {
    return cache_sampled_ || o.temperature == 0.0f || o.seed.has_value();
  }

  bool expired(const Entry& e) const {
    return ttl_s_ && std::chrono::duration<double>(Clock::now() - e.stored).count() > *ttl_s_;
  }

  const size_t capacity_;
  const std::optional<double> ttl_s_;
  const bool cache_sampled_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0, expired_ = 0;  // guarded by mu_
  std::atomic<uint64_t> skipped_{0};
};

}  // namespace

std::string cache_key(const std::string& final_prompt, const GenerateOptions& o) {
  // The unambiguous encoding (length-prefixed strings), then its SHA-256: entries never hold
  // the prompt text, and a collision would take 2^128 work.
  std::string k;
  k.reserve(final_prompt.size() + 128);
  put(k, final_prompt);
  put(k, static_cast<int64_t>(o.max_tokens));
  put(k, o.temperature);
  put(k, static_cast<int64_t>(o.top_k));
  put(k, o.top_p);
  put(k, o.min_p);
  put(k, o.repetition_penalty);
  put(k, o.presence_penalty);
  put(k, o.frequency_penalty);
  put(k, static_cast<int64_t>(o.seed.has_value()));
  put(k, static_cast<int64_t>(o.seed.value_or(0)));
  put(k, static_cast<int64_t>(o.stop.size()));
  for (const auto& s : o.stop) put(k, s);
  put(k, static_cast<int64_t>(o.n));
  put(k, static_cast<int64_t>(o.best_of));
  put(k, static_cast<int64_t>(o.logprobs));
  put(k, static_cast<int64_t>(o.ignore_eos));
  put(k, static_cast<int64_t>(o.beam_width));
  put(k, o.response_format);
  put(k, o.json_schema);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(k.data(), k.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("cache: SHA-256 failed");
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::unique_ptr<Stage> make_cache_stage(const std::string& settings_json) {
  SettingsReader r(settings_json);
  size_t capacity = 1024;
  if (auto v = r.integer("capacity", 1, 100000000)) capacity = static_cast<size_t>(*v);
  const std::optional<double> ttl = r.positive("ttl_s");
  const bool sampled = r.boolean("cache_sampled").value_or(false);
  r.finish();
  return std::make_unique<CacheStage>(capacity, ttl, sampled);
}

}  // namespace precis::plugins
