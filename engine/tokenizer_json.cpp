#include "engine/tokenizer_json.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/load_error.hpp"

namespace precis::engine {

namespace {

using nlohmann::json;

// Hugging Face ByteLevel's own regex (use_regex: true).
const char* const kByteLevelRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LoadError(path, "cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw LoadError(path, std::string("not valid JSON: ") + e.what());
  }
}

std::string in_quotes(const std::string& s) {
  return "\"" + s + "\"";
}

// Reads one tokenizer.json; `src` names the file in every error.
class Reader {
 public:
  Reader(const std::string& src, const json& root) : src_(src), root_(root) {}

  // Token text -> id, from model.vocab and added_tokens.
  const std::map<std::string, int>& vocab() const { return vocab_; }

  BpeData read() {
    if (!root_.is_object()) fail("(top level)", "must be a JSON object");
    read_model();
    read_added_tokens();
    read_normalizer();
    read_pre_tokenizer();
    read_post_processor();
    return std::move(data_);
  }

 private:
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw LoadError(src_, field + ": " + what);
  }

  std::string type_of(const json& obj, const std::string& field) const {
    if (!obj.is_object()) fail(field, "must be an object");
    if (!obj.contains("type")) fail(field + ".type", "missing");
    if (!obj["type"].is_string()) fail(field + ".type", "must be a string");
    return obj["type"].get<std::string>();
  }

  bool flag(const json& obj, const char* key, bool fallback, const std::string& field) const {
    if (!obj.contains(key) || obj[key].is_null()) return fallback;
    if (!obj[key].is_boolean()) fail(field + "." + key, "must be true or false");
    return obj[key].get<bool>();
  }

  int token_of(const std::string& text, const std::string& field) const {
    auto it = vocab_.find(text);
    if (it == vocab_.end()) fail(field, in_quotes(text) + " is not a token");
    return it->second;
  }

  void set_token(int id, const std::string& text, const std::string& field) {
    if (id >= static_cast<int>(data_.tokens.size())) {
      data_.tokens.resize(id + 1);
      data_.types.resize(id + 1, TokenType::Unused);
      assigned_.resize(id + 1, false);
    }
    if (assigned_[id]) {
      fail(field, "id " + std::to_string(id) + " is given to both " + in_quotes(data_.tokens[id]) +
                      " and " + in_quotes(text));
    }
    assigned_[id] = true;
    data_.tokens[id] = text;
    data_.types[id] = TokenType::Normal;
  }

  void read_model() {
    if (!root_.contains("model") || root_["model"].is_null()) fail("model", "missing");
    const json& model = root_["model"];
    if (!model.is_object()) fail("model", "must be an object");
    if (model.contains("type")) {
      const std::string type = type_of(model, "model");
      if (type != "BPE") {
        fail("model.type", in_quotes(type) + " is not supported (only \"BPE\", byte-level)");
      }
    } else if (!model.contains("merges")) {
      fail("model.type", "missing");
    }
    if (flag(model, "byte_fallback", false, "model")) {
      fail("model.byte_fallback",
           "SentencePiece-style BPE is not supported here (load its tokenizer.model)");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && !model[key].is_null() &&
          !(model[key].is_string() && model[key].get<std::string>().empty())) {
        fail(std::string("model.") + key, "is not supported");
      }
    }
    if (model.contains("dropout") && !model["dropout"].is_null()) {
      if (!model["dropout"].is_number()) fail("model.dropout", "must be a number or null");
      if (model["dropout"].get<double>() > 0) fail("model.dropout", "BPE dropout is not supported");
    }
    data_.ignore_merges = flag(model, "ignore_merges", false, "model");

