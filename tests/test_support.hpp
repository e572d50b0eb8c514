// Helpers shared by the tests: scratch directories and cached tiny models.
#pragma once

#include <string>

#include "engine/dtype.hpp"

namespace precis::test {

// A fresh, empty directory under the build tree, unique to this process and `name`.
std::string scratch_dir(const std::string& name);

// A model made by make_model(preset, seed, dtype), written once per test process and reused.
std::string cached_model(const std::string& preset, uint64_t seed, engine::DType dtype);

// Runs a shell command, returns its exit status; stdout goes to `out` when given.
int run_command(const std::string& cmd, std::string* out = nullptr);

}  // namespace precis::test
