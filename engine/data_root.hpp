#pragma once
// Where precis finds its own data (models/, data/) at run time: $PRECIS_HOME when set, else the
// source tree the binary was built from. The override lets a built binary run from another
// checkout, such as the GPU verification bundle (scripts/gpu/) on a host where the build's
// path does not exist.
#include <filesystem>

namespace precis::engine {

std::filesystem::path data_root();

}  // namespace precis::engine
