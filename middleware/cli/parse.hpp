// Parses a subcommand's arguments with Boost.Program_options; prints --help or the error.
#pragma once

#include <boost/program_options.hpp>
#include <optional>
#include <string>

#include "middleware/cli/commands.hpp"
#include "precis/compress.hpp"
#include "precis/plan.hpp"

namespace precis::cli {

// Returns the exit status to end with (0 after --help, 2 on a bad argument), or nullopt to go on.
std::optional<int> parse_args(const char* command, const char* summary, const Args& args,
                              boost::program_options::options_description& desc);

// A --scorer / --planner value as its enum; std::invalid_argument naming the flag, the value and
// the accepted names otherwise.
ScorerKind scorer_flag(const std::string& value);
PlannerKind planner_flag(const std::string& value);

}  // namespace precis::cli