    if (!model.contains("vocab")) fail("model.vocab", "missing");
    const json& vocab = model["vocab"];
    if (!vocab.is_object()) fail("model.vocab", "must be an object of token: id");
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      const std::string field = "model.vocab[" + in_quotes(it.key()) + "]";
      if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
          it.value().get<int64_t>() > 100'000'000) {
        fail(field, "the id must be a non-negative integer");
      }
      const int id = static_cast<int>(it.value().get<int64_t>());
      set_token(id, it.key(), field);
      vocab_[it.key()] = id;
    }
    if (vocab_.empty()) fail("model.vocab", "is empty");

    if (!model.contains("merges")) fail("model.merges", "missing");
    const json& merges = model["merges"];
    if (!merges.is_array()) fail("model.merges", "must be an array");
    data_.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const std::string field = "model.merges[" + std::to_string(i) + "]";
      const json& m = merges[i];
      std::pair<std::string, std::string> pair;
      if (m.is_string()) {
        auto split = split_merge(m.get<std::string>());
        if (!split) fail(field, in_quotes(m.get<std::string>()) + " is not two tokens and a space");
        pair = std::move(*split);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        pair = {m[0].get<std::string>(), m[1].get<std::string>()};
      } else {
        fail(field, "must be \"a b\" or [\"a\", \"b\"]");
      }
      for (const std::string* t : {&pair.first, &pair.second}) {
        if (!vocab_.count(*t)) fail(field, in_quotes(*t) + " is not in model.vocab");
      }
      if (!vocab_.count(pair.first + pair.second)) {
        fail(field,
             "the merged token " + in_quotes(pair.first + pair.second) + " is not in model.vocab");
      }
      data_.merges.push_back(std::move(pair));
    }
  }

  void read_added_tokens() {
    if (!root_.contains("added_tokens") || root_["added_tokens"].is_null()) return;
    const json& added = root_["added_tokens"];
    if (!added.is_array()) fail("added_tokens", "must be an array");
    for (size_t i = 0; i < added.size(); ++i) {
      const std::string field = "added_tokens[" + std::to_string(i) + "]";
      const json& t = added[i];
      if (!t.is_object()) fail(field, "must be an object");
      if (!t.contains("id") || !t["id"].is_number_integer() || t["id"].get<int64_t>() < 0 ||
          t["id"].get<int64_t>() > 100'000'000) {
        fail(field + ".id", "must be a non-negative integer");
      }
      if (!t.contains("content") || !t["content"].is_string() ||
          t["content"].get<std::string>().empty()) {
        fail(field + ".content", "must be a non-empty string");
      }
      const int id = static_cast<int>(t["id"].get<int64_t>());
      const std::string content = t["content"].get<std::string>();
      const bool special = flag(t, "special", false, field);
      if (flag(t, "single_word", false, field)) fail(field + ".single_word", "is not supported");
      auto known = vocab_.find(content);
      if (known != vocab_.end() && known->second != id) {
        fail(field, in_quotes(content) + " has id " + std::to_string(id) +
                        " but model.vocab gives " + std::to_string(known->second));
      }
      if (known == vocab_.end()) {
        if (id < static_cast<int>(assigned_.size()) && assigned_[id]) {
          fail(field + ".id", std::to_string(id) + " is " + in_quotes(data_.tokens[id]) +
                                  " in model.vocab, not " + in_quotes(content));
        }
        set_token(id, content, field);
        vocab_[content] = id;
      }
      data_.types[id] = special ? TokenType::Control : TokenType::UserDefined;
      if (flag(t, "lstrip", false, field)) data_.lstrip_ids.push_back(id);
      if (flag(t, "rstrip", false, field)) data_.rstrip_ids.push_back(id);
    }
  }

  void read_normalizer() {
    if (!root_.contains("normalizer") || root_["normalizer"].is_null()) return;
    check_normalizer(root_["normalizer"], "normalizer");
  }

  void check_normalizer(const json& n, const std::string& field) const {
    const std::string type = type_of(n, field);
    if (type == "NFC") return;  // accepted, not applied (see tokenizer_json.hpp)
    if (type == "Sequence") {
      if (!n.contains("normalizers") || !n["normalizers"].is_array()) {
        fail(field + ".normalizers", "must be an array");
      }
      for (size_t i = 0; i < n["normalizers"].size(); ++i) {
        check_normalizer(n["normalizers"][i], field + ".normalizers[" + std::to_string(i) + "]");
      }
      return;
    }
    fail(field + ".type", in_quotes(type) + " is not supported (only NFC or none)");
  }

  void read_pre_tokenizer() {
    if (root_.contains("pre_tokenizer") && !root_["pre_tokenizer"].is_null()) {
      collect_pre(root_["pre_tokenizer"], "pre_tokenizer");
    }
    if (!byte_level_) {
      fail("pre_tokenizer", "has no ByteLevel step: only byte-level BPE is supported");
    }
    const std::string name = recognise_pretokenizer(regexes_);
    if (!name.empty()) {
      data_.pre_tokenizer = name;
    } else {
      data_.pre_tokenizer = "tokenizer.json";
      data_.pre_tokenizer_regexes = regexes_;
    }
  }

  static std::string escape_regex(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (std::string_view("\\^$.|?*+()[]{}-/#").find(c) != std::string_view::npos) out += '\\';
      out += c;
    }
    return out;
  }

  void collect_pre(const json& p, const std::string& field) {
    const std::string type = type_of(p, field);
    if (byte_level_ && type != "Sequence") {
      fail(field + ".type", in_quotes(type) + " after ByteLevel is not supported");
    }
    if (type == "Sequence") {
      if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) {
        fail(field + ".pretokenizers", "must be an array");
      }
      for (size_t i = 0; i < p["pretokenizers"].size(); ++i) {
        collect_pre(p["pretokenizers"][i], field + ".pretokenizers[" + std::to_string(i) + "]");
      }
    } else if (type == "ByteLevel") {
      byte_level_ = true;
      if (flag(p, "add_prefix_space", false, field)) {
        if (!regexes_.empty()) {
          fail(field + ".add_prefix_space", "true after another pre-tokenizer is not supported");
        }
        data_.add_prefix_space = true;
      }
      if (flag(p, "use_regex", true, field)) regexes_.push_back(kByteLevelRegex);
    } else if (type == "Digits") {
      regexes_.push_back(flag(p, "individual_digits", false, field) ? R"(\p{N})" : R"(\p{N}+)");
    } else if (type == "Split") {
      if (!p.contains("pattern") || !p["pattern"].is_object()) {
        fail(field + ".pattern", "must be {\"Regex\": ...} or {\"String\": ...}");
      }
      const json& pat = p["pattern"];
      if (pat.contains("Regex") && pat["Regex"].is_string()) {
        regexes_.push_back(pat["Regex"].get<std::string>());
      } else if (pat.contains("String") && pat["String"].is_string()) {
        regexes_.push_back(escape_regex(pat["String"].get<std::string>()));
      } else {
        fail(field + ".pattern", "must be {\"Regex\": ...} or {\"String\": ...}");
      }
      if (!p.contains("behavior") || !p["behavior"].is_string() ||
          p["behavior"].get<std::string>() != "Isolated") {
        fail(field + ".behavior", "only \"Isolated\" is supported");
      }
      if (flag(p, "invert", false, field)) fail(field + ".invert", "true is not supported");
    } else {
      fail(field + ".type", in_quotes(type) + " is not supported");
    }
  }

  void read_post_processor() {
    if (root_.contains("post_processor") && !root_["post_processor"].is_null()) {
      read_post(root_["post_processor"], "post_processor");
    }
  }

  // A TemplateProcessing whose single-sequence template starts with a special token: that token
  // is BOS and the model expects it.
  void read_post(const json& p, const std::string& field) {
    const std::string type = type_of(p, field);
    if (type == "Sequence") {
      if (!p.contains("processors") || !p["processors"].is_array()) {
        fail(field + ".processors", "must be an array");
      }
      for (size_t i = 0; i < p["processors"].size(); ++i) {
        read_post(p["processors"][i], field + ".processors[" + std::to_string(i) + "]");
      }
    } else if (type == "TemplateProcessing") {
      if (!p.contains("single") || !p["single"].is_array()) {
        fail(field + ".single", "must be an array");
      }
      const json& single = p["single"];
      if (!single.empty() && single[0].is_object() && single[0].contains("SpecialToken")) {
        const json& st = single[0]["SpecialToken"];
        if (!st.is_object() || !st.contains("id") || !st["id"].is_string()) {
          fail(field + ".single[0].SpecialToken.id", "must be a string");
        }
        data_.bos = token_of(st["id"].get<std::string>(), field + ".single[0].SpecialToken.id");
        data_.add_bos = true;
      }
    }
    // Other processors (ByteLevel, ...) add nothing to a single sequence.
  }

  const std::string& src_;
  const json& root_;
  BpeData data_;
  std::map<std::string, int> vocab_;
  std::vector<bool> assigned_;
  std::vector<std::string> regexes_;
  bool byte_level_ = false;
};

