// Exceptions the SDK throws besides std::invalid_argument.
#pragma once

#include <stdexcept>
#include <string>

namespace precis {

// A bad configuration; the message starts with the JSON path of the field ("/compress/rate: ...").
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace precis
