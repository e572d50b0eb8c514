#include "engine/utf8.hpp"

namespace precis::engine {

size_t complete_utf8_prefix(std::string_view s) {
  // Find the lead byte of the last character: at most 3 continuation bytes back.
  size_t i = s.size();
  size_t continuation = 0;
  while (i > 0 && continuation < 3 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) {
    --i;
    ++continuation;
  }
  if (i == 0) return s.size();  // only continuation bytes: invalid, nothing to wait for
  const unsigned char lead = static_cast<unsigned char>(s[i - 1]);
  size_t want;
  if (lead < 0x80)
    want = 1;
  else if ((lead & 0xE0) == 0xC0)
    want = 2;
  else if ((lead & 0xF0) == 0xE0)
    want = 3;
  else if ((lead & 0xF8) == 0xF0)
    want = 4;
  else
    return s.size();  // a stray continuation or invalid lead byte
  if (want == 1) return s.size();
  return continuation + 1 >= want ? s.size() : i - 1;
}

}  // namespace precis::engine
