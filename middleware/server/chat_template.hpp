// Chat messages -> prompt text, with a built-in template (a Jinja interpreter is out of scope).
//
//   plain:   "System: S\n\nUser: U\n\nAssistant: A\n\nUser: U2\n\nAssistant:"
//   chatml:  "<|im_start|>system\nS<|im_end|>\n\n<|im_start|>user\nU<|im_end|>\n\n...
//             <|im_start|>assistant\n"
//   llama2:  "[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s>\n\n[INST] U2 [/INST]"
//   auto:    from the model directory's tokenizer_config.json "chat_template": chatml when it
//            uses <|im_start|>, llama2 when it uses [INST], plain otherwise.
//
// The conversation is split in two for the pipeline: `history` (system prompt and earlier turns:
// compressed like any prompt) and `final` (the last user turn and the assistant's opening: kept
// verbatim, planned for, placed last). Turns are separated by a blank line, which is how the
// pipeline joins prompt and question. When compression is on, the role markers in `history` are
// wrapped in the compressor's keep markers so that they survive it.
#pragma once

#include <string>
#include <vector>

namespace precis::server {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatTemplate { kPlain, kChatml, kLlama2 };

// `name` is "auto", "plain", "chatml" or "llama2"; "auto" looks into `model_dir`.
ChatTemplate resolve_chat_template(const std::string& name, const std::string& model_dir);
const char* chat_template_name(ChatTemplate t);

struct RenderedChat {
  std::string history;
  std::string final;
};

// `keep_open`/`keep_close` (both empty: none) protect the role markers of `history`.
RenderedChat render_chat(const std::vector<ChatMessage>& messages, ChatTemplate t,
                         const std::string& keep_open = "", const std::string& keep_close = "");

}  // namespace precis::server
