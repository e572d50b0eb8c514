// A chat request's messages as the prompt the model expects: the model's own chat template
// (engine/chat_template: recognised from the GGUF's tokenizer.chat_template or the HF
// directory's tokenizer_config.json, or chosen by name with --chat-template), split for the
// pipeline into the history (compressed like any prompt) and the final turn (kept verbatim,
// planned for). With compression on, the template's own text (role markers, special tokens)
// is wrapped in the compressor's keep markers so that it survives compression intact.
#pragma once

#include <string>
#include <vector>

#include "engine/chat_template.hpp"
#include "precis/precis.hpp"

namespace precis {

// `name`: "auto" or a built-in format name (engine::chat_format_names()). "auto" uses the
// model's template: `model_template` (the GGUF's, "" when none), else `model_path`'s
// tokenizer_config.json; a model without any gets "plain". Throws ConfigError naming
// --chat-template when the model's template is not one precis renders.
engine::ChatTemplateInfo chat_template_for(const std::string& name, const std::string& model_path,
                                           const std::string& model_template);

// A conversation rendered for the pipeline: history + documents + question + suffix is the
// template's text (the pipeline joins history, documents and question with blank lines).
struct RenderedChat {
  std::string full;  // the template's rendering, byte for byte
  // Everything before the final user message's content: system prompt, earlier turns, the
  // final turn's opening; the template's own text wrapped in the keep markers when given.
  std::string history;
  // The documents of a long final user message (blank-line paragraphs), to be compressed.
  std::vector<std::string> documents;
  // The final user message's question (all of it when it is short or does not ask).
  std::string question;
  std::string suffix;    // the template's text after it (end of turn, assistant opening)
  bool has_bos = false;  // the text starts with the template's BOS token (do not add another)
};

// Throws ConfigError ("/messages: ...") when the template refuses the conversation (e.g. a
// system message for Gemma). When the final user message cannot be located, history, documents
// and suffix are empty and question is `full`.
RenderedChat render_chat_messages(const engine::ChatTemplateInfo& info,
                                  const std::vector<Message>& messages,
                                  const std::string& keep_open = "",
                                  const std::string& keep_close = "",
                                  const std::string& explicit_question = "");

// The question of a user message: the last sentence or line that ends with '?' (with what
// follows it), and the documents before it. {"" , text} when nothing asks or the text is short.
// With an explicit question (the SDK's Request::question, the API's precis.question), that is
// the question whatever the text's length: taken out of the text where it occurs in it (its last
// occurrence), and the rest of the text is the documents.
struct SplitMessage {
  std::string documents;
  std::string question;
};
SplitMessage split_documents_question(const std::string& text,
                                      const std::string& explicit_question = "");

// A completion request's explicit question taken out of its prompt where the prompt holds it, so
// it is kept once, placed last. Called after the before() stages, on the text as they left it:
// splitting first would cut the prompt into pieces a masker may no longer recognise (a card
// number half in the documents, half in the question).
void take_question_out_of_prompt(Request& request);

}  // namespace precis
