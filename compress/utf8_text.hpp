// UTF-8 helpers for compression: validation, repair, and the character classes that decide
// how tokens group into droppable units (CJK characters, punctuation, sentence ends).
#pragma once

#include <string>
#include <string_view>

namespace precis::compression {

bool is_valid_utf8(std::string_view s);
// Replaces each invalid byte sequence with U+FFFD, so that everything downstream can assume
// valid UTF-8 and the output can never contain a broken character that the input had.
std::string sanitize_utf8(std::string_view s);

// Decodes the character starting at s[i] of a valid UTF-8 string; *len gets its byte length.
char32_t decode_utf8(std::string_view s, size_t i, size_t* len);

inline bool is_ascii_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}
inline bool is_continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Han ideographs, kana: scripts written without spaces, where one character is one unit.
bool is_cjk(char32_t c);
// ASCII punctuation and the Unicode punctuation blocks (general, CJK, full-width forms).
bool is_punctuation(char32_t c);
// . ! ? and their CJK / full-width forms: always kept so sentences stay delimited.
bool is_sentence_end(char32_t c);
bool is_digit(char32_t c);

}  // namespace precis::compression
