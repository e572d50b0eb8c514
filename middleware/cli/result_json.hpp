// The JSON form of a pipeline Result, shared by `precis run --json` and the examples' tests.
#pragma once

#include <nlohmann/json.hpp>

#include "precis/precis.hpp"

namespace precis::cli {

nlohmann::json result_to_json(const Result& r);

}  // namespace precis::cli
