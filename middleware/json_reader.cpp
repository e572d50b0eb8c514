#include "middleware/json_reader.hpp"

#include <cmath>
#include <sstream>

namespace precis {

namespace {

std::string type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "integer";
  return v.type_name();
}

std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

JsonReader::JsonReader(const nlohmann::json& value, std::string path)
    : value_(value), path_(std::move(path)) {
  if (!value_.is_object())
    throw ConfigError((path_.empty() ? "/" : path_) + ": expected an object, got " +
                      type_name(value_));
}

bool JsonReader::has(const std::string& key) const {
  return value_.contains(key);
}

std::string JsonReader::field_path(const std::string& key) const {
  return path_ + "/" + key;
}

void JsonReader::fail(const std::string& key, const std::string& message) const {
  throw ConfigError(field_path(key) + ": " + message);
}

const nlohmann::json* JsonReader::find(const std::string& key) {
  seen_.insert(key);
  auto it = value_.find(key);
  if (it == value_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<bool> JsonReader::boolean(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) fail(key, "expected true or false, got " + type_name(*v));
  return v->get<bool>();
}

std::optional<std::string> JsonReader::string(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) fail(key, "expected a string, got " + type_name(*v));
  return v->get<std::string>();
}

std::optional<std::string> JsonReader::choice(const std::string& key,
                                              const std::vector<std::string>& allowed) {
  auto s = string(key);
  if (!s) return s;
  for (const auto& a : allowed)
    if (*s == a) return s;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail(key, "must be one of " + list + ", got \"" + *s + "\"");
}

std::optional<int64_t> JsonReader::integer(const std::string& key, int64_t min, int64_t max) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) fail(key, "expected an integer, got " + type_name(*v));
  const int64_t x = v->get<int64_t>();
  if (x < min || x > max)
    fail(key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                  std::to_string(x));
  return x;
}

std::optional<double> JsonReader::number(const std::string& key, double min, double max,
                                         bool min_exclusive) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) fail(key, "expected a number, got " + type_name(*v));
  const double x = v->get<double>();
  const bool low_ok = min_exclusive ? x > min : x >= min;
  if (!std::isfinite(x) || !low_ok || x > max)
    fail(key, std::string("must be in ") + (min_exclusive ? "(" : "[") + number_text(min) + ", " +
                  number_text(max) + "], got " + number_text(x));
  return x;
}

std::optional<std::vector<std::string>> JsonReader::strings(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_array()) fail(key, "expected an array of strings, got " + type_name(*v));
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string())
      fail(key + "/" + std::to_string(i), "expected a string, got " + type_name((*v)[i]));
    out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

std::optional<JsonReader> JsonReader::object(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_object()) fail(key, "expected an object, got " + type_name(*v));
  return JsonReader(*v, field_path(key));
}

std::optional<nlohmann::json> JsonReader::raw(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  return *v;
}

void JsonReader::finish() const {
  for (auto it = value_.begin(); it != value_.end(); ++it) {
    if (!seen_.count(it.key())) {
      std::string known;
      for (const auto& k : seen_) known += (known.empty() ? "" : ", ") + k;
      throw ConfigError(field_path(it.key()) + ": unknown key (known here: " + known + ")");
    }
  }
}

}  // namespace precis
