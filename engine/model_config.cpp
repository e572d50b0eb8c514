#include "engine/model_config.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/load_error.hpp"

using nlohmann::json;

namespace precis::engine {

namespace {

int positive_int(const json& j, const std::string& path, const char* field) {
  if (!j.is_number_integer() || j.get<int64_t>() <= 0 ||
      j.get<int64_t>() > std::numeric_limits<int>::max())
    throw LoadError(path, std::string("field '") + field + "': must be a positive integer (got " +
                              j.dump() + ")");
  return static_cast<int>(j.get<int64_t>());
}

int required_int(const json& c, const std::string& path, const char* field) {
  auto it = c.find(field);
  if (it == c.end()) throw LoadError(path, std::string("field '") + field + "': missing");
  return positive_int(*it, path, field);
}

int optional_int(const json& c, const std::string& path, const char* field, int def) {
  auto it = c.find(field);
  if (it == c.end() || it->is_null()) return def;
  return positive_int(*it, path, field);
}

float optional_positive_float(const json& c, const std::string& path, const char* field,
                              float def) {
  auto it = c.find(field);
  if (it == c.end() || it->is_null()) return def;
  if (!it->is_number() || !(it->get<double>() > 0.0))
    throw LoadError(path, std::string("field '") + field + "': must be a positive number (got " +
                              it->dump() + ")");
  return static_cast<float>(it->get<double>());
}

int token_id(const json& j, const std::string& path, const char* field) {
  if (!j.is_number_integer() || j.get<int64_t>() < 0 ||
      j.get<int64_t>() > std::numeric_limits<int>::max())
    throw LoadError(path, std::string("field '") + field +
                              "': must be a non-negative integer (got " + j.dump() + ")");
  return static_cast<int>(j.get<int64_t>());
}

// A float widened to double dumps as 9.999999747378752e-06; round-trip through the shortest
// float text so config.json says 1e-05 like HF configs do.
double clean_float(float f) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, f);
  return std::strtod(std::string(buf, r.ptr).c_str(), nullptr);
}

}  // namespace

std::vector<double> rope_inv_freq(const ModelConfig& c) {
  const int hd = c.head_dim();
  constexpr double kPi = 3.14159265358979323846;
  std::vector<double> f;
  for (int i = 0; i < hd / 2; ++i) {
    double inv = 1.0 / std::pow(static_cast<double>(c.rope_theta), 2.0 * i / hd);
    if (c.rope_llama3_factor > 0) {
      // transformers' _compute_llama3_parameters.
      const double old_ctx = c.rope_llama3_original_context;
      const double low = c.rope_llama3_low_freq_factor, high = c.rope_llama3_high_freq_factor;
      const double wavelen = 2 * kPi / inv;
      if (wavelen > old_ctx / low) {
        inv /= c.rope_llama3_factor;
      } else if (wavelen >= old_ctx / high) {
        const double smooth = (old_ctx / wavelen - low) / (high - low);
        inv = (1 - smooth) * inv / c.rope_llama3_factor + smooth * inv;
      }
    }
    if (static_cast<size_t>(i) < c.rope_freq_factors.size()) inv /= c.rope_freq_factors[i];
    f.push_back(inv);
  }
  return f;
}

