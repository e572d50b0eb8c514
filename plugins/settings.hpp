// Reading a plugin's "settings" object (JSON text) with typed getters and a check for unknown
// keys. Errors are std::runtime_error whose message starts with the JSON path inside the
// settings ("/capacity: must be in [1, 100000000], got 0"); the loader puts the plugin's name and
// the config path in front. Header-only: the plugin shared libraries use it too.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

namespace precis::plugins {

class SettingsReader {
 public:
  explicit SettingsReader(const std::string& json_text) {
    try {
      json_ = nlohmann::json::parse(json_text.empty() ? "{}" : json_text);
    } catch (const nlohmann::json::parse_error& e) {
      throw std::runtime_error(std::string("/: settings are not valid JSON: ") + e.what());
    }
    if (json_.is_null()) json_ = nlohmann::json::object();
    if (!json_.is_object())
      throw std::runtime_error(std::string("/: settings must be an object, got ") +
                               json_.type_name());
  }

  [[noreturn]] static void fail(const std::string& path, const std::string& message) {
    throw std::runtime_error(path + ": " + message);
  }

  // The raw value (nullptr when absent or null); marks the key as known.
  const nlohmann::json* get(const std::string& key) {
    seen_.insert(key);
    auto it = json_.find(key);
    return it == json_.end() || it->is_null() ? nullptr : &*it;
  }

  std::optional<bool> boolean(const std::string& key) {
    const auto* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean())
      fail("/" + key, std::string("expected true or false, got ") + v->type_name());
    return v->get<bool>();
  }

  std::optional<std::string> string(const std::string& key) {
    const auto* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) fail("/" + key, std::string("expected a string, got ") + v->type_name());
    return v->get<std::string>();
  }

  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max) {
    const auto* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer())
      fail("/" + key, std::string("expected an integer, got ") + v->type_name());
    const int64_t x = v->get<int64_t>();
    if (x < min || x > max)
      fail("/" + key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) +
                          "], got " + std::to_string(x));
    return x;
  }

  // A number > 0 and finite.
  std::optional<double> positive(const std::string& key) {
    const auto* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) fail("/" + key, std::string("expected a number, got ") + v->type_name());
    const double x = v->get<double>();
    if (!std::isfinite(x) || x <= 0) fail("/" + key, "must be a number > 0");
    return x;
  }

  // Throws naming the first key no getter asked for.
  void finish() const {
    for (auto it = json_.begin(); it != json_.end(); ++it)
      if (!seen_.count(it.key())) {
        std::string known;
        for (const auto& k : seen_) known += (known.empty() ? "" : ", ") + k;
        fail("/" + it.key(), "unknown setting (known: " + known + ")");
      }
  }

 private:
  nlohmann::json json_;
  std::set<std::string> seen_;
};

}  // namespace precis::plugins
