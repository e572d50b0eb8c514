// Reads a JSON configuration object field by field, tracking the JSON path, so that every
// rejection names the exact field: "/compress/rate: must be in (0, 1], got 0". Keys that no
// getter asked for are reported as unknown by finish().
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "precis/errors.hpp"

namespace precis {

class JsonReader {
 public:
  // Throws ConfigError if `value` is not an object.
  JsonReader(const nlohmann::json& value, std::string path);

  const std::string& path() const { return path_; }
  bool has(const std::string& key) const;
  std::string field_path(const std::string& key) const;

  std::optional<bool> boolean(const std::string& key);
  std::optional<std::string> string(const std::string& key);
  // One of `allowed`.
  std::optional<std::string> choice(const std::string& key,
                                    const std::vector<std::string>& allowed);
  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max);
  // In [min, max], or (min, max] when `min_exclusive`.
  std::optional<double> number(const std::string& key, double min, double max,
                               bool min_exclusive = false);
  std::optional<std::vector<std::string>> strings(const std::string& key);
  // A nested object (nullopt when absent).
  std::optional<JsonReader> object(const std::string& key);
  // A raw value, for fields read elsewhere (e.g. plugin settings).
  std::optional<nlohmann::json> raw(const std::string& key);

  // Throws ConfigError naming the first key no getter consumed.
  void finish() const;

  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  const nlohmann::json* find(const std::string& key);
  const nlohmann::json& value_;
  std::string path_;
  std::set<std::string> seen_;
};

}  // namespace precis
