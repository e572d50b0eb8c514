// JSON constraints (engine/json_grammar, json_recognizer, token_trie, token_constraint): the
// token masks agree with a brute-force check on a small vocabulary, state by state along random
// walks: a token is allowed iff appending its bytes keeps the text a valid prefix of some value
// the grammar accepts, judged by an independent recursive-descent checker written here; an end
// token is allowed iff the text is a complete value. Also: unsupported schemas are refused by
// name, and the trie lists every token once.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "engine/json_grammar.hpp"
#include "engine/token_constraint.hpp"

using namespace precis::engine;
using nlohmann::json;

namespace {

// The checker. It reads the schema itself (not the compiled grammar) and parses the whole text
// from the start, by the rules json_grammar.hpp states for the accepted language.
class PrefixChecker {
 public:
  enum R { kBad, kEnd, kOk };  // invalid; ran out of text while still viable; a whole value

  explicit PrefixChecker(const json& schema) : schema_(schema) {}

  // Some accepted value starts with `text`.
  bool prefix_ok(const std::string& text) {
    const R r = top(text);
    return r == kEnd || (r == kOk && i_ == t_.size());
  }
  bool complete(const std::string& text) { return top(text) == kOk && i_ == t_.size(); }

 private:
  R top(const std::string& text) {
    t_ = text;
    i_ = 0;
    depth_ = 0;
    return value(schema_);
  }

  bool eof() const { return i_ >= t_.size(); }
  uint8_t cur() const { return static_cast<uint8_t>(t_[i_]); }
  static bool ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  bool skip_ws() {
    int run = 0;
    while (!eof() && ws(cur())) {
      ++i_;
      if (++run > JsonGrammar::kMaxWhitespaceRun) return false;
    }
    return true;
  }

  static bool has_type(const json& s, const std::string& type) {
    if (!s.is_object() || !s.contains("type")) return true;
    const json& t = s["type"];
    auto one = [&](const std::string& n) {
      return n == type || (type == "integer" && n == "number");
    };
    if (t.is_string()) return one(t.get<std::string>());
    for (const auto& n : t)
      if (one(n.get<std::string>())) return true;
    return false;
  }

  static std::string type_name(const json& v) {
    if (v.is_object()) return "object";
    if (v.is_array()) return "array";
    if (v.is_string()) return "string";
    if (v.is_boolean()) return "boolean";
    if (v.is_null()) return "null";
    return v.is_number_integer() ? "integer" : "number";
  }

  R value(const json& s) {
    if (!skip_ws()) return kBad;
    if (eof()) return kEnd;
    if (s.is_object() && (s.contains("enum") || s.contains("const"))) {
      const json values = s.contains("const") ? json::array({s["const"]}) : s["enum"];
      std::vector<std::string> texts;
      for (const auto& v : values)
        if (has_type(s, type_name(v))) texts.push_back(v.dump());
      return literal(texts);
    }
    const uint8_t c = cur();
    if (c == '{' && has_type(s, "object")) return object(s);
    if (c == '[' && has_type(s, "array")) return array(s);
    if (c == '"' && has_type(s, "string")) {
      std::string unused;
      return string(false, unused);
    }
    if ((c == '-' || (c >= '0' && c <= '9')) && has_type(s, "integer"))
      return number(!has_type(s, "number"));
    if ((c == 't' || c == 'f') && has_type(s, "boolean")) return literal({"true", "false"});
    if (c == 'n' && has_type(s, "null")) return literal({"null"});
    return kBad;
  }

  R literal(const std::vector<std::string>& texts) {
    const std::string rest = t_.substr(i_);
    size_t best = 0;
    bool viable = false, whole = false;
    for (const auto& v : texts) {
      if (v.compare(0, rest.size(), rest) == 0) {
        viable = true;  // the text ends inside (or exactly at the end of) v
        whole = whole || v.size() == rest.size();
      }
      if (rest.compare(0, v.size(), v) == 0) best = std::max(best, v.size());
    }
    if (whole) {
      i_ = t_.size();
      return kOk;
    }
    if (viable) return kEnd;
    if (best == 0) return kBad;
    i_ += best;
    return kOk;
  }

