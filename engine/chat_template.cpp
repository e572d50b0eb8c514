#include "engine/chat_template.hpp"

#include <array>
#include <cstdint>

namespace precis::engine {

namespace {

constexpr std::array<ChatFormat, 8> kAllFormats = {
    ChatFormat::kChatml, ChatFormat::kLlama2, ChatFormat::kLlama3, ChatFormat::kMistral,
    ChatFormat::kPhi3,   ChatFormat::kGemma,  ChatFormat::kQwen2,  ChatFormat::kPlain};

constexpr const char* kQwen2System = "You are a helpful assistant.";
constexpr const char* kQwen25System =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
constexpr const char* kAlternate =
    "Conversation roles must alternate user/assistant/user/assistant/...";

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

// ---- Python str.strip() on UTF-8 ------------------------------------------------------------

// Decodes the code point at s[i] (i < s.size()); returns its length in bytes, 0 if invalid.
size_t decode_at(std::string_view s, size_t i, uint32_t& cp) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  return n;
}

// Python's str.isspace() (what str.strip() and Jinja's trim filter remove).
bool is_py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Python's str.strip() with no argument; bytes that are not valid UTF-8 are never stripped.
std::string py_strip(std::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    uint32_t cp = 0;
    const size_t n = decode_at(s, begin, cp);
    if (n == 0 || !is_py_space(cp)) break;
    begin += n;
  }
  size_t end = s.size();
  while (end > begin) {
    // Step back to the start of the last code point (at most 4 bytes).
    size_t start = end - 1;
    while (start > begin && end - start < 4 &&
           (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
      --start;
    uint32_t cp = 0;
    if (decode_at(s, start, cp) != end - start || !is_py_space(cp)) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

// ---- reading the Jinja source ---------------------------------------------------------------

// The source without its {# comments #}: what a comment says is no marker.
std::string strip_comments(std::string_view src) {
  std::string out;
  size_t i = 0;
  while (i < src.size()) {
    const size_t open = src.find("{#", i);
    if (open == std::string_view::npos) break;
    out.append(src.substr(i, open - i));
    const size_t close = src.find("#}", open + 2);
    if (close == std::string_view::npos) return out;
    i = close + 2;
  }
  if (i < src.size()) out.append(src.substr(i));
  return out;
}

// The string literals inside {{ ... }} and {% ... %} tags, with Jinja's escapes resolved.
std::vector<std::string> string_literals(std::string_view src) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i + 1 < src.size()) {
    if (src[i] != '{' || (src[i + 1] != '{' && src[i + 1] != '%')) {
      ++i;
      continue;
    }
    const char close = src[i + 1] == '{' ? '}' : '%';
    i += 2;
    while (i < src.size() && !(src[i] == close && i + 1 < src.size() && src[i + 1] == '}')) {
      if (src[i] != '\'' && src[i] != '"') {
        ++i;
        continue;
      }
      const char quote = src[i++];
      std::string lit;
      while (i < src.size() && src[i] != quote) {
        if (src[i] == '\\' && i + 1 < src.size()) {
          const char e = src[i + 1];
          i += 2;
          switch (e) {
            case 'n':
              lit += '\n';
              break;
            case 't':
              lit += '\t';
              break;
            case 'r':
              lit += '\r';
              break;
            case '\\':
            case '\'':
            case '"':
              lit += e;
              break;
            default:
              lit += '\\';
              lit += e;
          }
          continue;
        }
        lit += src[i++];
      }
      ++i;  // the closing quote
      out.push_back(std::move(lit));
    }
    i += 2;
  }
  return out;
}

[[noreturn]] void not_recognised(std::string_view src, const std::string& why) {
  std::string head(src.substr(0, 80));
  std::string shown;
  for (char c : head) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
  if (src.size() > head.size()) shown += "...";
  throw ChatTemplateError("chat template not recognised: " + why + " (template: \"" + shown +
                          "\"); choose a built-in one with --chat-template NAME, NAME one of " +
                          chat_format_names());
}

// The default system message of a ChatML template: the text of a complete literal
// "<|im_start|>system\nTEXT<|im_end|>..." (as in SmolLM2's and Qwen2's
// {% if loop.first and messages[0]['role'] != 'system' %} branch, or Qwen2.5's else branch).
// A literal that stops after "system\n" is the start of the user's own system turn, not one.
std::string chatml_default_system(std::string_view src) {
  const std::string open = "<|im_start|>system\n", close = "<|im_end|>";
  for (const std::string& lit : string_literals(src)) {
    if (lit.compare(0, open.size(), open) != 0) continue;
    const size_t end = lit.find(close, open.size());
    if (end == std::string::npos) continue;
    return lit.substr(open.size(), end - open.size());
  }
  return "";
}

// ---- per-format details -----------------------------------------------------------------------

std::string usual_bos(ChatFormat f) {
  switch (f) {
    case ChatFormat::kLlama2:
    case ChatFormat::kMistral:
      return "<s>";
    case ChatFormat::kLlama3:
      return "<|begin_of_text|>";
    case ChatFormat::kGemma:
      return "<bos>";
    default:
      return "";
  }
}

std::string usual_eos(ChatFormat f) {
  switch (f) {
    case ChatFormat::kChatml:
    case ChatFormat::kQwen2:
      return "<|im_end|>";
    case ChatFormat::kLlama2:
    case ChatFormat::kMistral:
      return "</s>";
    case ChatFormat::kLlama3:
      return "<|eot_id|>";
    case ChatFormat::kPhi3:
      return "<|endoftext|>";
    case ChatFormat::kGemma:
      return "<eos>";
    case ChatFormat::kPlain:
      break;
  }
  return "";
}

std::vector<std::string> end_of_turn_markers(ChatFormat f) {
  switch (f) {
    case ChatFormat::kChatml:
    case ChatFormat::kQwen2:
      return {"<|im_end|>"};
    case ChatFormat::kLlama3:
      return {"<|eot_id|>"};
    case ChatFormat::kGemma:
      return {"<end_of_turn>"};
    case ChatFormat::kPhi3:
      return {"<|end|>"};
    case ChatFormat::kPlain:
      return {"\n\nUser:"};
    case ChatFormat::kLlama2:
    case ChatFormat::kMistral:
      break;  // the turn ends with eos
  }
  return {};
}

ChatTemplateInfo make_info(ChatFormat f, std::string default_system, const std::string& bos,
                           const std::string& eos) {
  ChatTemplateInfo info;
  info.format = f;
  info.default_system = std::move(default_system);
  info.bos_token = bos.empty() ? usual_bos(f) : bos;
  info.eos_token = eos.empty() ? usual_eos(f) : eos;
  info.stop_strings = end_of_turn_markers(f);
  bool have_eos = info.eos_token.empty();
  for (const auto& s : info.stop_strings) have_eos = have_eos || s == info.eos_token;
  if (!have_eos) info.stop_strings.push_back(info.eos_token);
  return info;
}

// ---- rendering ---------------------------------------------------------------------------------

// The rendered text and where the last user message's turn (or, without one, the generation
// prompt) begins.
struct Rendered {
  std::string text;
  size_t final_start = std::string::npos;
};

// Turn starts are recorded per message; the split is taken from the last user message.
class Renderer {
 public:
  explicit Renderer(const std::vector<ChatMessage>& messages)
      : starts_(messages.size(), std::string::npos) {
    for (size_t i = messages.size(); i-- > 0;)
      if (messages[i].role == "user") {
        last_user_ = i;
        break;
      }
  }
  std::string& text() { return text_; }
  // Message i's turn begins at the current end of the text (or at `offset`).
  void mark(size_t i) { mark_at(i, text_.size()); }
  void mark_at(size_t i, size_t offset) { starts_[i] = offset; }
  // The generation prompt begins at the current end of the text.
  void mark_generation() { generation_ = text_.size(); }
  Rendered finish() {
    Rendered r;
    if (last_user_ != std::string::npos) r.final_start = starts_[last_user_];
    if (r.final_start == std::string::npos) r.final_start = generation_;
    if (r.final_start == std::string::npos) r.final_start = text_.size();
    r.text = std::move(text_);
    return r;
  }

 private:
  std::vector<size_t> starts_;
  size_t last_user_ = std::string::npos;
  size_t generation_ = std::string::npos;
  std::string text_;
};

void check_messages(const std::vector<ChatMessage>& messages) {
  if (messages.empty()) throw ChatTemplateError("chat template: the conversation has no messages");
  for (const auto& m : messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      throw ChatTemplateError("chat template: unsupported role '" + m.role +
                              "' (only system, user and assistant)");
}

// SmolLM2-Instruct / Qwen2-Instruct / OpenHermes:
// {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}
// {{ '<|im_start|>system\nDEFAULT<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role']
// + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}
// {% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
Rendered render_chatml(const ChatTemplateInfo& info, const std::vector<ChatMessage>& ms, bool gen) {
  Renderer r(ms);
  std::string& out = r.text();
  for (size_t i = 0; i < ms.size(); ++i) {
    if (i == 0 && ms[0].role != "system" && !info.default_system.empty())
      out += "<|im_start|>system\n" + info.default_system + "<|im_end|>\n";
    r.mark(i);
    out += "<|im_start|>" + ms[i].role + "\n" + ms[i].content + "<|im_end|>\n";
  }
  if (gen) {
    r.mark_generation();
    out += "<|im_start|>assistant\n";
  }
  return r.finish();
}

// meta-llama/Llama-2-7b-chat-hf:
// {% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}
// {% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}
// {% set system_message = false %}{% endif %}{% for message in loop_messages %}
// {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception(...) }}
// {% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n'
// + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}
// {% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}
// {{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] ==
// 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}
Rendered render_llama2(const ChatTemplateInfo& info, const std::vector<ChatMessage>& ms) {
  Renderer r(ms);
  std::string& out = r.text();
  const bool has_system = ms[0].role == "system";
  const size_t first = has_system ? 1 : 0;
  for (size_t i = first; i < ms.size(); ++i) {
    const size_t index0 = i - first;
    const ChatMessage& m = ms[i];
    if ((m.role == "user") != (index0 % 2 == 0)) throw ChatTemplateError(kAlternate);
    const std::string sys_block =
        index0 == 0 && has_system ? "<<SYS>>\n" + ms[0].content + "\n<</SYS>>\n\n" : "";
    const std::string content = py_strip(sys_block + m.content);
    if (m.role == "user") {
      r.mark(i);
      out += info.bos_token + "[INST] ";
      // The system prompt shares this turn: the final turn starts at the user's own text.
      if (!sys_block.empty() && content.compare(0, sys_block.size(), sys_block) == 0)
        r.mark_at(i, out.size() + sys_block.size());
      out += content + " [/INST]";
    } else if (m.role == "assistant") {
      r.mark(i);
      out += " " + content + " " + info.eos_token;
    }
  }
  return r.finish();  // add_generation_prompt changes nothing here
}

// meta-llama/Meta-Llama-3-8B-Instruct:
// {% set loop_messages = messages %}{% for message in loop_messages %}{% set content =
// '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim
// + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}
// {{ content }}{% endfor %}{% if add_generation_prompt %}
// {{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}
Rendered render_llama3(const ChatTemplateInfo& info, const std::vector<ChatMessage>& ms, bool gen) {
  Renderer r(ms);
  std::string& out = r.text();
  for (size_t i = 0; i < ms.size(); ++i) {
    if (i == 0) out += info.bos_token;
    r.mark(i);
    out += "<|start_header_id|>" + ms[i].role + "<|end_header_id|>\n\n" + py_strip(ms[i].content) +
           "<|eot_id|>";
  }
  if (gen) {
    r.mark_generation();
    out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  }
  return r.finish();
}

// mistralai/Mistral-7B-Instruct-v0.2 (and v0.3 as released, Mixtral-8x7B-Instruct-v0.1):
// {{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') !=
// (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate
// user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}
// {{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}
// {{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant
// roles are supported!') }}{% endif %}{% endfor %}
Rendered render_mistral(const ChatTemplateInfo& info, const std::vector<ChatMessage>& ms) {
  Renderer r(ms);
  std::string& out = r.text();
  out += info.bos_token;
  for (size_t i = 0; i < ms.size(); ++i) {
    const ChatMessage& m = ms[i];
    if ((m.role == "user") != (i % 2 == 0)) throw ChatTemplateError(kAlternate);
    r.mark(i);
    if (m.role == "user")
      out += "[INST] " + m.content + " [/INST]";
    else if (m.role == "assistant")
      out += m.content + info.eos_token;
    else
      throw ChatTemplateError("Only user and assistant roles are supported!");
  }
  return r.finish();  // add_generation_prompt changes nothing here
}

// microsoft/Phi-3-mini-4k-instruct:
// {% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' +
// message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' +
// message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}
// {{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}
// {% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}
Rendered render_phi3(const ChatTemplateInfo& info, const std::vector<ChatMessage>& ms, bool gen) {
  Renderer r(ms);
  std::string& out = r.text();
  for (size_t i = 0; i < ms.size(); ++i) {
    r.mark(i);
    out += "<|" + ms[i].role + "|>\n" + ms[i].content + "<|end|>\n";
  }
  if (gen) {
    r.mark_generation();
    out += "<|assistant|>\n";
  } else {
    out += info.eos_token;
  }
  return r.finish();
}

// google/gemma-7b-it, gemma-2-9b-it:
// {{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not
// supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') !=
// (loop.index0 % 2 == 0) %}{{ raise_exception(...) }}{% endif %}{% if (message['role'] ==
// 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}
// {{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}
// {% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}
Rendered render_gemma(const ChatTemplateInfo& info, const std::vector<ChatMessage>& ms, bool gen) {
  if (ms[0].role == "system") throw ChatTemplateError("System role not supported");
  Renderer r(ms);
  std::string& out = r.text();
  out += info.bos_token;
  for (size_t i = 0; i < ms.size(); ++i) {
    const ChatMessage& m = ms[i];
    if ((m.role == "user") != (i % 2 == 0)) throw ChatTemplateError(kAlternate);
    r.mark(i);
    const std::string role = m.role == "assistant" ? "model" : m.role;
    out += "<start_of_turn>" + role + "\n" + py_strip(m.content) + "<end_of_turn>\n";
  }
  if (gen) {
    r.mark_generation();
    out += "<start_of_turn>model\n";
  }
  return r.finish();
}

// "System: S\n\nUser: U\n\nAssistant: A\n\nAssistant:"
Rendered render_plain(const std::vector<ChatMessage>& ms, bool gen) {
  Renderer r(ms);
  std::string& out = r.text();
  for (size_t i = 0; i < ms.size(); ++i) {
    if (i > 0) out += "\n\n";
    r.mark(i);
    const ChatMessage& m = ms[i];
    out += (m.role == "system" ? "System: "
            : m.role == "user" ? "User: "
                               : "Assistant: ") +
           m.content;
  }
  if (gen) {
    out += "\n\n";
    r.mark_generation();
    out += "Assistant:";
  }
  return r.finish();
}

Rendered render(const ChatTemplateInfo& info, const std::vector<ChatMessage>& ms, bool gen) {
  check_messages(ms);
  switch (info.format) {
    case ChatFormat::kChatml:
    case ChatFormat::kQwen2:
      return render_chatml(info, ms, gen);
    case ChatFormat::kLlama2:
      return render_llama2(info, ms);
    case ChatFormat::kLlama3:
      return render_llama3(info, ms, gen);
    case ChatFormat::kMistral:
      return render_mistral(info, ms);
    case ChatFormat::kPhi3:
      return render_phi3(info, ms, gen);
    case ChatFormat::kGemma:
      return render_gemma(info, ms, gen);
    case ChatFormat::kPlain:
      break;
  }
  return render_plain(ms, gen);
}

}  // namespace

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::kChatml:
      return "chatml";
    case ChatFormat::kLlama2:
      return "llama2";
    case ChatFormat::kLlama3:
      return "llama3";
    case ChatFormat::kMistral:
      return "mistral";
    case ChatFormat::kPhi3:
      return "phi3";
    case ChatFormat::kGemma:
      return "gemma";
    case ChatFormat::kQwen2:
      return "qwen2";
    case ChatFormat::kPlain:
      break;
  }
  return "plain";
}

