// OpenAI's wire format: request bodies of /v1/completions and /v1/chat/completions decoded and
// validated into pipeline requests (every rejection names the field's JSON path), and results
// encoded as responses and stream chunks in OpenAI's exact shapes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "precis/precis.hpp"

namespace precis::server {

enum class Endpoint { kCompletions, kChatCompletions };

struct ApiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;  // the client's "model" ("" when absent)
  // The body's other fields as sent (without prompt, messages, precis and the ignored fields),
  // for proxy mode.
  nlohmann::json client_fields;
  // One pipeline run per prompt (a completions request may carry a list); prompt p's choices
  // get the indices p * n ... p * n + n - 1.
  std::vector<Request> prompts;
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool want_logprobs = false;  // completions: "logprobs": k; chat: "logprobs": true
  int top_logprobs = 0;        // alternatives per token to return
};

// Both throw ApiError (400) naming the field: "/messages/1/role: must be one of ...".
// Unknown fields are rejected. `defaults` gives the sampling defaults and compression settings.
ApiRequest parse_completion_request(const std::string& body, const PipelineConfig& defaults);
// A chat request's Request carries the messages (Request::messages); the pipeline renders them.
ApiRequest parse_chat_request(const std::string& body, const PipelineConfig& defaults);

struct ResponseMeta {
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;
  std::string model;
};

// {prompt_tokens, completion_tokens, total_tokens, precis: {original_prompt_tokens,
// compressed_prompt_tokens, plan_tokens}} summed over the prompts' results.
nlohmann::json usage_json(const std::vector<Result>& results);

// The whole (non-streamed) response; results[p] belongs to prompts[p].
nlohmann::json response_json(const ApiRequest& req, const ResponseMeta& meta,
                             const std::vector<Result>& results);

// A choice's logprobs in the endpoint's shape (null when not requested).
nlohmann::json logprobs_json(const ApiRequest& req, const Choice& choice);

// Stream chunks. `finish_reason` null while generating.
nlohmann::json text_chunk(const ApiRequest& req, const ResponseMeta& meta, int index,
                          const std::string& text, const nlohmann::json& finish_reason = nullptr,
                          const nlohmann::json& logprobs = nullptr);
// chat: text_chunk's delta is {"content": text}; this one sends {"role": "assistant"}.
nlohmann::json role_chunk(const ResponseMeta& meta, int index);
nlohmann::json usage_chunk(const ApiRequest& req, const ResponseMeta& meta,
                           const nlohmann::json& usage);

}  // namespace precis::server
