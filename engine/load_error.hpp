// The one exception type for everything that reads model files: its message always names the
// file and the field that was wrong, so a user can fix the input without a debugger.
#pragma once

#include <stdexcept>
#include <string>

namespace precis::engine {

class LoadError : public std::runtime_error {
 public:
  LoadError(const std::string& file, const std::string& what)
      : std::runtime_error(file + ": " + what) {}
};

}  // namespace precis::engine
