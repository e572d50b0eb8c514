// libFuzzer target: a request body through openai_protocol's decoding of /v1/completions and
// /v1/chat/completions (every field, the "precis" extension object included). The first byte
// picks the endpoint and the chat template; ApiError (the documented 400) is the expected
// rejection, anything else escaping is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "middleware/chat_prompt.hpp"
#include "middleware/server/api_error.hpp"
#include "middleware/server/openai_protocol.hpp"

using namespace precis;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const PipelineConfig defaults = [] {
    PipelineConfig c;
    c.generate.max_tokens = 16;
    return c;
  }();
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if ((selector & 1) == 0) {
      server::parse_completion_request(body, defaults);
    } else {
      // The pipeline renders a chat request's messages with a template: fuzz that too.
      static const engine::ChatFormat formats[] = {
          engine::ChatFormat::kChatml,  engine::ChatFormat::kLlama2, engine::ChatFormat::kLlama3,
          engine::ChatFormat::kMistral, engine::ChatFormat::kPhi3,   engine::ChatFormat::kGemma,
          engine::ChatFormat::kQwen2,   engine::ChatFormat::kPlain};
      const server::ApiRequest req = server::parse_chat_request(body, defaults);
      try {
        render_chat_messages(engine::builtin_chat_template(formats[(selector >> 1) % 8], "", ""),
                             req.prompts.at(0).messages, "<keep>", "</keep>");
      } catch (const ConfigError&) {  // a conversation the template refuses
      }
    }
  } catch (const server::ApiError&) {
  }
  return 0;
}
