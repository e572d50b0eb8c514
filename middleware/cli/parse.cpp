#include "middleware/cli/parse.hpp"

#include <iostream>

namespace po = boost::program_options;

namespace precis::cli {

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