  R number(bool integer_only) {
    auto digit = [&] { return !eof() && cur() >= '0' && cur() <= '9'; };
    if (cur() == '-') {
      ++i_;
      if (eof()) return kEnd;
      if (!digit()) return kBad;
    }
    if (cur() == '0') {
      ++i_;
    } else {
      while (digit()) ++i_;
    }
    if (eof() || integer_only) return kOk;
    if (cur() == '.') {
      ++i_;
      if (eof()) return kEnd;
      if (!digit()) return kBad;
      while (digit()) ++i_;
    }
    if (!eof() && (cur() == 'e' || cur() == 'E')) {
      ++i_;
      if (eof()) return kEnd;
      if (cur() == '+' || cur() == '-') ++i_;
      if (eof()) return kEnd;
      if (!digit()) return kBad;
      while (digit()) ++i_;
    }
    return kOk;
  }

  // A string from its opening quote; `raw` gets the bytes between the quotes. kEnd when the text
  // stops inside it.
  R string(bool no_escapes, std::string& raw) {
    ++i_;
    while (true) {
      if (eof()) return kEnd;
      const uint8_t c = cur();
      if (c == '"') {
        ++i_;
        return kOk;
      }
      if (c < 0x20) return kBad;
      if (c == '\\') {
        if (no_escapes) return kBad;
        ++i_;
        if (eof()) return kEnd;
        const uint8_t e = cur();
        ++i_;
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            if (eof()) return kEnd;
            const uint8_t h = cur();
            if (!std::isxdigit(h)) return kBad;
            // No surrogates: \uD800-\uDFFF.
            if (k == 1 && (t_[i_ - 1] == 'd' || t_[i_ - 1] == 'D') && !(h >= '0' && h <= '7'))
              return kBad;
            ++i_;
          }
        } else if (std::string("\"\\/bfnrt").find(static_cast<char>(e)) == std::string::npos) {
          return kBad;
        }
        raw += "\\";
        continue;
      }
      // One UTF-8 character, by Unicode's table of well-formed sequences.
      int len = 1;
      uint8_t lo = 0x80, hi = 0xBF;
      if (c >= 0x80) {
        if (c >= 0xC2 && c <= 0xDF)
          len = 2;
        else if (c >= 0xE0 && c <= 0xEF)
          len = 3;
        else if (c >= 0xF0 && c <= 0xF4)
          len = 4;
        else
          return kBad;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
      }
      raw += static_cast<char>(c);
      ++i_;
      for (int k = 1; k < len; ++k) {
        if (eof()) return kEnd;
        const uint8_t b = cur();
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return kBad;
        raw += static_cast<char>(b);
        ++i_;
      }
    }
  }

  R array(const json& s) {
    if (depth_ >= JsonGrammar::kMaxNesting) return kBad;
    ++depth_;
    ++i_;
    const json items = s.is_object() && s.contains("items") ? s["items"] : json(true);
    if (!skip_ws()) return kBad;
    if (eof()) return kEnd;
    if (cur() != ']') {
      while (true) {
        const R r = value(items);
        if (r != kOk) return r;
        if (!skip_ws()) return kBad;
        if (eof()) return kEnd;
        if (cur() != ',') break;
        ++i_;
      }
    }
    if (cur() != ']') return kBad;
    ++i_;
    --depth_;
    return kOk;
  }

  R object(const json& s) {
    if (depth_ >= JsonGrammar::kMaxNesting) return kBad;
    ++depth_;
    ++i_;
    const bool declares = s.is_object() && s.contains("properties");
    const json props = declares ? s["properties"] : json::object();
    std::set<std::string> required;
    if (s.is_object() && s.contains("required"))
      for (const auto& r : s["required"]) required.insert(r.get<std::string>());
    json additional = true;
    if (s.is_object() && s.contains("additionalProperties")) additional = s["additionalProperties"];
    const bool other_keys = !(additional.is_boolean() && !additional.get<bool>());
    std::set<std::string> seen;
    auto key_possible = [&] {
      if (other_keys) return true;
      for (const auto& [k, v] : props.items())
        if (!seen.count(k)) return true;
      return false;
    };
    auto required_done = [&] {
      for (const auto& r : required)
        if (!seen.count(r)) return false;
      return true;
    };
    bool first = true;
    while (true) {
      if (!skip_ws()) return kBad;
      if (eof()) return kEnd;
      if (first && cur() == '}') {
        if (!required_done()) return kBad;
        ++i_;
        --depth_;
        return kOk;
      }
      if (cur() != '"' || !key_possible()) return kBad;
      std::string key;
      const R kr = string(declares, key);
      if (kr == kBad) return kBad;
      if (kr == kEnd) {
        if (other_keys) return kEnd;
        for (const auto& [k, v] : props.items())
          if (!seen.count(k) && k.compare(0, key.size(), key) == 0) return kEnd;
        return kBad;
      }
      const json* vs = nullptr;
      if (props.contains(key)) {
        if (seen.count(key)) return kBad;
        seen.insert(key);
        vs = &props[key];
      } else {
        if (!other_keys) return kBad;
        vs = &additional;
      }
      if (!skip_ws()) return kBad;
      if (eof()) return kEnd;
      if (cur() != ':') return kBad;
      ++i_;
      const R r = value(*vs);
      if (r != kOk) return r;
      if (!skip_ws()) return kBad;
      if (eof()) return kEnd;
      if (cur() == '}') {
        if (!required_done()) return kBad;
        ++i_;
        --depth_;
        return kOk;
      }
      if (cur() != ',' || !key_possible()) return kBad;
      ++i_;
      first = false;
    }
  }

  json schema_;
  std::string t_;
  size_t i_ = 0;
  int depth_ = 0;
};

