#include "middleware/chat_prompt.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace precis {

namespace {

// A special-token field of tokenizer_config.json: a string, or {"content": "..."}.
std::string token_text(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return "";
  const nlohmann::json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return "";
}

engine::ChatTemplateInfo recognise(const std::string& source, const std::string& jinja,
                                   const std::string& bos, const std::string& eos) {
  try {
    return engine::recognise_chat_template(jinja, bos, eos);
  } catch (const engine::ChatTemplateError& e) {
    throw ConfigError(source + ": " + e.what());
  }
}

// Wraps every stretch of `text` outside the content ranges in keep markers.
std::string protect(const std::string& text, const std::vector<std::pair<size_t, size_t>>& content,
                    const std::string& open, const std::string& close) {
  std::string out;
  size_t at = 0;
  auto structure = [&](size_t end) {
    if (end > at) out += open + text.substr(at, end - at) + close;
  };
  for (const auto& [b, e] : content) {
    structure(b);
    out.append(text, b, e - b);
    at = e;
  }
  structure(text.size());
  return out;
}

// The template's rendering with each message's content located: contents are rendered as
// unique sentinels first, so that what lies between them is the template's own text.
// (A template that transforms contents, e.g. Llama 3's | trim, keeps them as given here.)
std::string render_protected(const std::vector<engine::ChatMessage>& msgs, const std::string& part,
                             const std::string& open, const std::string& close) {
  std::vector<std::pair<size_t, size_t>> ranges;
  std::string text;
  size_t pos = 0;
  while (pos < part.size()) {
    const size_t b = part.find('\x01', pos);
    if (b == std::string::npos) {
      text.append(part, pos, std::string::npos);
      break;
    }
    const size_t e = part.find('\x02', b);
    text.append(part, pos, b - pos);
    const size_t index =
        e == std::string::npos ? msgs.size() : std::strtoul(part.c_str() + b + 1, nullptr, 10);
    if (index >= msgs.size()) throw std::logic_error("chat rendering lost a content sentinel");
    ranges.push_back({text.size(), text.size() + msgs[index].content.size()});
    text += msgs[index].content;
    pos = e + 1;
  }
  return protect(text, ranges, open, close);
}

// "\x01<i>\x02", built by appends (GCC 12 reports a false -Wrestrict for "lit" + string).
std::string sentinel_for(size_t i) {
  std::string s(1, '\x01');
  s += std::to_string(i);
  s += '\x02';
  return s;
}

// Non-empty blank-line separated paragraphs.
std::vector<std::string> split_paragraphs(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string p = text.substr(pos, end - pos);
    if (p.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(std::move(p));
    pos = end + 2;
  }
  return out;
}

}  // namespace

engine::ChatTemplateInfo chat_template_for(const std::string& name, const std::string& model_path,
                                           const std::string& model_template) {
  if (name != "auto") {
    const auto format = engine::chat_format_from_name(name);
    if (!format)
      throw ConfigError("--chat-template: unknown template '" + name + "' (one of: auto, " +
                        engine::chat_format_names() + ")");
    return engine::builtin_chat_template(*format, "", "");
  }
  if (!model_template.empty()) return recognise(model_path, model_template, "", "");
  const auto path = std::filesystem::path(model_path) / "tokenizer_config.json";
  std::ifstream in(path);
  if (in) {
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("chat_template") && j["chat_template"].is_string())
      return recognise(path.string(), j["chat_template"].get<std::string>(),
                       token_text(j, "bos_token"), token_text(j, "eos_token"));
  }
  return engine::builtin_chat_template(engine::ChatFormat::kPlain, "", "");
}

RenderedChat render_chat_messages(const engine::ChatTemplateInfo& info,
                                  const std::vector<Message>& messages,
                                  const std::string& keep_open, const std::string& keep_close,
                                  const std::string& explicit_question) {
  std::vector<engine::ChatMessage> msgs;
  for (const Message& m : messages) msgs.push_back({m.role, m.content});
  RenderedChat out;
  try {
    out.full = engine::render_chat(info, msgs, /*add_generation_prompt=*/true);
  } catch (const engine::ChatTemplateError& e) {
    throw ConfigError(std::string("/messages: ") + e.what());
  }
  out.has_bos = !info.bos_token.empty() && out.full.rfind(info.bos_token, 0) == 0;
  int last_user = -1;
  for (size_t i = 0; i < msgs.size(); ++i)
    if (msgs[i].role == "user") last_user = static_cast<int>(i);
  // Contents are located through \x01<n>\x02 sentinels; a conversation whose text holds \x01
  // itself, or without a user message, stays whole (all of it the question).
  const bool sentinel_safe = std::none_of(msgs.begin(), msgs.end(), [](const auto& m) {
    return m.content.find('\x01') != std::string::npos;
  });
  out.question = out.full;
  if (last_user < 0 || !sentinel_safe) return out;
  std::vector<engine::ChatMessage> marked = msgs;
  for (size_t i = 0; i < marked.size(); ++i) marked[i].content = sentinel_for(i);
  const std::string rendered = engine::render_chat(info, marked, true);
  const std::string sentinel = sentinel_for(static_cast<size_t>(last_user));
  const size_t at = rendered.rfind(sentinel);
  if (at == std::string::npos) return out;  // a template that does not show the message
  out.history = render_protected(msgs, rendered.substr(0, at), keep_open, keep_close);
  out.suffix = render_protected(msgs, rendered.substr(at + sentinel.size()), "", "");
  const SplitMessage m =
      split_documents_question(msgs[static_cast<size_t>(last_user)].content, explicit_question);
  out.question = m.question;
  if (!m.documents.empty()) out.documents = split_paragraphs(m.documents);
  return out;
}

namespace {

std::string trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n\r") - b + 1);
}

}  // namespace

SplitMessage split_documents_question(const std::string& text,
                                      const std::string& explicit_question) {
  if (!explicit_question.empty()) {
    const size_t at = text.rfind(explicit_question);
    if (at == std::string::npos) return {trimmed(text), explicit_question};
    const std::string before = trimmed(text.substr(0, at));
    const std::string after = trimmed(text.substr(at + explicit_question.size()));
    return {before.empty() || after.empty() ? before + after : before + "\n\n" + after,
            explicit_question};
  }
  constexpr size_t kShort = 400;  // bytes: below this a message is all question
  SplitMessage out;
  out.question = text;
  const size_t q = text.rfind('?');
  if (text.size() < kShort || q == std::string::npos) return out;
  // The asking sentence starts after the previous sentence end or line break.
  size_t start = 0;
  for (size_t i = q; i-- > 0;) {
    const char c = text[i];
    if (c == '\n' || ((c == '.' || c == '!' || c == '?') && i + 1 < text.size() &&
                      (text[i + 1] == ' ' || text[i + 1] == '\n'))) {
      start = i + 1;
      break;
    }
  }
  while (start < text.size() && (text[start] == ' ' || text[start] == '\n')) ++start;
  size_t doc_end = start;
  while (doc_end > 0 && (text[doc_end - 1] == ' ' || text[doc_end - 1] == '\n')) --doc_end;
  if (doc_end == 0) return out;
  out.documents = text.substr(0, doc_end);
  out.question = text.substr(start);
  return out;
}

void take_question_out_of_prompt(Request& request) {
  if (request.question.empty() || request.prompt.find(request.question) == std::string::npos)
    return;
  request.prompt = split_documents_question(request.prompt, request.question).documents;
}

}  // namespace precis
