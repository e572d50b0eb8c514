// Small text helpers shared by the planners: lines, Python literals and names, and cleaning a
// model's raw plan text.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace precis::planner {

inline bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

// Splits on '\n' (dropping '\r'); "" gives no lines.
std::vector<std::string> split_lines(const std::string& text);
std::string join_lines(const std::vector<std::string>& lines);
std::string trim_copy(std::string_view s);
std::string to_lower(std::string_view s);

// A double-quoted Python string literal of `text` on one line: whitespace runs become one
// space, quotes and backslashes are escaped, and text longer than `max_chars` is cut at a word
// boundary and ends in "...".
std::string py_str(std::string_view text, size_t max_chars = 60);
// A Python list of string literals, as many items as fit in `max_chars` (at least one).
std::string py_list(const std::vector<std::string>& items, size_t max_chars = 80,
                    size_t max_item_chars = 40);
// A one-line comment body: whitespace collapsed, cut to `max_chars`.
std::string comment_text(std::string_view text, size_t max_chars = 70);

// A valid, lower-case Python name made from `text` ("3 Red apples!" -> "red_apples"), or
// `fallback` when nothing usable is left; never a keyword.
std::string py_name(std::string_view text, const std::string& fallback = "value");
// Makes `name` unique within `used` (name, name_2, name_3, ...) and records it.
std::string unique_name(const std::string& name, std::set<std::string>& used);
bool is_python_keyword(std::string_view w);
// Whether `w` occurs in `low` as a whole word (no letter or digit on either side).
bool contains_word(const std::string& low, std::string_view w);

// The plan inside a model's raw continuation: code fences and a trailing next few-shot example
// removed, '\r' and trailing spaces dropped, common indentation removed, outer blank lines
// trimmed.
std::string extract_plan_code(const std::string& raw);

}  // namespace precis::planner