// bos_token / eos_token of a tokenizer_config.json: a string, {"content": ...} or null.
std::string config_token(const std::string& path, const json& cfg, const char* key) {
  if (!cfg.contains(key) || cfg[key].is_null()) return {};
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  throw LoadError(path, std::string(key) + ": must be a string or {\"content\": ...}");
}

}  // namespace

BpeData read_tokenizer_json(const std::string& path) {
  if (!std::filesystem::exists(path)) throw LoadError(path, "tokenizer file not found");
  const json root = read_json(path);
  Reader reader(path, root);
  BpeData data = reader.read();
  data.source = path;

  const auto config = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config)) {
    const std::string cpath = config.string();
    const json cfg = read_json(cpath);
    if (!cfg.is_object()) throw LoadError(cpath, "(top level): must be a JSON object");
    auto id_of = [&](const std::string& text, const char* key) {
      auto it = reader.vocab().find(text);
      if (it == reader.vocab().end()) {
        throw LoadError(cpath,
                        std::string(key) + ": " + in_quotes(text) + " is not a token of " + path);
      }
      return it->second;
    };
    if (auto bos = config_token(cpath, cfg, "bos_token"); !bos.empty()) {
      data.bos = id_of(bos, "bos_token");
    }
    if (auto eos = config_token(cpath, cfg, "eos_token"); !eos.empty()) {
      data.eos = id_of(eos, "eos_token");
    }
    if (cfg.contains("add_bos_token") && !cfg["add_bos_token"].is_null()) {
      if (!cfg["add_bos_token"].is_boolean()) {
        throw LoadError(cpath, "add_bos_token: must be true or false");
      }
      data.add_bos = cfg["add_bos_token"].get<bool>();
    }
  }
  if (data.eos < 0) {
    // No word on eos: the first special token spelt like one (<|endoftext|>, </s>, ...).
    for (size_t id = 0; id < data.tokens.size(); ++id) {
      if (data.types[id] == TokenType::Control && is_end_of_generation_text(data.tokens[id])) {
        data.eos = static_cast<int>(id);
        break;
      }
    }
  }
  return data;
}

std::unique_ptr<BpeTokenizer> load_tokenizer_json(const std::string& path) {
  return std::make_unique<BpeTokenizer>(read_tokenizer_json(path));
}

}  // namespace precis::engine
