#include "engine/data_root.hpp"

#include <cstdlib>

namespace precis::engine {

std::filesystem::path data_root() {
  if (const char* home = std::getenv("PRECIS_HOME"); home && *home) return home;
  return PRECIS_SOURCE_DIR;
}

}  // namespace precis::engine
