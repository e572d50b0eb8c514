#include "middleware/server/openai_protocol.hpp"

#include <algorithm>

#include "engine/json_grammar.hpp"
#include "middleware/json_reader.hpp"
#include "middleware/pipeline_config.hpp"
#include "middleware/server/api_error.hpp"

namespace precis::server {

namespace {

using nlohmann::json;

// A ConfigError ("/path/to/field: message") as a 400 naming the field.
[[noreturn]] void rethrow_as_api_error(const ConfigError& e) {
  const std::string what = e.what();
  const size_t colon = what.find(": ");
  std::string param = colon == std::string::npos ? "" : what.substr(0, colon);
  if (param == "/") param.clear();
  throw ApiError(400, what, "invalid_request_error", param);
}

json parse_body(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded())
    throw ApiError(400, "request body is not valid JSON", "invalid_request_error", "",
                   "invalid_json");
  if (!j.is_object())
    throw ApiError(400, "request body must be a JSON object", "invalid_request_error", "");
  return j;
}

// Fields current clients send that change nothing here: accepted (read_common checks each one's
// type) and ignored. Proxy mode does not forward them: free text no stage sees (user, metadata),
// or a request to keep the conversation upstream (store).
constexpr const char* kIgnoredFields[] = {"user", "store", "metadata", "service_tier",
                                          "parallel_tool_calls"};

// The body as the client sent it, without the text the model sees (that travels in Requests) and
// without the fields this API ignores.
json client_fields(const json& body) {
  json fields = body;
  for (const char* text_field : {"prompt", "messages", "precis"}) fields.erase(text_field);
  for (const char* ignored : kIgnoredFields) fields.erase(ignored);
  return fields;
}

// The "precis" object: {"compress": false | true | {"rate": r} | {"target_tokens": t},
// "plan": "template" | "lm" | "none", "question": "..."}.
void read_precis(JsonReader p, Request& base) {
  if (auto c = p.raw("compress")) {
    if (c->is_boolean()) {
      base.compress = c->get<bool>();
    } else if (c->is_object()) {
      JsonReader cr(*c, p.field_path("compress"));
      auto rate = cr.number("rate", 0, 1, true);
      auto target = cr.integer("target_tokens", 1, 1 << 30);
      if (rate && target) cr.fail("target_tokens", "give either rate or target_tokens, not both");
      cr.finish();
      base.compress = true;
      if (rate) base.rate = *rate;
      if (target) base.target_tokens = static_cast<int>(*target);
    } else {
      p.fail("compress", "expected true, false or an object like {\"rate\": 0.4}");
    }
  }
  if (auto v = p.choice("plan", planner_kind_names())) base.planner = parse_planner_kind(*v);
  // The question, kept whole and placed last; taken out of the text (the final user message or
  // the prompt) where it occurs there, so compression works on the rest as documents.
  if (auto v = p.string("question")) {
    if (v->empty()) p.fail("question", "must not be empty");
    base.question = *v;
  }
  p.finish();
}

// response_format: {"type": "text"}, {"type": "json_object"} or {"type": "json_schema",
// "json_schema": {"name": ..., "schema": {...}}} into g.response_format / g.json_schema. The
// schema is compiled here, so a feature the engine cannot enforce is a 400 naming it rather than
// output that ignores it.
void read_response_format(const json& rf, GenerateOptions& g) {
  const std::string path = "/response_format";
  if (!rf.is_object())
    throw ConfigError(path + ": expected an object like {\"type\": \"json_object\"}");
  JsonReader r(rf, path);
  const auto type = r.choice("type", {"text", "json_object", "json_schema"});
  if (!type) r.fail("type", "missing");
  if (*type == "json_schema") {
    auto js = r.object("json_schema");
    if (!js) r.fail("json_schema", "missing: give {\"name\": ..., \"schema\": {...}}");
    js->string("name");
    js->string("description");
    js->boolean("strict");  // every schema is enforced strictly here
    const auto schema = js->raw("schema");
    if (!schema) js->fail("schema", "missing");
    try {
      engine::JsonGrammar::from_schema(*schema);
    } catch (const engine::UnsupportedSchema& e) {
      js->fail("schema", e.what());
    }
    js->finish();
    g.json_schema = schema->dump();
  }
  r.finish();
  g.response_format = *type == "text" ? "" : *type;
}

// Fields both endpoints share; reads the sampling fields into `base.generate`.
void read_common(JsonReader& r, const PipelineConfig& defaults, ApiRequest& out, Request& base) {
  if (auto m = r.string("model")) out.model = *m;  // checked against the served model by the API
  // kIgnoredFields, their types checked.
  r.string("user");
  r.boolean("store");
  r.raw("metadata");
  r.string("service_tier");
  r.boolean("parallel_tool_calls");
  // What would change the answer and is not supported: refused plainly.
  for (const char* tool_field : {"tools", "tool_choice", "functions", "function_call"})
    if (auto t = r.raw(tool_field); t && !t->is_null())
      r.fail(tool_field, "tool calls are not supported by this server");
  GenerateOptions g = defaults.generate;
  g.response_format.clear();
  g.json_schema.clear();
  if (auto rf = r.raw("response_format"); rf && !rf->is_null()) read_response_format(*rf, g);
  if (auto v = r.boolean("stream")) out.stream = *v;
  if (auto so = r.object("stream_options")) {
    if (auto v = so->boolean("include_usage")) out.include_usage = *v;
    so->finish();
  }
  if (auto lb = r.raw("logit_bias"))
    if (!lb->is_object() || !lb->empty()) r.fail("logit_bias", "is not supported");
  if (auto p = r.object("precis")) read_precis(*p, base);
  read_generate_options(r, g);
  validate_generate_options(r, g);
  out.n = g.n;
  base.generate = g;
}

// OpenAI's shapes that differ from the config's: "stop" may be one string.
void normalise_stop(json& j) {
  if (j.contains("stop") && j["stop"].is_string()) j["stop"] = json::array({j["stop"]});
}

std::string message_content(const json& content, const std::string& path) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {
    std::string text;
    for (size_t i = 0; i < content.size(); ++i) {
      const std::string part_path = path + "/" + std::to_string(i);
      JsonReader part(content[i], part_path);
      part.choice("type", {"text"});
      auto t = part.string("text");
      if (!t) throw ConfigError(part_path + "/text: missing");
      part.finish();
      text += *t;
    }
    return text;
  }
  throw ConfigError(path + ": expected a string or a list of text parts");
}

}  // namespace

