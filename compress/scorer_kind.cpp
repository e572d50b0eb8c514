// ScorerKind's names: the one place the strings "stat" and "lm" of the config file, the CLI and
// the docs map to the enum the compressor dispatches on.
#include <array>
#include <utility>

#include "precis/compress.hpp"

namespace precis {

namespace {

constexpr std::array<std::pair<ScorerKind, std::string_view>, 2> kNames = {{
    {ScorerKind::stat, "stat"},
    {ScorerKind::lm, "lm"},
}};

}  // namespace

std::string_view to_string(ScorerKind kind) {
  for (const auto& [k, name] : kNames)
    if (k == kind) return name;
  return "?";  // only a value cast from outside the enum's range
}

std::optional<ScorerKind> parse_scorer_kind(std::string_view name) {
  for (const auto& [k, text] : kNames)
    if (text == name) return k;
  return std::nullopt;
}

const std::vector<std::string>& scorer_kind_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& entry : kNames) out.emplace_back(entry.second);
    return out;
  }();
  return names;
}

}  // namespace precis
