#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "engine/utf8.hpp"

using precis::engine::complete_utf8_prefix;

TEST_CASE("complete_utf8_prefix never ends inside a character") {
  // Characters of 1, 2, 3 and 4 bytes; the character boundaries are the running sums.
  const std::vector<std::string> chars = {
      "a", "\xC3\xA9",         "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", " ", "\xE6\x96\x87",
      "z", "\xF0\x9F\x8C\x8D", "\xC3\xBC"};
  std::string s;
  std::vector<size_t> boundaries{0};
  for (const auto& c : chars) {
    s += c;
    boundaries.push_back(s.size());
  }
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    size_t want = 0;
    for (size_t b : boundaries)
      if (b <= cut) want = b;
    INFO("cut " << cut);
    CHECK(complete_utf8_prefix(std::string_view(s).substr(0, cut)) == want);
  }
}

TEST_CASE("invalid bytes are passed through rather than held forever") {
  CHECK(complete_utf8_prefix("ab\x80") == 3);
  CHECK(complete_utf8_prefix("\x80\x80\x80\x80") == 4);
  CHECK(complete_utf8_prefix("a\xFF") == 2);
  CHECK(complete_utf8_prefix("") == 0);
}
