// The JSON form of a pipeline Result, shared by `precis run --json` and the examples' tests.
#pragma once

#include <nlohmann/json.hpp>

#include "precis/precis.hpp"

namespace precis::cli {

nlohmann::json result_to_json(const Result& r);

// A plan's planner and task kind as printed: their names, "" when no plan was made or the request
// was not analysed.
std::string planner_text(const Plan& plan);
std::string task_kind_text(const Plan& plan);

}  // namespace precis::cli
