// A JSON Schema subset compiled into the graph that the byte-level recognizer (json_recognizer.hpp)
// walks. Supported: type (object, array, string, number, integer, boolean, null, or a list of
// them), properties, required, additionalProperties (false, true or a schema), items, enum,
// const, nesting; annotations (title, description, ...) are ignored; anything else is refused
// with an UnsupportedSchema naming the keyword and where it is, so a caller never gets output
// that silently ignores part of its schema.
//
// The language the grammar accepts is a subset of the schema's instances, chosen so that every
// output parses and validates and a small model cannot stall:
//  - at most kMaxWhitespaceRun whitespace bytes in a row, none after the top-level value;
//  - containers nest at most kMaxNesting deep;
//  - enum/const values are written as nlohmann::json::dump() writes them;
//  - keys of objects that declare properties are written without escapes, each declared key at
//    most once;
//  - \u escapes name no surrogate (characters beyond the BMP are written as UTF-8).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace precis::engine {

class UnsupportedSchema : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum JsonType : uint8_t {
  kJsonObject = 1,
  kJsonArray = 2,
  kJsonString = 4,
  kJsonNumber = 8,
  kJsonInteger = 16,
  kJsonBoolean = 32,
  kJsonNull = 64,
  kJsonAny = 127,
};

// A node of a byte trie of literal texts (enum values, property names).
struct LiteralNode {
  std::vector<std::pair<uint8_t, int32_t>> next;  // sorted by byte
  int32_t value = -1;                             // index of the literal ending here, or -1
  uint64_t below = 0;  // property tries: the properties whose names run through this node

  int32_t child(uint8_t c) const {
    for (const auto& [b, n] : next)
      if (b == c) return n;
    return -1;
  }
};

struct SchemaNode {
  uint8_t types = kJsonAny;
  int32_t enum_root = -1;  // >= 0: the value is one of these literal texts, nothing else
  // Objects.
  std::vector<std::string> names;  // declared properties
  std::vector<int32_t> props;      // their schemas
  uint64_t required = 0;           // bit i: names[i] is required
  int32_t key_root = -1;           // trie of the names, each followed by '"'
  int32_t additional = -1;         // schema of other keys' values; -1: no other keys
  // Arrays.
  int32_t items = -1;
};

struct JsonGrammar {
  static constexpr int kMaxWhitespaceRun = 20;
  static constexpr int kMaxNesting = 32;
  static constexpr int kMaxProperties = 64;

  std::vector<SchemaNode> nodes;  // nodes[root] is the value
  int32_t root = 0;
  std::vector<LiteralNode> literals;  // every trie's nodes
  int32_t true_false_root = -1;
  int32_t null_root = -1;
  std::string key;  // identifies the grammar (for sharing compiled masks)

  // Any JSON object ({"type": "json_object"}).
  static std::shared_ptr<const JsonGrammar> any_object();
  // Throws UnsupportedSchema ("unsupported JSON Schema keyword 'pattern' at /properties/id").
  static std::shared_ptr<const JsonGrammar> from_schema(const nlohmann::json& schema);
};

}  // namespace precis::engine