std::optional<ChatFormat> chat_format_from_name(std::string_view name) {
  for (ChatFormat f : kAllFormats)
    if (name == chat_format_name(f)) return f;
  return std::nullopt;
}

std::string chat_format_names() {
  std::string out;
  for (ChatFormat f : kAllFormats)
    out += (out.empty() ? "" : ", ") + std::string(chat_format_name(f));
  return out;
}

ChatTemplateInfo builtin_chat_template(ChatFormat format, const std::string& bos_token,
                                       const std::string& eos_token) {
  return make_info(format, format == ChatFormat::kQwen2 ? kQwen2System : "", bos_token, eos_token);
}

ChatTemplateInfo recognise_chat_template(const std::string& jinja_source,
                                         const std::string& bos_token,
                                         const std::string& eos_token) {
  const std::string src = strip_comments(jinja_source);
  if (py_strip(src).empty()) not_recognised(jinja_source, "the model has no chat template");
  auto has = [&](std::string_view s) { return contains(src, s); };
  // Either quote style: has_lit("[INST] ") finds '[INST] ' and "[INST] ".
  auto has_lit = [&](const std::string& s) { return has("'" + s + "'") || has("\"" + s + "\""); };
  auto make = [&](ChatFormat f, std::string def = "") {
    return make_info(f, std::move(def), bos_token, eos_token);
  };

  if (has("<|im_start|>")) {
    if (has("<|im_sep|>")) not_recognised(src, "ChatML with <|im_sep|> (Phi-4 style)");
    if (has("<think>")) not_recognised(src, "ChatML with <think> reasoning blocks");
    if (has("bos_token")) not_recognised(src, "ChatML that emits bos_token");
    std::string def = chatml_default_system(src);
    if (def == kQwen2System || def == kQwen25System) return make(ChatFormat::kQwen2, def);
    return make(ChatFormat::kChatml, def);
  }
  if (has("<|start_header_id|>")) {
    if (has("Cutting Knowledge Date") || has("date_string"))
      not_recognised(src, "a Llama 3.1+ template (system header with knowledge and today's date)");
    return make(ChatFormat::kLlama3);
  }
  if (has("[INST]")) {
    if (has("<<SYS>>")) {
      // Llama-2-chat opens every user turn with bos; templates that emit bos once differ.
      if (!has("bos_token + '[INST] '") && !has("bos_token + \"[INST] \""))
        not_recognised(src, "a Llama-2 variant without bos_token before each [INST]");
      return make(ChatFormat::kLlama2);
    }
    if (!has_lit(" [/INST]"))
      not_recognised(src, "a Mistral template with v3/tekken spacing (\"[/INST]\" without space)");
    if (has("system_message") || has("[AVAILABLE_TOOLS]"))
      not_recognised(src, "a Mistral template with system or tool support (not v0.2's)");
    if (has("eos_token + ' '") || has("eos_token + \" \""))
      not_recognised(src, "the Mistral v0.1 template (a space after eos)");
    return make(ChatFormat::kMistral);
  }
  if (has("<|user|>") && has("<|end|>")) {
    if (!has("add_generation_prompt") || !has("<|system|>"))
      not_recognised(src, "an early Phi-3 template (no system role, no generation prompt)");
    if (has("'system' and message['content']"))
      not_recognised(src, "the Phi-3.5 template (drops empty system messages)");
    return make(ChatFormat::kPhi3);
  }
  if (has("<start_of_turn>")) {
    if (!has("System role not supported"))
      not_recognised(src, "a Gemma template that accepts system messages (e.g. Gemma 3's)");
    return make(ChatFormat::kGemma);
  }
  not_recognised(src, "it matches none of the built-in formats");
}

std::string render_chat(const ChatTemplateInfo& info, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt) {
  return render(info, messages, add_generation_prompt).text;
}

RenderedSplit render_chat_split(const ChatTemplateInfo& info,
                                const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  Rendered r = render(info, messages, add_generation_prompt);
  RenderedSplit out;
  out.final_turn = r.text.substr(r.final_start);
  r.text.resize(r.final_start);
  out.prefix_history = std::move(r.text);
  return out;
}

}  // namespace precis::engine