ApiRequest parse_completion_request(const std::string& body, const PipelineConfig& defaults) {
  json j = parse_body(body);
  ApiRequest out;
  out.client_fields = client_fields(j);
  out.endpoint = Endpoint::kCompletions;
  try {
    normalise_stop(j);
    // "logprobs": k returns the chosen token's logprob and k alternatives; null: none.
    if (j.contains("logprobs") && j["logprobs"].is_number_integer()) {
      const int64_t k = j["logprobs"].get<int64_t>();
      if (k >= 0 && k <= 20) {
        out.want_logprobs = true;
        out.top_logprobs = static_cast<int>(k);
        j["logprobs"] = std::max<int64_t>(k, 1);
      }
    }
    JsonReader r(j, "");
    Request base;
    auto prompt = r.raw("prompt");
    std::vector<std::string> prompts;
    if (!prompt) r.fail("prompt", "missing");
    if (prompt->is_string()) {
      prompts.push_back(prompt->get<std::string>());
    } else if (prompt->is_array() && !prompt->empty() &&
               std::all_of(prompt->begin(), prompt->end(),
                           [](const json& p) { return p.is_string(); })) {
      for (const auto& p : *prompt) prompts.push_back(p.get<std::string>());
    } else {
      r.fail("prompt",
             "expected a string or a non-empty list of strings (token ids are not "
             "supported)");
    }
    if (auto v = r.boolean("echo"); v && *v) r.fail("echo", "is not supported");
    if (auto v = r.string("suffix"); v && !v->empty()) r.fail("suffix", "is not supported");
    read_common(r, defaults, out, base);
    r.finish();
    // The question is taken out of each prompt after the before() stages (a masker must see the
    // prompt whole): take_question_out_of_prompt.
    for (auto& p : prompts) {
      Request req = base;
      req.prompt = std::move(p);
      out.prompts.push_back(std::move(req));
    }
  } catch (const ConfigError& e) {
    rethrow_as_api_error(e);
  }
  return out;
}

