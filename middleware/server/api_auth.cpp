#include "middleware/server/api_auth.hpp"

#include <cctype>

namespace precis::server {

namespace {

// Compares without an early exit, so the time taken does not reveal how much of a key matched.
bool same(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace

bool ApiAuth::allows(const std::string& authorization) const {
  if (keys_.empty()) return true;
  const std::string prefix = "Bearer ";
  if (authorization.size() <= prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  const std::string key = authorization.substr(prefix.size());
  bool ok = false;
  for (const auto& k : keys_) ok |= same(key, k);
  return ok;
}

}  // namespace precis::server