// Token 0 is the end token (no bytes). The rest: JSON's characters one by one, and pieces that
// cross boundaries the way real tokens do (a quote and a colon, a key and its value, broken and
// whole UTF-8 characters, surrogate escapes, runs of whitespace).
std::vector<std::string> small_vocab() {
  std::vector<std::string> v = {""};
  for (const char* s : {"{",      "}",    "[",        "]",        ":",        ",",
                        "\"",     "\\",   " ",        "\n",       "0",        "1",
                        "2",      "9",    "-",        "+",        ".",        "e",
                        "E",      "a",    "b",        "c",        "d",        "t",
                        "r",      "u",    "f",        "l",        "s",        "n",
                        "x",      "k",    "{\"",      "\":",      "\",",      "\"}",
                        "\": ",   ", \"", "true",     "null",     "fal",      "se",
                        "\\u",    "00",   "d8",       "D7",       "\"a\"",    "\"ab\"",
                        "1.5",    "e+",   "-0",       "01",       "]}",       "}\n",
                        "  ",     "    ", "\n  ",     "\"b\": [", "\xC3\xA9", "\xC3",
                        "\xA9",   "\xE0", "\xA0\x80", "\xED\x9F", "\xBF",     "\xF0\x9F\x98\x80",
                        "\x01",   "name", "\"name\"", "age",      "\"age\":", "tags",
                        "[\"",    "\"]",  "}]",       "10",       "\\n",      "\\\"",
                        "k\":1}", "}}",   "]]"})
    v.push_back(s);
  return v;
}

void check_masks(const json& schema, const std::shared_ptr<const JsonGrammar>& grammar, int walks,
                 int steps) {
  const std::vector<std::string> vocab = small_vocab();
  auto trie = std::make_shared<const TokenTrie>(vocab);
  TokenConstraint tc(grammar, trie, {0});
  PrefixChecker checker(schema);
  std::mt19937 rng(1234);
  int states = 0;
  for (int w = 0; w < walks; ++w) {
    JsonState s = tc.start();
    std::string text;
    for (int k = 0; k < steps; ++k) {
      const auto mask = tc.mask(s);
      ++states;
      INFO("schema " << schema.dump() << " text '" << text << "'");
      CHECK(mask->allows(0) == checker.complete(text));
      std::vector<int> allowed;
      for (int t = 1; t < static_cast<int>(vocab.size()); ++t) {
        INFO("token '" << vocab[t] << "'");
        const bool expect = checker.prefix_ok(text + vocab[t]);
        REQUIRE(mask->allows(t) == expect);
        if (expect) allowed.push_back(t);
      }
      if (allowed.empty() || TokenConstraint::closed(s)) break;
      // Favour structure over endless strings: closing and separating tokens come up often.
      const int t = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
      REQUIRE(tc.advance(s, t));
      text += vocab[t];
    }
  }
  CHECK(states > walks);
}

}  // namespace

