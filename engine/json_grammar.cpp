#include "engine/json_grammar.hpp"

#include <algorithm>
#include <set>

namespace precis::engine {

namespace {

using nlohmann::json;

// Keywords that describe a schema without constraining its instances.
const std::set<std::string> kAnnotations = {"title",    "description", "$schema", "$id",
                                            "$comment", "default",     "examples"};

class Compiler {
 public:
  explicit Compiler(JsonGrammar& g) : g_(g) {
    g_.true_false_root = literal_trie({"true", "false"});
    g_.null_root = literal_trie({"null"});
  }

  // A schema that accepts any value (also the values of undeclared keys and untyped items).
  int32_t any() {
    if (any_ < 0) {
      any_ = add_node();
      g_.nodes[any_].additional = any_;
      g_.nodes[any_].items = any_;
    }
    return any_;
  }

  int32_t compile(const json& s, const std::string& path, int depth) {
    const std::string where = path.empty() ? "/" : path;
    if (depth > JsonGrammar::kMaxNesting)
      throw UnsupportedSchema("JSON Schema nests deeper than " +
                              std::to_string(JsonGrammar::kMaxNesting) + " levels at " + where);
    if (s.is_boolean()) {
      if (s.get<bool>()) return any();
      throw UnsupportedSchema("JSON Schema 'false' at " + where + " accepts no value");
    }
    if (!s.is_object()) throw UnsupportedSchema("JSON Schema at " + where + " is not an object");
    for (const auto& [k, v] : s.items()) {
      static const std::set<std::string> known = {
          "type", "properties", "required", "additionalProperties", "items", "enum", "const"};
      if (!known.count(k) && !kAnnotations.count(k))
        throw UnsupportedSchema("unsupported JSON Schema keyword '" + k + "' at " + where);
    }
    const int32_t id = add_node();
    uint8_t types = kJsonAny;
    if (s.contains("type")) types = read_types(s["type"], where);
    // An integer is a number, so "number" covers it; integer alone restricts numbers.
    if (types & kJsonNumber) types = static_cast<uint8_t>(types | kJsonInteger);
    g_.nodes[id].types = types;

    if (s.contains("enum") || s.contains("const")) {
      if (s.contains("enum") && s.contains("const"))
        throw UnsupportedSchema("both 'enum' and 'const' at " + where);
      json values = s.contains("const") ? json::array({s["const"]}) : s["enum"];
      if (!values.is_array() || values.empty())
        throw UnsupportedSchema("'enum' at " + where + " must be a non-empty array");
      std::vector<std::string> texts;
      for (const json& v : values)
        if (types & type_of(v)) texts.push_back(v.dump());
      if (texts.empty())
        throw UnsupportedSchema("no value of 'enum' at " + where + " has the schema's type");
      g_.nodes[id].enum_root = literal_trie(texts);
      return id;
    }

    if (s.contains("properties")) {
      const json& props = s["properties"];
      if (!props.is_object())
        throw UnsupportedSchema("'properties' at " + where + " must be an object");
      if (props.size() > JsonGrammar::kMaxProperties)
        throw UnsupportedSchema("more than " + std::to_string(JsonGrammar::kMaxProperties) +
                                " properties at " + where);
      std::vector<std::string> names;
      std::vector<int32_t> schemas;
      for (const auto& [name, sub] : props.items()) {
        // Declared keys are matched byte for byte, so they must need no escaping.
        if (json(name).dump() != "\"" + name + "\"")
          throw UnsupportedSchema("property name '" + name + "' at " + where +
                                  " needs escaping (unsupported)");
        names.push_back(name);
        schemas.push_back(compile(sub, path + "/properties/" + name, depth + 1));
      }
      std::vector<std::string> keys;
      for (const auto& n : names) keys.push_back(n + "\"");
      const int32_t root = literal_trie(keys);
      mark_below(root);
      SchemaNode& node = g_.nodes[id];
      node.names = std::move(names);
      node.props = std::move(schemas);
      node.key_root = root;
    }
    if (s.contains("required")) {
      const json& req = s["required"];
      if (!req.is_array()) throw UnsupportedSchema("'required' at " + where + " must be an array");
      for (const json& r : req) {
        const auto& names = g_.nodes[id].names;
        const auto it = r.is_string() ? std::find(names.begin(), names.end(), r.get<std::string>())
                                      : names.end();
        if (it == names.end())
          throw UnsupportedSchema("required property " + r.dump() + " at " + where +
                                  " is not in 'properties' (unsupported)");
        g_.nodes[id].required |= uint64_t{1} << (it - names.begin());
      }
    }
    int32_t additional = any();
    if (s.contains("additionalProperties")) {
      const json& a = s["additionalProperties"];
      additional = a.is_boolean() && !a.get<bool>()
                       ? -1
                       : compile(a, path + "/additionalProperties", depth + 1);
    }
    g_.nodes[id].additional = additional;
    int32_t items = any();
    if (s.contains("items")) {
      if (s["items"].is_array())
        throw UnsupportedSchema("'items' as an array (tuple validation) at " + where +
                                " is unsupported");
      items = compile(s["items"], path + "/items", depth + 1);
    }
    g_.nodes[id].items = items;
    return id;
  }

