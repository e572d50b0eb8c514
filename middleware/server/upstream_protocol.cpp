#include "middleware/server/upstream_protocol.hpp"

#include <algorithm>
#include <stdexcept>

#include "middleware/server/generator.hpp"

namespace precis::server {

using nlohmann::json;

namespace {

std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (content.is_array())
    for (const auto& part : content)
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string())
        text += part["text"].get<std::string>();
  return text;
}

// The choice at upstream index `index`, created when new.
Choice& choice_at(Result& r, const json& c) {
  const json& idx = c.contains("index") ? c["index"] : json(0);
  if (!idx.is_number_integer() || idx.get<int64_t>() < 0 || idx.get<int64_t>() > 1024)
    throw InvalidUpstreamAnswer("choice without a valid index");
  const size_t i = static_cast<size_t>(idx.get<int64_t>());
  if (r.choices.size() <= i) r.choices.resize(i + 1);
  return r.choices[i];
}

// Appends OpenAI-shaped logprobs (completions or chat) to the choice.
void add_logprobs(const json& lp, bool chat, Choice& ch) {
  if (!lp.is_object()) return;
  if (chat) {
    if (!lp.contains("content") || !lp["content"].is_array()) return;
    for (const auto& t : lp["content"]) {
      if (!t.is_object()) continue;
      ch.token_texts.push_back(t.value("token", ""));
      ch.token_logprobs.push_back(t.value("logprob", 0.0f));
      std::vector<TokenAlternative> alts;
      if (t.contains("top_logprobs") && t["top_logprobs"].is_array())
        for (const auto& a : t["top_logprobs"])
          if (a.is_object()) alts.push_back({a.value("token", ""), a.value("logprob", 0.0f)});
      ch.top_logprobs.push_back(std::move(alts));
    }
    return;
  }
  if (!lp.contains("tokens") || !lp["tokens"].is_array()) return;
  const json& toks = lp["tokens"];
  for (size_t i = 0; i < toks.size(); ++i) {
    ch.token_texts.push_back(toks[i].is_string() ? toks[i].get<std::string>() : "");
    float l = 0.0f;
    if (lp.contains("token_logprobs") && lp["token_logprobs"].is_array() &&
        i < lp["token_logprobs"].size() && lp["token_logprobs"][i].is_number())
      l = lp["token_logprobs"][i].get<float>();
    ch.token_logprobs.push_back(l);
    std::vector<TokenAlternative> alts;
    if (lp.contains("top_logprobs") && lp["top_logprobs"].is_array() &&
        i < lp["top_logprobs"].size() && lp["top_logprobs"][i].is_object())
      for (const auto& [tok, v] : lp["top_logprobs"][i].items())
        if (v.is_number()) alts.push_back({tok, v.get<float>()});
    std::sort(alts.begin(), alts.end(), [](const TokenAlternative& a, const TokenAlternative& b) {
      return a.logprob > b.logprob;
    });
    ch.top_logprobs.push_back(std::move(alts));
  }
}

void read_usage(const json& usage, Result& r) {
  if (!usage.is_object()) return;
  if (usage.contains("prompt_tokens") && usage["prompt_tokens"].is_number_integer())
    r.final_prompt_tokens = usage["prompt_tokens"].get<int>();
  if (usage.contains("completion_tokens") && usage["completion_tokens"].is_number_integer())
    r.completion_tokens = usage["completion_tokens"].get<int>();
}

// Per-choice token counts: from logprobs when there are any, else the upstream's total spread
// over the choices.
void finish_counts(Result& r) {
  int total = 0;
  for (const Choice& c : r.choices) total += static_cast<int>(c.token_texts.size());
  if (r.completion_tokens == 0) r.completion_tokens = total;
  const int n = std::max<int>(1, static_cast<int>(r.choices.size()));
  for (Choice& c : r.choices)
    c.tokens =
        c.token_texts.empty() ? r.completion_tokens / n : static_cast<int>(c.token_texts.size());
  if (!r.choices.empty()) r.text = r.choices[0].text;
}

}  // namespace

std::string last_user_message(const std::vector<Message>& messages, int* index) {
  if (index) *index = -1;
  for (size_t i = messages.size(); i-- > 0;) {
    if (messages[i].role == "user") {
      if (index) *index = static_cast<int>(i);
      return messages[i].content;
    }
  }
  return "";
}

