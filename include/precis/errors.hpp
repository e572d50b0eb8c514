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

// The pipeline or server is shutting down: the request was not (or not fully) served. The HTTP
// server answers it with 503 "shutting_down".
class ShuttingDown : public std::runtime_error {
 public:
  explicit ShuttingDown(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace precis
