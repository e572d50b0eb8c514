// The `precis` command-line program: one function per subcommand, each taking the arguments
// after the subcommand name and returning the process exit status.
#pragma once

#include <string>
#include <vector>

namespace precis::cli {

using Args = std::vector<std::string>;

int cmd_make_model(const Args& args);
int cmd_quantize(const Args& args);
int cmd_generate(const Args& args);
int cmd_score(const Args& args);
int cmd_plan(const Args& args);
int cmd_compress(const Args& args);
int cmd_run(const Args& args);
int cmd_demo(const Args& args);
int cmd_serve(const Args& args);

}  // namespace precis::cli
