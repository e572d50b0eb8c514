#include "middleware/cli/parse.hpp"

#include <iostream>
#include <stdexcept>

namespace po = boost::program_options;

namespace precis::cli {

namespace {

template <typename Kind>
Kind parse_flag(const char* flag, const std::string& value, std::optional<Kind> kind,
                const std::vector<std::string>& names) {
  if (kind) return *kind;
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw std::invalid_argument(std::string(flag) + ": expected one of " + list + ", got \"" + value +
                              "\"");
}

}  // namespace

ScorerKind scorer_flag(const std::string& value) {
  return parse_flag("--scorer", value, parse_scorer_kind(value), scorer_kind_names());
}

PlannerKind planner_flag(const std::string& value) {
  return parse_flag("--planner", value, parse_planner_kind(value), planner_kind_names());
}

std::optional<int> parse_args(const char* command, const char* summary, const Args& args,
                              po::options_description& desc) {
  desc.add_options()("help,h", "show this help");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: precis " << command << " [options]\n" << summary << "\n\n" << desc;
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "precis " << command << ": error: " << e.what() << "\n"
              << "Run `precis " << command << " --help` for the options.\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace precis::cli