json upstream_body(const ClientRequest& client, const Request& request,
                   const std::string& final_prompt, const std::string& model) {
  json b = client.fields;
  for (const char* text_field : {"prompt", "messages", "precis"}) b.erase(text_field);
  // The client's other text goes as the stages left it in request.generate (redact masks it
  // there), never as the client sent it.
  const GenerateOptions* gen = request.generate ? &*request.generate : nullptr;
  if (b.contains("stop")) {
    if (gen && !gen->stop.empty())
      b["stop"] = gen->stop;
    else
      b.erase("stop");
  }
  if (b.contains("response_format")) {
    if (gen && gen->response_format == "json_schema") {
      // The schema as the stages left it. Its name and description are free text no stage sees:
      // a fixed name instead (OpenAI requires one), and no description.
      const json schema = json::parse(gen->json_schema, nullptr, false);
      if (schema.is_discarded())
        throw std::invalid_argument("response_format: the JSON schema is not valid JSON");
      json js = {{"name", "response"}, {"schema", schema}};
      const json client_js = b["response_format"].value("json_schema", json::object());
      if (client_js.is_object() && client_js.contains("strict") && client_js["strict"].is_boolean())
        js["strict"] = client_js["strict"];
      b["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(js)}};
    } else if (gen && !gen->response_format.empty()) {
      b["response_format"] = {{"type", gen->response_format}};
    } else {
      b.erase("response_format");
    }
  }
  if (client.chat) {
    int last = -1;
    last_user_message(request.messages, &last);
    json messages = json::array();
    for (size_t i = 0; i < request.messages.size(); ++i) {
      const Message& m = request.messages[i];
      messages.push_back(
          {{"role", m.role}, {"content", static_cast<int>(i) == last ? final_prompt : m.content}});
    }
    b["messages"] = std::move(messages);
  } else {
    b["prompt"] = final_prompt;
  }
  if (!model.empty()) b["model"] = model;
  if (b.value("stream", false)) b["stream_options"] = {{"include_usage", true}};
  return b;
}

std::string sent_key(const json& body) {
  json b = body;
  b.erase("stream");
  b.erase("stream_options");
  return b.dump(-1, ' ', false, json::error_handler_t::replace);
}

void decode_response(const json& response, bool chat, Result& r) {
  if (!response.is_object() || !response.contains("choices") || !response["choices"].is_array())
    throw InvalidUpstreamAnswer("no \"choices\" array");
  for (const auto& c : response["choices"]) {
    if (!c.is_object()) throw InvalidUpstreamAnswer("a choice is not an object");
    Choice& ch = choice_at(r, c);
    if (chat) {
      if (!c.contains("message") || !c["message"].is_object())
        throw InvalidUpstreamAnswer("a chat choice without \"message\"");
      ch.text = c["message"].contains("content") ? content_text(c["message"]["content"]) : "";
    } else {
      if (!c.contains("text") || !c["text"].is_string())
        throw InvalidUpstreamAnswer("a choice without \"text\"");
      ch.text = c["text"].get<std::string>();
    }
    if (c.contains("finish_reason") && c["finish_reason"].is_string())
      ch.finish_reason = c["finish_reason"].get<std::string>();
    if (c.contains("logprobs")) add_logprobs(c["logprobs"], chat, ch);
  }
  if (response.contains("usage")) read_usage(response["usage"], r);
  finish_counts(r);
}

bool decode_chunk(const json& chunk, bool chat, Result& r, const ChoiceTextCallback& on_text,
                  std::string& error) {
  if (!chunk.is_object()) throw InvalidUpstreamAnswer("an event is not a JSON object");
  if (chunk.contains("error")) {
    const json& e = chunk["error"];
    error = e.is_object() && e.contains("message") && e["message"].is_string()
                ? e["message"].get<std::string>()
                : e.dump();
    return false;
  }
  if (chunk.contains("usage") && !chunk["usage"].is_null()) read_usage(chunk["usage"], r);
  if (chunk.contains("choices") && chunk["choices"].is_array()) {
    for (const auto& c : chunk["choices"]) {
      if (!c.is_object()) throw InvalidUpstreamAnswer("a choice is not an object");
      Choice& ch = choice_at(r, c);
      const int index = static_cast<int>(&ch - r.choices.data());
      std::string text;
      if (chat) {
        if (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content"))
          text = content_text(c["delta"]["content"]);
      } else if (c.contains("text") && c["text"].is_string()) {
        text = c["text"].get<std::string>();
      }
      if (!text.empty()) {
        ch.text += text;
        if (on_text) on_text(index, text);
      }
      if (c.contains("finish_reason") && c["finish_reason"].is_string())
        ch.finish_reason = c["finish_reason"].get<std::string>();
      if (c.contains("logprobs")) add_logprobs(c["logprobs"], chat, ch);
    }
  }
  return true;
}

void finish_stream(Result& r) {
  finish_counts(r);
}

std::string SseReader::data_of(std::string_view event) {
  std::string data;
  size_t pos = 0;
  while (pos <= event.size()) {
    size_t eol = event.find('\n', pos);
    if (eol == std::string_view::npos) eol = event.size();
    std::string_view line = event.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("data:", 0) == 0) {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (!data.empty()) data += '\n';
      data.append(line);
    }
    pos = eol + 1;
  }
  return data;
}

}  // namespace precis::server