ApiRequest parse_chat_request(const std::string& body, const PipelineConfig& defaults) {
  json j = parse_body(body);
  ApiRequest out;
  out.client_fields = client_fields(j);
  out.endpoint = Endpoint::kChatCompletions;
  try {
    normalise_stop(j);
    // Chat's logprobs: {"logprobs": true, "top_logprobs": k}; the config reader's "logprobs"
    // is the number of alternatives.
    {
      json lp = json::object();
      for (const char* k : {"logprobs", "top_logprobs"})
        if (j.contains(k)) lp[k] = j[k], j.erase(k);
      JsonReader lr(lp, "");
      out.want_logprobs = lr.boolean("logprobs").value_or(false);
      out.top_logprobs = static_cast<int>(lr.integer("top_logprobs", 0, 20).value_or(0));
      if (out.top_logprobs > 0 && !out.want_logprobs)
        lr.fail("top_logprobs", "needs \"logprobs\": true");
      if (out.want_logprobs) j["logprobs"] = std::max(out.top_logprobs, 1);
    }
    if (j.contains("max_completion_tokens")) {
      if (j.contains("max_tokens") && !j["max_tokens"].is_null())
        throw ConfigError(
            "/max_completion_tokens: give either max_tokens or "
            "max_completion_tokens, not both");
      j["max_tokens"] = j["max_completion_tokens"];
      j.erase("max_completion_tokens");
    }
    JsonReader r(j, "");
    auto messages = r.raw("messages");
    if (!messages) r.fail("messages", "missing");
    if (!messages->is_array() || messages->empty())
      r.fail("messages", "expected a non-empty list of messages");
    std::vector<Message> msgs;
    for (size_t i = 0; i < messages->size(); ++i) {
      const std::string path = "/messages/" + std::to_string(i);
      JsonReader m((*messages)[i], path);
      auto role = m.choice("role", {"system", "developer", "user", "assistant"});
      if (!role) m.fail("role", "missing");
      auto content = m.raw("content");
      if (!content) m.fail("content", "missing");
      m.string("name");
      m.finish();
      msgs.push_back(
          {*role == "developer" ? "system" : *role, message_content(*content, path + "/content")});
    }
    Request base;
    read_common(r, defaults, out, base);
    r.finish();
    // Rendered with the chat template by the pipeline, after the plugin stages saw them.
    base.messages = std::move(msgs);
    out.prompts.push_back(std::move(base));
  } catch (const ConfigError& e) {
    rethrow_as_api_error(e);
  }
  return out;
}

json usage_json(const std::vector<Result>& results) {
  int prompt = 0, completion = 0, original = 0, compressed = 0, plan = 0;
  bool any_plan = false;
  for (const Result& r : results) {
    prompt += r.final_prompt_tokens;
    completion += r.completion_tokens;
    original += r.original_tokens;
    compressed += r.compressed_tokens;
    if (!r.plan.code.empty()) any_plan = true, plan += r.plan.tokens;
  }
  json p = {{"original_prompt_tokens", original}, {"compressed_prompt_tokens", compressed}};
  if (any_plan) p["plan_tokens"] = plan;
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"precis", p}};
}

