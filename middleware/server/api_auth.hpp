// API keys: "Authorization: Bearer KEY" checked against the configured keys in constant time.
#pragma once

#include <string>
#include <vector>

namespace precis::server {

class ApiAuth {
 public:
  explicit ApiAuth(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  bool enabled() const { return !keys_.empty(); }
  // True when no keys are configured, or `authorization` is "Bearer K" for a configured K.
  bool allows(const std::string& authorization) const;

 private:
  std::vector<std::string> keys_;
};

}  // namespace precis::server