 private:
  int32_t add_node() {
    g_.nodes.emplace_back();
    return static_cast<int32_t>(g_.nodes.size() - 1);
  }

  static uint8_t read_types(const json& t, const std::string& where) {
    static const std::pair<const char*, uint8_t> kNames[] = {
        {"object", kJsonObject}, {"array", kJsonArray},     {"string", kJsonString},
        {"number", kJsonNumber}, {"integer", kJsonInteger}, {"boolean", kJsonBoolean},
        {"null", kJsonNull}};
    const json list = t.is_array() ? t : json::array({t});
    uint8_t types = 0;
    for (const json& name : list) {
      uint8_t bit = 0;
      for (const auto& [n, b] : kNames)
        if (name.is_string() && name.get<std::string>() == n) bit = b;
      if (!bit)
        throw UnsupportedSchema("unsupported JSON Schema type " + name.dump() + " at " + where);
      types = static_cast<uint8_t>(types | bit);
    }
    if (!types) throw UnsupportedSchema("empty 'type' list at " + where);
    return types;
  }

  static uint8_t type_of(const json& v) {
    if (v.is_object()) return kJsonObject;
    if (v.is_array()) return kJsonArray;
    if (v.is_string()) return kJsonString;
    if (v.is_boolean()) return kJsonBoolean;
    if (v.is_null()) return kJsonNull;
    if (v.is_number_integer()) return kJsonInteger;
    return kJsonNumber;
  }

  int32_t literal_trie(const std::vector<std::string>& texts) {
    const int32_t root = new_literal();
    for (size_t i = 0; i < texts.size(); ++i) {
      int32_t n = root;
      for (unsigned char c : texts[i]) {
        int32_t next = g_.literals[n].child(c);
        if (next < 0) {
          next = new_literal();
          auto& edges = g_.literals[n].next;
          edges.insert(std::lower_bound(edges.begin(), edges.end(), std::make_pair(c, int32_t{0})),
                       {c, next});
        }
        n = next;
      }
      g_.literals[n].value = static_cast<int32_t>(i);
    }
    return root;
  }

  int32_t new_literal() {
    g_.literals.emplace_back();
    return static_cast<int32_t>(g_.literals.size() - 1);
  }

  // Fills `below` so the recognizer can tell whether a key prefix can still name an unseen
  // property.
  uint64_t mark_below(int32_t n) {
    uint64_t m = g_.literals[n].value >= 0 ? uint64_t{1} << g_.literals[n].value : 0;
    const auto edges = g_.literals[n].next;  // copy: recursion does not grow the pool, but be safe
    for (const auto& e : edges) m |= mark_below(e.second);
    g_.literals[n].below = m;
    return m;
  }

  JsonGrammar& g_;
  int32_t any_ = -1;
};

}  // namespace

std::shared_ptr<const JsonGrammar> JsonGrammar::any_object() {
  static const std::shared_ptr<const JsonGrammar> g = [] {
    auto out = std::make_shared<JsonGrammar>();
    Compiler c(*out);
    out->root = c.compile(json{{"type", "object"}}, "", 0);
    out->key = "json_object";
    return out;
  }();
  return g;
}

std::shared_ptr<const JsonGrammar> JsonGrammar::from_schema(const nlohmann::json& schema) {
  auto out = std::make_shared<JsonGrammar>();
  Compiler c(*out);
  out->root = c.compile(schema, "", 0);
  out->key = "json_schema:" + schema.dump();
  return out;
}

}  // namespace precis::engine