ModelConfig parse_model_config(const std::string& json_text, const std::string& path) {
  json c;
  try {
    c = json::parse(json_text);
  } catch (const json::exception& e) {
    throw LoadError(path, std::string("not valid JSON: ") + e.what());
  }
  if (!c.is_object()) throw LoadError(path, "not a JSON object");

  // `architectures` varies across fine-tunes and exporters, so only model_type is checked: it
  // names the layer layout the engine actually implements.
  if (auto mt = c.find("model_type"); mt != c.end()) {
    if (!mt->is_string())
      throw LoadError(path, "field 'model_type': must be a string (got " + mt->dump() + ")");
    const std::string t = mt->get<std::string>();
    if (t != "llama" && t != "mistral" && t != "qwen2")
      throw LoadError(path, "field 'model_type': unsupported model type '" + t +
                                "' (supported: llama, mistral, qwen2)");
  }

  ModelConfig m;
  if (c.value("model_type", "") == "qwen2") m.architecture = "qwen2", m.attention_bias = true;
  m.hidden_size = required_int(c, path, "hidden_size");
  m.intermediate_size = required_int(c, path, "intermediate_size");
  m.num_hidden_layers = required_int(c, path, "num_hidden_layers");
  m.num_attention_heads = required_int(c, path, "num_attention_heads");
  m.vocab_size = required_int(c, path, "vocab_size");
  m.num_key_value_heads = optional_int(c, path, "num_key_value_heads", m.num_attention_heads);
  m.rms_norm_eps = optional_positive_float(c, path, "rms_norm_eps", m.rms_norm_eps);
  m.rope_theta = optional_positive_float(c, path, "rope_theta", m.rope_theta);
  if (auto rs = c.find("rope_scaling"); rs != c.end() && !rs->is_null()) {
    if (!rs->is_object())
      throw LoadError(path,
                      "field 'rope_scaling': must be an object or null (got " + rs->dump() + ")");
    const std::string type = rs->value("rope_type", rs->value("type", std::string()));
    if (type != "llama3")
      throw LoadError(path, "field 'rope_scaling': rope_type '" + type +
                                "' is not supported (supported: llama3)");
    m.rope_llama3_factor = optional_positive_float(*rs, path, "factor", 8.0f);
    m.rope_llama3_low_freq_factor = optional_positive_float(*rs, path, "low_freq_factor", 1.0f);
    m.rope_llama3_high_freq_factor = optional_positive_float(*rs, path, "high_freq_factor", 4.0f);
    m.rope_llama3_original_context =
        optional_int(*rs, path, "original_max_position_embeddings", 8192);
    if (!(m.rope_llama3_high_freq_factor > m.rope_llama3_low_freq_factor))
      throw LoadError(path, "field 'rope_scaling': high_freq_factor must exceed low_freq_factor");
  }
  m.max_position_embeddings =
      optional_int(c, path, "max_position_embeddings", m.max_position_embeddings);

  if (auto t = c.find("tie_word_embeddings"); t != c.end() && !t->is_null()) {
    if (!t->is_boolean())
      throw LoadError(path,
                      "field 'tie_word_embeddings': must be a boolean (got " + t->dump() + ")");
    m.tie_word_embeddings = t->get<bool>();
  }
  if (auto b = c.find("bos_token_id"); b != c.end() && !b->is_null())
    m.bos_token_id = token_id(*b, path, "bos_token_id");
  if (auto e = c.find("eos_token_id"); e != c.end() && !e->is_null()) {
    // Newer exports list several end tokens; the first is the canonical one.
    if (e->is_array()) {
      if (e->empty()) throw LoadError(path, "field 'eos_token_id': empty list");
      m.eos_token_id = token_id((*e)[0], path, "eos_token_id");
    } else {
      m.eos_token_id = token_id(*e, path, "eos_token_id");
    }
  }

  if (m.hidden_size % m.num_attention_heads != 0)
    throw LoadError(path, "hidden_size (" + std::to_string(m.hidden_size) +
                              ") is not divisible by num_attention_heads (" +
                              std::to_string(m.num_attention_heads) + ")");
  if (m.num_attention_heads % m.num_key_value_heads != 0)
    throw LoadError(path, "num_attention_heads (" + std::to_string(m.num_attention_heads) +
                              ") is not divisible by num_key_value_heads (" +
                              std::to_string(m.num_key_value_heads) + ")");
  return m;
}

ModelConfig load_model_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LoadError(path, "cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw LoadError(path, "read failed");
  return parse_model_config(ss.str(), path);
}

std::string model_config_to_json(const ModelConfig& c, const std::string& torch_dtype) {
  nlohmann::ordered_json j;
  j["architectures"] = {"LlamaForCausalLM"};
  j["model_type"] = "llama";
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["vocab_size"] = c.vocab_size;
  j["rms_norm_eps"] = clean_float(c.rms_norm_eps);
  j["rope_theta"] = clean_float(c.rope_theta);
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["torch_dtype"] = torch_dtype;
  return j.dump(2) + "\n";
}

}  // namespace precis::engine
