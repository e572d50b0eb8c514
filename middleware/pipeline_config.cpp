// PipelineConfig from JSON: every field is checked for type and range, unknown keys are
// rejected, and each error names the JSON path of the field.
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "middleware/json_reader.hpp"
#include "middleware/pipeline_config.hpp"
#include "middleware/server/serve_config.hpp"
#include "plugins/plugin_loader.hpp"
#include "precis/precis.hpp"

namespace precis {

namespace {

constexpr double kBig = 1e12;

void read_model(JsonReader r, ModelOptions& m) {
  if (auto v = r.string("path")) {
    // A Hugging Face directory or a GGUF file, as --model takes.
    if (!std::filesystem::is_directory(*v) && !std::filesystem::is_regular_file(*v))
      r.fail("path", "no model directory or GGUF file at " + *v);
    m.path = *v;
  }
  if (auto v = r.number("kv_cache_mb", 0, kBig)) m.kv_cache_mb = *v;  // 0: device default
  if (auto v = r.integer("block_size", 1, 1024)) m.block_size = static_cast<int>(*v);
  if (auto v = r.integer("max_batched_tokens", 1, 1 << 20))
    m.max_batched_tokens = static_cast<int>(*v);
  if (auto v = r.choice("device", {"cpu", "cuda", "auto"})) m.device = *v;
  if (auto v = r.number("gpu_memory_fraction", 0, 1, true)) m.gpu_memory_fraction = *v;
  if (auto v = r.boolean("int8_activations")) m.int8_activations = *v;
  if (auto v = r.boolean("prefix_caching")) m.prefix_caching = *v;
  if (auto v = r.choice("kv_cache_dtype", {"f16", "f32"})) m.kv_cache_dtype = *v;
  r.finish();
}

void read_compress(JsonReader r, bool& enabled, CompressOptions& c) {
  if (auto v = r.boolean("enabled")) enabled = *v;
  auto rate = r.number("rate", 0, 1, true);
  auto target = r.integer("target_tokens", 1, std::numeric_limits<int>::max());
  if (rate && target) r.fail("target_tokens", "give either rate or target_tokens, not both");
  if (rate) c.rate = *rate, c.target_tokens.reset();
  if (target) c.target_tokens = static_cast<int>(*target), c.rate.reset();
  if (auto v = r.choice("scorer", scorer_kind_names())) c.scorer = *parse_scorer_kind(*v);
  if (auto v = r.strings("force_tokens")) c.force_tokens = *v;
  if (auto v = r.string("keep_open")) c.keep_open = *v;
  if (auto v = r.string("keep_close")) c.keep_close = *v;
  if (auto v = r.boolean("keep_numbers")) c.keep_numbers = *v;
  if (auto v = r.boolean("keep_structure")) c.keep_structure = *v;
  if (auto v = r.integer("iterative_size", 1, 1 << 20)) c.iterative_size = static_cast<int>(*v);
  if (auto v = r.number("context_level_slack", 0, 10)) c.context_level_slack = *v;
  if (auto v = r.number("context_rate_spread", 0, 1)) c.context_rate_spread = *v;
  if (auto v = r.string("instruction")) c.instruction = *v;
  r.finish();
}

void read_plan(JsonReader r, bool& enabled, PlanOptions& p) {
  if (auto v = r.choice("planner", planner_kind_names())) {
    const PlannerKind planner = *parse_planner_kind(*v);
    enabled = planner != PlannerKind::none;
    if (enabled) p.planner = planner;
  }
  if (auto v = r.integer("budget_tokens", 1, 1 << 16)) p.budget_tokens = static_cast<int>(*v);
  if (auto v = r.choice("when", {"auto", "always", "never"})) p.when = *v;
  if (auto v = r.integer("min_request_tokens", 0, 1 << 20))
    p.min_request_tokens = static_cast<int>(*v);
  if (auto v = r.choice("placement", {"before_question", "system", "answer_prefix"}))
    p.placement = *v;
  if (auto v = r.number("temperature", 0, 5)) p.temperature = static_cast<float>(*v);
  if (auto v = r.integer("seed", 0, std::numeric_limits<int64_t>::max()))
    p.seed = static_cast<uint64_t>(*v);
  if (auto v = r.integer("max_lines", 2, 1000)) p.max_lines = static_cast<int>(*v);
  if (auto v = r.boolean("lm_grammar")) p.lm_grammar = *v;
  r.finish();
}

// "plugins": [{"name": "redact", "builtin": "redact" | "path": "/x/libfoo.so", "settings": {}}]
void read_plugins(JsonReader& root, std::vector<PluginConfig>& out) {
  const auto list = root.raw("plugins");
  if (!list) return;
  if (!list->is_array())
    root.fail("plugins",
              std::string("expected an array of plugin objects, got ") + list->type_name());
  for (size_t i = 0; i < list->size(); ++i) {
    JsonReader r((*list)[i], "/plugins/" + std::to_string(i));
    PluginConfig p;
    auto path = r.string("path");
    auto builtin = r.choice("builtin", plugins::builtin_plugin_names());
    if (path && builtin) r.fail("builtin", "give either path or builtin, not both");
    if (!path && !builtin)
      throw ConfigError(r.path() + ": give \"path\" (a shared library) or \"builtin\"");
    if (path && path->empty()) r.fail("path", "must not be empty");
    p.path = path.value_or("");
    p.builtin = builtin.value_or("");
    if (auto v = r.string("name")) {
      if (v->empty()) r.fail("name", "must not be empty");
      p.name = *v;
    } else {
      p.name = plugins::default_plugin_name(p);
    }
    for (size_t k = 0; k < out.size(); ++k)
      if (out[k].name == p.name)
        r.fail("name", "\"" + p.name + "\" is already used by /plugins/" + std::to_string(k) +
                           " (give each plugin its own \"name\")");
    if (auto v = r.raw("settings")) {
      if (!v->is_object())
        r.fail("settings", std::string("expected an object, got ") + v->type_name());
      p.settings = v->dump();
    }
    r.finish();
    out.push_back(std::move(p));
  }
}

// nlohmann's message without its "last read: '...'" part: that quotes the file's own text, which
// may be an api_key, and the message is printed.
std::string without_quoted_text(const nlohmann::json::parse_error& e) {
  const std::string m = e.what();
  const size_t quote = m.find("; last read: ");
  if (quote == std::string::npos) return m;
  const size_t expected = m.find("; expected ", quote);
  return m.substr(0, quote) + (expected == std::string::npos ? "" : m.substr(expected));
}

}  // namespace

void read_generate_options(JsonReader& r, GenerateOptions& g) {
  // Types only here; the ranges are SamplingParams::validate()'s, the engine's own check.
  constexpr int kIntMin = std::numeric_limits<int>::min(),
                kIntMax = std::numeric_limits<int>::max();
  auto integer = [&](const char* key, int& out) {
    if (auto v = r.integer(key, kIntMin, kIntMax)) out = static_cast<int>(*v);
  };
  auto real = [&](const char* key, float& out) {  // any value a float holds
    constexpr double big = std::numeric_limits<float>::max();
    if (auto v = r.number(key, -big, big)) out = static_cast<float>(*v);
  };
  integer("max_tokens", g.max_tokens);
  real("temperature", g.temperature);
  integer("top_k", g.top_k);
  real("top_p", g.top_p);
  real("min_p", g.min_p);
  real("repetition_penalty", g.repetition_penalty);
  real("presence_penalty", g.presence_penalty);
  real("frequency_penalty", g.frequency_penalty);
  if (auto v = r.integer("seed", 0, std::numeric_limits<int64_t>::max()))
    g.seed = static_cast<uint64_t>(*v);
  if (auto v = r.strings("stop")) g.stop = *v;
  integer("n", g.n);
  integer("best_of", g.best_of);
  integer("logprobs", g.logprobs);
  if (auto v = r.boolean("ignore_eos")) g.ignore_eos = *v;
}

void validate_generate_options(const JsonReader& r, const GenerateOptions& g) {
  try {
    g.validate();
  } catch (const InvalidSamplingParam& e) {
    r.fail(e.field(), e.rule());
  }
}

PipelineConfig::PipelineConfig() {
  compress.rate = 0.5;
  // The SDK's and server's defaults; SamplingParams' own (16, 1.0) are the engine's.
  generate.max_tokens = 128;
  generate.temperature = 0.7f;
}

PipelineConfig PipelineConfig::from_json(const std::string& json_text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError("/: not valid JSON: " + without_quoted_text(e));
  }
  PipelineConfig c;
  JsonReader root(j, "");
  if (auto m = root.object("model")) read_model(*m, c.model);
  if (auto m = root.object("compress")) read_compress(*m, c.compress_enabled, c.compress);
  if (auto m = root.object("plan")) read_plan(*m, c.plan_enabled, c.plan);
  // The server's sections are checked here too (a bad field fails wherever the file is read);
  // the SDK keeps only the chat template (ServeConfig keeps the rest).
  ServerOptions server;
  UpstreamOptions upstream;
  if (auto m = root.object("server")) read_server_options(*m, server, c.chat_template);
  if (auto m = root.object("upstream")) read_upstream_options(*m, upstream);
  if (auto m = root.object("generate")) {
    read_generate_options(*m, c.generate);
    validate_generate_options(*m, c.generate);
    m->finish();
  }
  read_plugins(root, c.plugins);
  root.finish();
  return c;
}

PipelineConfig PipelineConfig::from_file(const std::string& path) {
  return parse_config_file(path, &PipelineConfig::from_json);
}

}  // namespace precis
