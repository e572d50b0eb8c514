// libFuzzer target: a request body through openai_protocol's decoding of /v1/completions and
// /v1/chat/completions (every field, the "precis" extension object included). The first byte
// picks the endpoint and the chat template; ApiError (the documented 400) is the expected
// rejection, anything else escaping is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "middleware/server/api_error.hpp"
#include "middleware/server/chat_template.hpp"
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
      static const server::ChatTemplate templates[] = {server::ChatTemplate::kChatml,
                                                       server::ChatTemplate::kLlama2,
                                                       server::ChatTemplate::kPlain};
      // The pipeline renders a chat request's messages with the template: fuzz that too.
      const server::ApiRequest req = server::parse_chat_request(body, defaults);
      std::vector<server::ChatMessage> msgs;
      for (const Message& m : req.prompts.at(0).messages) msgs.push_back({m.role, m.content});
      server::render_chat(msgs, templates[(selector >> 1) % 3], "<keep>", "</keep>");
    }
  } catch (const server::ApiError&) {
  }
  return 0;
}
