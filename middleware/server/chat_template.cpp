#include "middleware/server/chat_template.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace precis::server {

ChatTemplate resolve_chat_template(const std::string& name, const std::string& model_dir) {
  if (name == "plain") return ChatTemplate::kPlain;
  if (name == "chatml") return ChatTemplate::kChatml;
  if (name == "llama2") return ChatTemplate::kLlama2;
  if (name != "auto") throw std::invalid_argument("unknown chat template '" + name + "'");
  const auto path = std::filesystem::path(model_dir) / "tokenizer_config.json";
  std::ifstream in(path);
  if (!in) return ChatTemplate::kPlain;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object() || !j.contains("chat_template") || !j["chat_template"].is_string())
    return ChatTemplate::kPlain;
  const std::string t = j["chat_template"].get<std::string>();
  if (t.find("<|im_start|>") != std::string::npos) return ChatTemplate::kChatml;
  if (t.find("[INST]") != std::string::npos) return ChatTemplate::kLlama2;
  return ChatTemplate::kPlain;
}

const char* chat_template_name(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::kChatml:
      return "chatml";
    case ChatTemplate::kLlama2:
      return "llama2";
    case ChatTemplate::kPlain:
      break;
  }
  return "plain";
}

namespace {

// One turn as text; `m(x)` wraps a marker.
template <class Mark>
std::string turn(ChatTemplate t, const ChatMessage& msg, Mark m) {
  switch (t) {
    case ChatTemplate::kChatml:
      return m("<|im_start|>" + msg.role + "\n") + msg.content + m("<|im_end|>");
    case ChatTemplate::kLlama2:
      if (msg.role == "system") return m("[INST] <<SYS>>\n") + msg.content + m("\n<</SYS>>");
      if (msg.role == "user") return m("[INST] ") + msg.content + m(" [/INST]");
      return msg.content + m(" </s>");
    case ChatTemplate::kPlain:
      break;
  }
  const std::string label = msg.role == "system" ? "System: "
                            : msg.role == "user" ? "User: "
                                                 : "Assistant: ";
  return m(label) + msg.content;
}

std::string assistant_opening(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::kChatml:
      return "<|im_start|>assistant\n";
    case ChatTemplate::kLlama2:
      return "";
    case ChatTemplate::kPlain:
      break;
  }
  return "Assistant:";
}

}  // namespace

RenderedChat render_chat(const std::vector<ChatMessage>& messages, ChatTemplate t,
                         const std::string& keep_open, const std::string& keep_close) {
  // The last user message (and anything after it) is the final turn.
  size_t last_user = messages.size();
  for (size_t i = messages.size(); i-- > 0;)
    if (messages[i].role == "user") {
      last_user = i;
      break;
    }
  auto plain = [](const std::string& s) { return s; };
  auto keep = [&](const std::string& s) { return keep_open + s + keep_close; };
  const bool protect = !keep_open.empty() && !keep_close.empty();
  // In llama2, a system prompt directly before the last user turn shares its [INST].
  RenderedChat out;
  auto join = [](std::string& dst, const std::string& s) {
    if (s.empty()) return;
    dst += (dst.empty() ? "" : "\n\n") + s;
  };
  for (size_t i = 0; i < last_user && i < messages.size(); ++i) {
    ChatMessage m = messages[i];
    if (t == ChatTemplate::kLlama2 && m.role == "system" && i + 1 < messages.size() &&
        messages[i + 1].role == "user") {
      // "[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST]": the user part follows after a blank line.
      const std::string open = "[INST] <<SYS>>\n", close = "\n<</SYS>>";
      join(out.history,
           (protect ? keep(open) : open) + m.content + (protect ? keep(close) : close));
      if (i + 1 == last_user) {
        out.final = messages[i + 1].content + " [/INST]";
        for (size_t j = last_user + 1; j < messages.size(); ++j)
          if (j + 1 == messages.size() && messages[j].role == "assistant")
            out.final += " " + messages[j].content;  // continued, left open
          else
            join(out.final, turn(t, messages[j], plain));
        return out;
      }
      const ChatMessage& u = messages[++i];
      join(out.history, u.content + (protect ? keep(" [/INST]") : std::string(" [/INST]")));
      continue;
    }
    join(out.history, protect ? turn(t, m, keep) : turn(t, m, plain));
  }
  const bool ends_with_assistant = !messages.empty() && messages.back().role == "assistant";
  const size_t end = ends_with_assistant ? messages.size() - 1 : messages.size();
  for (size_t j = last_user; j < end; ++j) join(out.final, turn(t, messages[j], plain));
  // A trailing assistant message is continued: its turn is left open.
  join(out.final,
       assistant_opening(t) +
           (ends_with_assistant ? (t == ChatTemplate::kPlain ? " " : "") + messages.back().content
                                : std::string()));
  return out;
}

}  // namespace precis::server
