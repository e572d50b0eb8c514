// Text that compression must never drop, found as byte ranges of the prompt and then turned
// into per-unit flags.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "compress/text_units.hpp"

namespace precis::compression {

struct ByteRange {
  size_t begin = 0, end = 0;
};

// Removes the open/close markers from `text`; `kept` gets the ranges (in the returned text) that
// lay between them. An open marker without a close protects to the end of the text.
std::string strip_keep_markers(std::string_view text, const std::string& open,
                               const std::string& close, std::vector<ByteRange>& kept);

// ``` fenced blocks, fences included (an unclosed fence runs to the end).
std::vector<ByteRange> find_code_fences(std::string_view text);

// Inside every {...} / [...] region: everything outside string literals (brackets, commas,
// colons, numbers, true/false/null), whole object keys, the quotes of string values and their
// escape sequences. What is left droppable is the words inside string values, so a JSON
// document stays parseable whatever is dropped.
std::vector<ByteRange> find_json_structure(std::string_view text);

// Occurrences of `needle` that begin and end on word boundaries (so a force token "a" does not
// protect every word containing that letter).
std::vector<ByteRange> find_force_token(std::string_view text, std::string_view needle);

struct ProtectionRules {
  std::vector<std::string> force_tokens;
  bool keep_numbers = true;
  bool keep_structure = false;
};

// Per-unit flag: 1 when the unit must be kept. `explicit_ranges` are always protected (keep
// markers, question, instruction); sentence ends and line breaks always are too. Ranges only
// protect a unit when they touch the unit itself, not just its leading whitespace (whitespace
// survives through join_units anyway).
std::vector<char> protected_units(const TokenizedText& t, const std::vector<Unit>& units,
                                  const std::vector<ByteRange>& explicit_ranges,
                                  const ProtectionRules& rules);

}  // namespace precis::compression