namespace {

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

const char* object_name(const ApiRequest& req, bool chunk) {
  if (req.endpoint == Endpoint::kCompletions) return "text_completion";
  return chunk ? "chat.completion.chunk" : "chat.completion";
}

json finish_reason_json(const std::string& reason) {
  return reason.empty() ? json(nullptr) : json(reason);
}

}  // namespace

json logprobs_json(const ApiRequest& req, const Choice& c) {
  if (!req.want_logprobs) return nullptr;
  const size_t k = static_cast<size_t>(req.top_logprobs);
  if (req.endpoint == Endpoint::kCompletions) {
    json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
    size_t offset = 0;
    for (size_t i = 0; i < c.token_texts.size(); ++i) {
      tokens.push_back(c.token_texts[i]);
      lps.push_back(c.token_logprobs[i]);
      json top = json::object();
      if (i < c.top_logprobs.size())
        for (size_t a = 0; a < c.top_logprobs[i].size() && a < k; ++a)
          top[c.top_logprobs[i][a].token] = c.top_logprobs[i][a].logprob;
      tops.push_back(top);
      offsets.push_back(offset);
      offset += c.token_texts[i].size();
    }
    return {{"tokens", tokens},
            {"token_logprobs", lps},
            {"top_logprobs", tops},
            {"text_offset", offsets}};
  }
  json content = json::array();
  for (size_t i = 0; i < c.token_texts.size(); ++i) {
    json top = json::array();
    if (i < c.top_logprobs.size())
      for (size_t a = 0; a < c.top_logprobs[i].size() && a < k; ++a)
        top.push_back({{"token", c.top_logprobs[i][a].token},
                       {"logprob", c.top_logprobs[i][a].logprob},
                       {"bytes", bytes_of(c.top_logprobs[i][a].token)}});
    content.push_back({{"token", c.token_texts[i]},
                       {"logprob", c.token_logprobs[i]},
                       {"bytes", bytes_of(c.token_texts[i])},
                       {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json response_json(const ApiRequest& req, const ResponseMeta& meta,
                   const std::vector<Result>& results) {
  json choices = json::array();
  for (size_t p = 0; p < results.size(); ++p) {
    for (size_t i = 0; i < results[p].choices.size(); ++i) {
      const Choice& c = results[p].choices[i];
      json ch = {{"index", static_cast<int>(p) * req.n + static_cast<int>(i)},
                 {"finish_reason", finish_reason_json(c.finish_reason)},
                 {"logprobs", logprobs_json(req, c)}};
      if (req.endpoint == Endpoint::kCompletions)
        ch["text"] = c.text;
      else
        ch["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
      choices.push_back(std::move(ch));
    }
  }
  return {{"id", meta.id},           {"object", object_name(req, false)},
          {"created", meta.created}, {"model", meta.model},
          {"choices", choices},      {"usage", usage_json(results)}};
}

json text_chunk(const ApiRequest& req, const ResponseMeta& meta, int index, const std::string& text,
                const json& finish_reason, const json& logprobs) {
  json ch = {{"index", index}, {"logprobs", logprobs}, {"finish_reason", finish_reason}};
  if (req.endpoint == Endpoint::kCompletions)
    ch["text"] = text;
  else
    ch["delta"] =
        text.empty() && !finish_reason.is_null() ? json::object() : json{{"content", text}};
  return {{"id", meta.id},
          {"object", object_name(req, true)},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", json::array({ch})}};
}

json role_chunk(const ResponseMeta& meta, int index) {
  json ch = {{"index", index},
             {"delta", {{"role", "assistant"}, {"content", ""}}},
             {"logprobs", nullptr},
             {"finish_reason", nullptr}};
  return {{"id", meta.id},
          {"object", "chat.completion.chunk"},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", json::array({ch})}};
}

json usage_chunk(const ApiRequest& req, const ResponseMeta& meta, const json& usage) {
  return {{"id", meta.id},       {"object", object_name(req, true)}, {"created", meta.created},
          {"model", meta.model}, {"choices", json::array()},         {"usage", usage}};
}

}  // namespace precis::server
