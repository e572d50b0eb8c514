// Chat templates read from the model, rendered by built-in code (no Jinja interpreter).
//
// A model ships its chat template as Jinja source (`tokenizer.chat_template` in GGUF,
// "chat_template" in tokenizer_config.json). recognise_chat_template() decides which of the
// built-in formats that source is, and render_chat() then produces, byte for byte, what the
// model's own template renders under Hugging Face transformers' apply_chat_template. Each
// built-in is a transcription of one published template:
//
//   chatml   ChatML as in teknium/OpenHermes-2.5 and HuggingFaceTB/SmolLM2-*-Instruct:
//            "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message, plus the template's default
//            system message (if it has one) when the first message is not a system message.
//   qwen2    Qwen/Qwen2-*-Instruct (and Qwen2.5's non-tool path): chatml whose default system
//            message is "You are a helpful assistant." (Qwen2.5: "You are Qwen, created by
//            Alibaba Cloud. You are a helpful assistant.").
//   llama2   meta-llama/Llama-2-*-chat-hf: "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s>";
//            contents are strip()ped; roles must alternate user/assistant.
//   llama3   meta-llama/Meta-Llama-3-*-Instruct (3.0; not 3.1+ with its date block):
//            "<|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>";
//            contents are trim()med.
//   mistral  mistralai/Mistral-7B-Instruct-v0.2 (v0.3 shipped the same template at release, as
//            did Mixtral-8x7B-Instruct-v0.1): "<s>[INST] U [/INST]A</s>[INST] U2 [/INST]", i.e.
//            the v1 tokenizer spacing, not v3/tekken's "[INST]U[/INST]". No system role: like the
//            template, a system message is an error.
//   phi3     microsoft/Phi-3-mini-4k-instruct (the template as updated in May 2024):
//            "<|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n", eos_token at the end
//            when no generation prompt is asked for.
//   gemma    google/gemma-7b-it, gemma-2-*-it: "<bos><start_of_turn>user\nU<end_of_turn>\n
//            <start_of_turn>model\n"; contents trim()med; a leading system message is an error
//            ("System role not supported"), as in the template.
//   plain    no model template: "System: S\n\nUser: U\n\nAssistant: A\n\nAssistant:" (the HTTP
//            server's plain format).
//
// Where the template emits the bos token (llama2, llama3, mistral, gemma) the rendered text
// starts with it, as text: tokenize the result with special-token parsing and without adding
// another BOS. Where a template raises (roles that do not alternate, a system message a model
// does not accept), render_chat throws ChatTemplateError with the template's own message.
// Only the roles "system", "user" and "assistant" are accepted, and at least one message.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace precis::engine {

enum class ChatFormat { kChatml, kLlama2, kLlama3, kMistral, kPhi3, kGemma, kQwen2, kPlain };

// "chatml", "llama2", "llama3", "mistral", "phi3", "gemma", "qwen2", "plain".
const char* chat_format_name(ChatFormat f);
std::optional<ChatFormat> chat_format_from_name(std::string_view name);
// "chatml, llama2, llama3, mistral, phi3, gemma, qwen2, plain" (for messages and --help).
std::string chat_format_names();

// A template that is not recognised, or a conversation a template refuses.
class ChatTemplateError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct ChatTemplateInfo {
  ChatFormat format = ChatFormat::kPlain;
  // Inserted as a system turn when the conversation does not start with one (chatml, qwen2);
  // empty: none.
  std::string default_system;
  std::string bos_token, eos_token;
  // End-of-turn markers that end generation, e.g. "<|im_end|>", "<|eot_id|>", "<end_of_turn>",
  // "<|end|>", followed by eos_token when it is not one of them.
  std::vector<std::string> stop_strings;
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// Identifies which built-in format the model's Jinja template is, by its distinctive markers
// (see the list above). `bos_token`/`eos_token` are the model's special tokens as text; an empty
// one is replaced by the format's usual token where the format needs it. Throws
// ChatTemplateError, naming --chat-template and the built-in names, when the template is empty,
// matches no built-in, or is a known variant of a family that the built-in does not reproduce
// byte for byte (e.g. Llama 3.1's date header, Gemma 3's system handling, Mistral's v3 spacing).
ChatTemplateInfo recognise_chat_template(const std::string& jinja_source,
                                         const std::string& bos_token,
                                         const std::string& eos_token);

// The built-in format chosen by name (--chat-template NAME): qwen2 gets Qwen2's default system
// message, the others none.
ChatTemplateInfo builtin_chat_template(ChatFormat format, const std::string& bos_token,
                                       const std::string& eos_token);

// The prompt text, byte for byte what the model's template renders.
std::string render_chat(const ChatTemplateInfo& info, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt);

// render_chat's text in two parts, prefix_history + final_turn == render_chat(...): final_turn
// begins where the last user message's turn begins (its role marker; in llama2, whose first
// [INST] also carries the system prompt, at the user's text after "<</SYS>>\n\n", so the system
// prompt stays in prefix_history). A bos token emitted once before the first turn (llama3,
// mistral, gemma) belongs to prefix_history; llama2's bos opens every user turn and is part of it.
// Without a user message, final_turn is the generation prompt (or empty).
struct RenderedSplit {
  std::string prefix_history;
  std::string final_turn;
};
RenderedSplit render_chat_split(const ChatTemplateInfo& info,
                                const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);

}  // namespace precis::engine
