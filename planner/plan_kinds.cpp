// PlannerKind's and TaskKind's names: the one place the strings of the config file, the HTTP
// API's precis.plan, the CLI and the printed results map to the enums the code dispatches on.
#include <array>
#include <utility>

#include "precis/plan.hpp"

namespace precis {

namespace {

constexpr std::array<std::pair<PlannerKind, std::string_view>, 3> kPlanners = {{
    {PlannerKind::templated, "template"},  // the order of "must be one of" in errors
    {PlannerKind::lm, "lm"},
    {PlannerKind::none, "none"},
}};

constexpr std::array<std::pair<TaskKind, std::string_view>, 8> kTasks = {{
    {TaskKind::arithmetic, "arithmetic"},
    {TaskKind::multi_hop, "multi_hop"},
    {TaskKind::code_change, "code_change"},
    {TaskKind::code, "code"},
    {TaskKind::summary, "summary"},
    {TaskKind::extraction, "extraction"},
    {TaskKind::multi_part, "multi_part"},
    {TaskKind::general, "general"},
}};

template <typename Kind, size_t N>
std::string_view name_of(const std::array<std::pair<Kind, std::string_view>, N>& table, Kind kind) {
  for (const auto& [k, name] : table)
    if (k == kind) return name;
  return "?";  // only a value cast from outside the enum's range
}

template <typename Kind, size_t N>
std::optional<Kind> kind_of(const std::array<std::pair<Kind, std::string_view>, N>& table,
                            std::string_view name) {
  for (const auto& [k, text] : table)
    if (text == name) return k;
  return std::nullopt;
}

template <typename Kind, size_t N>
std::vector<std::string> names_of(const std::array<std::pair<Kind, std::string_view>, N>& table) {
  std::vector<std::string> out;
  for (const auto& entry : table) out.emplace_back(entry.second);
  return out;
}

}  // namespace

std::string_view to_string(PlannerKind kind) {
  return name_of(kPlanners, kind);
}
std::string_view to_string(TaskKind kind) {
  return name_of(kTasks, kind);
}

std::optional<PlannerKind> parse_planner_kind(std::string_view name) {
  return kind_of(kPlanners, name);
}
std::optional<TaskKind> parse_task_kind(std::string_view name) {
  return kind_of(kTasks, name);
}

const std::vector<std::string>& planner_kind_names() {
  static const std::vector<std::string> names = names_of(kPlanners);
  return names;
}

const std::vector<std::string>& task_kinds() {
  static const std::vector<std::string> names = names_of(kTasks);
  return names;
}

bool plan_helps(TaskKind kind) {
  return kind == TaskKind::arithmetic || kind == TaskKind::multi_hop ||
         kind == TaskKind::code_change || kind == TaskKind::code;
}

}  // namespace precis
