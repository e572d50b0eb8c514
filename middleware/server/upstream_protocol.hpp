// Proxy mode's wire format towards upstream OpenAI-compatible servers: the forwarded request body
// (the client's body with the prepared prompt in place), and the upstream's answers — whole JSON
// responses and server-sent event streams — decoded back into a precis::Result.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "precis/precis.hpp"

namespace precis::server {

struct ClientRequest;

// The content of the last message with role "user" ("" if none); `index` gets its position (-1
// if none).
std::string last_user_message(const std::vector<Message>& messages, int* index);

// The body to forward: the client's other fields, then the text as the stages left it: chat's
// messages from `request.messages` (role and content only) with the last user message's content
// replaced by `final_prompt`, or completions' prompt = `final_prompt`. Nothing of the client's
// original text goes: "stop" and response_format's schema come from `request.generate` (as the
// stages left them; the schema under the fixed name "response", without a description); the
// fields the API ignores are not in `client.fields`. "model" is replaced when `model` is given;
// streaming gets stream_options.include_usage (the proxy needs the token counts).
nlohmann::json upstream_body(const ClientRequest& client, const Request& request,
                             const std::string& final_prompt, const std::string& model);

// The canonical text of what a forwarded body asks the model (the body without its streaming
// fields): what a cache keys on, so that a hit needs the same messages, model and sampling.
std::string sent_key(const nlohmann::json& body);

// Thrown for an answer that is not what OpenAI's API returns.
class InvalidUpstreamAnswer : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A whole (non-streamed) response's choices and usage into `result` (choices, text,
// completion_tokens, final_prompt_tokens when the upstream reports usage).
void decode_response(const nlohmann::json& response, bool chat, Result& result);

// One stream chunk's pieces, added to `result`; `on_text` gets the new text of each choice.
// Returns false for an error event (its message in `error`).
bool decode_chunk(const nlohmann::json& chunk, bool chat, Result& result,
                  const ChoiceTextCallback& on_text, std::string& error);

// After the last chunk: per-choice token counts, text, completion_tokens.
void finish_stream(Result& result);

// Splits a server-sent event stream into the payloads of its "data:" lines as bytes arrive.
class SseReader {
 public:
  // Calls `on_event(payload)` for every complete event in what has arrived so far.
  template <class F>
  void feed(std::string_view data, F&& on_event) {
    buffer_.append(data);
    size_t start = 0;
    while (true) {
      size_t end = buffer_.find("\n\n", start);
      size_t sep = 2;
      const size_t crlf = buffer_.find("\r\n\r\n", start);
      if (crlf != std::string::npos && (end == std::string::npos || crlf < end))
        end = crlf, sep = 4;
      if (end == std::string::npos) break;
      std::string payload = data_of(std::string_view(buffer_).substr(start, end - start));
      start = end + sep;
      if (!payload.empty()) on_event(payload);
    }
    buffer_.erase(0, start);
  }
  // Bytes of an unfinished event.
  bool pending() const { return buffer_.find_first_not_of("\r\n ") != std::string::npos; }

 private:
  static std::string data_of(std::string_view event);
  std::string buffer_;
};

}  // namespace precis::server
