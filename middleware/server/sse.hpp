// Server-sent events as OpenAI streams them: "data: {json}\n\n" per event, "data: [DONE]\n\n"
// last. Generated text may hold any bytes (a random model's output): invalid UTF-8 is replaced
// by U+FFFD when dumping, never thrown on.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace precis::server {

// JSON text with invalid UTF-8 replaced (never throws on bad bytes).
std::string dump_json(const nlohmann::json& j);

std::string sse_event(const nlohmann::json& j);
std::string sse_done();

}  // namespace precis::server