TEST_CASE("token trie lists every non-empty token once, in depth-first order") {
  const std::vector<std::string> vocab = {"", "ab", "a", "b", "ab", "abc", "\xC3\xA9"};
  TokenTrie trie(vocab);
  std::multiset<int> listed;
  for (const auto& n : trie.nodes())
    for (uint32_t k = 0; k < n.count; ++k) listed.insert(trie.tokens(n)[k]);
  CHECK(listed == std::multiset<int>{1, 2, 3, 4, 5, 6});
  // Root, a, ab, abc, b, 0xC3, 0xA9.
  REQUIRE(trie.nodes().size() == 7);
  CHECK(trie.nodes()[0].end == 7);
  CHECK(trie.nodes()[1].end == 4);  // "a" holds ab and abc
  CHECK(trie.max_depth() == 3);
}

TEST_CASE("json_object masks agree with the brute-force checker") {
  check_masks(json{{"type", "object"}}, JsonGrammar::any_object(), 300, 40);
}

TEST_CASE("JSON Schema masks agree with the brute-force checker") {
  const json schemas[] = {
      json::parse(R"({"type": "object", "properties": {
          "name": {"type": "string"}, "age": {"type": "integer"},
          "tags": {"type": "array", "items": {"enum": ["a", "ab", "b"]}},
          "ok": {"type": "boolean"}, "n": {"type": ["number", "null"]}},
        "required": ["name", "age"], "additionalProperties": false})"),
      json::parse(R"({"type": "object", "properties": {"a": {"type": "number"},
          "ab": {"const": 1}}, "required": ["a"]})"),
      json::parse(R"({"type": "number"})"),
      json::parse(R"({"enum": [1, 10, "x", null, {"k": [1, 2]}]})"),
      json::parse(R"({"type": "array", "items": {"type": "array"}})"),
      json::parse(R"({"type": "object", "additionalProperties": {"type": "integer"}})"),
  };
  for (const json& s : schemas) check_masks(s, JsonGrammar::from_schema(s), 150, 40);
}

TEST_CASE("unsupported schema features are refused by name") {
  auto refuses = [](const char* schema, const std::string& part) {
    try {
      JsonGrammar::from_schema(json::parse(schema));
    } catch (const UnsupportedSchema& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(part) != std::string::npos);
      return;
    }
    FAIL("accepted " << schema);
  };
  refuses(R"({"type": "string", "pattern": "a+"})", "'pattern' at /");
  refuses(R"({"properties": {"id": {"anyOf": []}}})", "'anyOf' at /properties/id");
  refuses(R"({"type": "date"})", "type \"date\"");
  refuses(R"({"properties": {"a": {}}, "required": ["b"]})", "\"b\"");
  refuses(R"({"enum": []})", "'enum'");
  refuses(R"({"type": "string", "enum": [1]})", "no value of 'enum'");
  refuses(R"({"items": [{}]})", "tuple");
  // Annotations are not constraints: accepted.
  CHECK_NOTHROW(JsonGrammar::from_schema(json::parse(R"({"title": "t", "description": "d"})")));
}

TEST_CASE("a constraint the vocabulary cannot spell has an empty mask") {
  // No token writes 'z', so after "xy" nothing fits: callers must report it, not wait.
  const std::vector<std::string> vocab = {"", "\"", "x", "y"};
  auto trie = std::make_shared<const TokenTrie>(vocab);
  TokenConstraint tc(JsonGrammar::from_schema(json::parse(R"({"enum": ["xyz"]})")), trie, {0});
  JsonState s = tc.start();
  CHECK(tc.mask(s)->allowed == 1);  // '"'
  for (int t : {1, 2, 3}) REQUIRE(tc.advance(s, t));
  CHECK(tc.mask(s)->allowed == 0);
}
