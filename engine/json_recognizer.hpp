// An incremental pushdown recognizer for the language of a JsonGrammar, one byte at a time: the
// state says whether the bytes so far are a prefix of some value the grammar accepts, and how
// they may go on. Token masks (token_constraint.hpp) are computed by running it over a trie of
// the vocabulary's byte strings, so states are small and cheap to copy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/json_grammar.hpp"

namespace precis::engine {

// One open construct. A plain struct without padding, so a state's bytes can key a cache.
struct JsonFrame {
  uint8_t kind = 0;   // JsonRecognizer::Kind
  uint8_t phase = 0;  // what the construct expects next
  uint8_t flags = 0;  // strings: kKeyFlag
  uint8_t unused = 0;
  int32_t node = 0;  // schema node (a key's frame: its object's node)
  int32_t aux = -1;  // literals and keys: trie node (-1: off the trie); objects: current key
  uint32_t unused2 = 0;
  uint64_t seen = 0;  // objects: declared properties already written
};

struct JsonState {
  std::vector<JsonFrame> stack;  // empty once the top-level value is complete
  uint8_t ws_run = 0;            // whitespace bytes in a row
  uint8_t depth = 0;             // open objects and arrays

  // The state's identity as bytes (for caches).
  std::string key() const;
};

class JsonRecognizer {
 public:
  enum Kind : uint8_t { kValue, kObject, kArray, kString, kNumber, kLiteral };

  explicit JsonRecognizer(const JsonGrammar& g) : g_(g) {}

  JsonState start() const;
  // Consumes one byte. False when the bytes would no longer be a prefix of an accepted value;
  // `s` is then unspecified (callers feed copies).
  bool feed(JsonState& s, uint8_t c) const;
  bool feed(JsonState& s, std::string_view bytes) const {
    for (unsigned char c : bytes)
      if (!feed(s, c)) return false;
    return true;
  }
  // The bytes so far are a whole accepted value (the text may end here).
  bool complete(const JsonState& s) const;
  // Complete, and no byte may follow.
  static bool closed(const JsonState& s) { return s.stack.empty(); }

 private:
  enum Step { kTaken, kRejected, kEnded };  // kEnded: complete, and the byte belongs to the parent

  bool value_start(JsonState& s, uint8_t c) const;
  bool container_byte(JsonState& s, uint8_t c) const;
  Step string_byte(JsonState& s, uint8_t c) const;
  static Step number_byte(JsonFrame& f, uint8_t c, bool integer_only);
  Step literal_byte(JsonFrame& f, uint8_t c) const;
  bool key_possible(const JsonFrame& obj) const;
  bool required_done(const JsonFrame& obj) const;
  static bool whitespace(JsonState& s, uint8_t c);
  static void end_frame(JsonState& s);
  void open_value(JsonState& s, int32_t node) const;

  const JsonGrammar& g_;
};

}  // namespace precis::engine
