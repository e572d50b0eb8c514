// The "cache" plugin: an LRU cache of generated choices, keyed by what the model is given (the
// final prompt after the stages, compression and planning; in proxy mode the whole forwarded
// request: every message, model and sampling field) and every sampling parameter (max_tokens,
// temperature, top_k, top_p, min_p, penalties, seed, stop, n, best_of, logprobs, ignore_eos). On a
// hit generation is skipped (Stage::before_generate) and the timings show a "cache" stage instead
// of "generate"; misses are stored after generation (Stage::after_generate). Aborted generations
// are never stored.
//
// Only deterministic requests are cached by default: temperature 0, or a seed given (precis
// honours seeds). Sampled requests without a seed are passed through and counted as skipped,
// unless "cache_sampled": true.
//
// Settings (all optional): {"capacity": 1024 (entries, >= 1), "ttl_s": seconds (none: entries
// live until evicted), "cache_sampled": false}
//
// Metrics: precis_cache_hits_total, precis_cache_misses_total, precis_cache_evictions_total
// (dropped for capacity), precis_cache_expired_total (dropped for ttl_s),
// precis_cache_skipped_total (requests not cacheable), precis_cache_entries (gauge).
//
// Keys are the SHA-256 of an unambiguous encoding of all that: no prompt text is kept in the
// cache (only answers), and memory is about capacity x answer bytes.
#pragma once

#include <memory>
#include <string>

#include "precis/precis.hpp"

namespace precis::plugins {

// Throws std::runtime_error ("/capacity: ...") on bad settings.
std::unique_ptr<Stage> make_cache_stage(const std::string& settings_json);

// The cache key of a generation (32 raw bytes): SHA-256 of the final prompt and every sampling
// parameter, length-prefixed so that no two different inputs share an encoding.
std::string cache_key(const std::string& final_prompt, const GenerateOptions& options);

}  // namespace precis::plugins
