#include "middleware/server/proxy_generator.hpp"

#include <chrono>
#include <cstdio>
#include <set>
#include <stdexcept>

#include "middleware/chat_prompt.hpp"
#include "middleware/server/api_error.hpp"
#include "middleware/server/upstream_client.hpp"
#include "middleware/server/upstream_protocol.hpp"
#include "middleware/stage_runner.hpp"
#include "plugins/plugin_loader.hpp"

namespace precis::server {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// An upstream's non-2xx body's error message (OpenAI's shape), else the start of the body.
std::string error_message(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const json& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string())
      return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  return body.substr(0, 200);
}

// Why an attempt failed: `failover` says the upstream is at fault (take it out, try another).
struct AttemptError {
  ApiError error;
  bool failover;
};

// localhost, 127.0.0.0/8 and ::1: a plain-http upstream there is on this machine.
bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" ||
         (host.rfind("127.", 0) == 0 && host.find_first_not_of("0123456789.") == std::string::npos);
}

// `e` with every occurrence of `secret` in its message replaced: an upstream or a gateway before
// it may quote the key it was given ("invalid key sk-..."), and the message goes to the client
// and the log.
ApiError without_secret(const ApiError& e, const std::string& secret) {
  std::string msg = e.what();
  if (secret.empty() || msg.find(secret) == std::string::npos) return e;
  for (size_t at = msg.find(secret); at != std::string::npos; at = msg.find(secret, at))
    msg.replace(at, secret.size(), "[upstream.api_key]");
  return ApiError(e.status, msg, e.type, e.param, e.code);
}

}  // namespace

ProxyGenerator::ProxyGenerator(ServeConfig config, int max_threads)
    : config_(std::move(config)), workers_(max_threads, [this](GenerationJob& job) { run(job); }) {
  if (config_.upstream.urls.empty()) throw ConfigError("/upstream/urls: no upstream given");
  try {
    pool_ = std::make_unique<UpstreamPool>(config_.upstream.urls);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("/upstream/urls: ") + e.what());
  }
  if (!config_.upstream.api_key.empty())
    for (size_t i = 0; i < pool_->size(); ++i)
      if (!pool_->url(i).tls && !is_loopback_host(pool_->url(i).host))
        std::fprintf(stderr,
                     "precis proxy: warning: upstream.api_key goes unencrypted to %s (over the "
                     "network; use https://)\n",
                     pool_->url(i).text.c_str());
  if (config_.compress_enabled) config_.compress.validate();
  if (config_.plan_enabled) config_.plan.validate();
  config_.generate.validate();
  for (size_t i = 0; i < config_.plugins.size(); ++i) {
    try {
      stages_.push_back(plugins::load_plugin(config_.plugins[i]));
    } catch (const ConfigError& e) {
      throw ConfigError("/plugins/" + std::to_string(i) + ": " + e.what());
    }
  }
  prepare_ = std::make_unique<ProxyPrepare>(config_);
  if (config_.model.path.empty()) config_.model.path = prepare_->tokenizer_dir();
  model_id_ = config_.server.model_name;
  if (model_id_.empty()) model_id_ = config_.upstream.model;
  if (model_id_.empty()) model_id_ = "precis-proxy";
}

ProxyGenerator::~ProxyGenerator() {
  shutdown();
}

void ProxyGenerator::start(Request request, std::shared_ptr<const ClientRequest> client,
                           GenerationHandlers handlers, std::shared_ptr<CancelToken> cancel) {
  workers_.start({std::move(request), std::move(client), std::move(handlers), std::move(cancel)});
}

void ProxyGenerator::run(GenerationJob& job) {
  if (job.handlers.on_start) job.handlers.on_start();
  Result result;
  try {
    if (!job.client) throw ApiError(500, "proxy: the client's request is missing", "server_error");
    const StageRunner runner(stages_);
    Request& request = job.request;
    runner.before(request, result);
    FilteredStream stream(runner.stages(), request, job.handlers.on_text);
    result = forward(runner, *job.client, request, std::move(result), stream.callback(),
                     job.cancel.get());
    stream.finish();
    runner.after(request, result);
  } catch (...) {
    if (job.handlers.on_error) job.handlers.on_error(std::current_exception());
    return;
  }
  if (job.handlers.on_done) job.handlers.on_done(std::move(result));
}

Result ProxyGenerator::forward(const StageRunner& runner, const ClientRequest& client,
                               Request& request, Result res, const ChoiceTextCallback& on_text,
                               CancelToken* cancel) {
  const bool chat = client.chat;
  if (chat) {
    // The last user message (as the stages left it) is the text compressed and planned; the
    // other messages go as the stages left them.
    // A long message is split as a RAG request reads: documents compressed, question kept.
    // An explicit question (precis.question) is that message's question.
    const SplitMessage m =
        split_documents_question(last_user_message(request.messages, nullptr), request.question);
    request.prompt = m.documents;
    request.question = m.question;
    request.contexts.clear();
  } else {
    take_question_out_of_prompt(request);
  }
  prepare_->prepare(request, res);

  const GenerateOptions gen = request.generate.value_or(config_.generate);
  const json body = upstream_body(client, request, res.final_prompt, config_.upstream.model);
  // What the upstream is asked, streaming aside: a cache stage keys on exactly this.
  const std::string sent = sent_key(body);
  if (runner.answer(request, sent, gen, res, on_text)) return res;

  const std::string body_text = body.dump(-1, ' ', false, json::error_handler_t::replace);
  const bool stream = body.value("stream", false);
  const std::string target = chat ? "/v1/chat/completions" : "/v1/completions";
  std::vector<std::pair<std::string, std::string>> headers;
  if (!config_.upstream.api_key.empty())
    headers.push_back({"Authorization", "Bearer " + config_.upstream.api_key});

  const auto t = Clock::now();
  std::set<size_t> tried;
  std::optional<AttemptError> last;
  bool streamed = false;  // text went to the client: no failover from here on
  while (true) {
    if (cancel && cancel->cancelled()) throw std::runtime_error("cancelled");
    const std::optional<size_t> pick = pool_->acquire(tried);
    if (!pick) break;
    const size_t idx = *pick;
    tried.insert(idx);
    const UpstreamUrl& url = pool_->url(idx);
    std::shared_ptr<UpstreamCall> call;
    try {
      call =
          std::make_shared<UpstreamCall>(url, config_.upstream.timeout_s, config_.upstream.ca_file);
    } catch (const UpstreamError& e) {
      pool_->release(idx, false);
      throw ApiError(502, e.what(), "server_error", "", "upstream_unreachable");
    }
    if (cancel) {
      std::weak_ptr<UpstreamCall> weak = call;
      cancel->on_cancel([weak] {
        if (auto c = weak.lock()) c->cancel();
      });
    }
    Result attempt = res;
    int status = 0;
    std::string raw;  // whole body (non-streamed, or an error status)
    SseReader sse;
    bool done_event = false;
    ChoiceTextCallback relay = [&](int index, const std::string& text) {
      streamed = true;
      if (on_text) on_text(index, text);
    };
    try {
      try {
        call->post(
            target, body_text, headers, [&](int s) { status = s; },
            [&](std::string_view data) {
              if (!stream || status / 100 != 2) {
                if (raw.size() < (64u << 20)) raw.append(data);
                return;
              }
              sse.feed(data, [&](const std::string& payload) {
                if (payload == "[DONE]") {
                  done_event = true;
                  return;
                }
                const json chunk = json::parse(payload, nullptr, false);
                if (chunk.is_discarded())
                  throw InvalidUpstreamAnswer("a stream event is not JSON: " +
                                              payload.substr(0, 80));
                std::string err;
                if (!decode_chunk(chunk, chat, attempt, relay, err))
                  throw ApiError(502, "upstream " + url.text + " failed mid-stream: " + err,
                                 "server_error", "", "upstream_error");
              });
            });
        if (status >= 500)
          throw AttemptError{ApiError(502,
                                      "upstream " + url.text + " returned HTTP " +
                                          std::to_string(status) + ": " + error_message(raw),
                                      "server_error", "", "upstream_error"),
                             true};
        if (status == 401 || status == 403)
          // The proxy's credentials, not the client's: the client cannot fix it, and the body
          // is about the proxy's key, so none of it is passed on.
          throw AttemptError{ApiError(502,
                                      "upstream " + url.text + " rejected the proxy (HTTP " +
                                          std::to_string(status) + "): check upstream.api_key",
                                      "server_error", "", "upstream_error"),
                             false};
        if (status / 100 != 2) {
          // The request's fault, not the upstream's: relay it.
          const json j = json::parse(raw, nullptr, false);
          std::string type = "invalid_request_error";
          if (j.is_object() && j.contains("error") && j["error"].is_object() &&
              j["error"].contains("type") && j["error"]["type"].is_string())
            type = j["error"]["type"].get<std::string>();
          throw AttemptError{ApiError(status >= 400 ? status : 502,
                                      "upstream " + url.text + ": " + error_message(raw), type),
                             false};
        }
        if (stream) {
          if (!done_event) throw InvalidUpstreamAnswer("the stream ended without data: [DONE]");
          finish_stream(attempt);
        } else {
          const json j = json::parse(raw, nullptr, false);
          if (j.is_discarded())
            throw AttemptError{
                ApiError(502,
                         "upstream " + url.text + " returned invalid JSON: " + raw.substr(0, 80),
                         "server_error", "", "upstream_invalid_response"),
                true};
          decode_response(j, chat, attempt);
          if (on_text)
            for (size_t i = 0; i < attempt.choices.size(); ++i)
              if (!attempt.choices[i].text.empty())
                on_text(static_cast<int>(i), attempt.choices[i].text);
        }
      } catch (const InvalidUpstreamAnswer& e) {
        throw AttemptError{
            ApiError(502, "upstream " + url.text + " returned invalid JSON: " + e.what(),
                     "server_error", "", "upstream_invalid_response"),
            true};
      } catch (const UpstreamError& e) {
        if (e.kind == UpstreamFailure::kCancelled) throw std::runtime_error("cancelled");
        if (e.kind == UpstreamFailure::kTimeout)
          throw AttemptError{ApiError(504, e.what(), "server_error", "", "upstream_timeout"), true};
        throw AttemptError{
            ApiError(502, e.what(), "server_error", "",
                     e.kind == UpstreamFailure::kInvalidResponse ? "upstream_invalid_response"
                                                                 : "upstream_unreachable"),
            true};
      } catch (const ApiError& e) {
        throw AttemptError{e, true};
      }
    } catch (const AttemptError& attempt_error) {
      const AttemptError e{without_secret(attempt_error.error, config_.upstream.api_key),
                           attempt_error.failover};
      pool_->release(idx, e.failover, e.error.what());
      last = e;
      if (!e.failover || streamed) throw e.error;
      continue;
    } catch (...) {
      pool_->release(idx, false);
      throw;
    }
    pool_->release(idx, false);
    attempt.timings.push_back({"upstream", ms_since(t)});
    runner.after_generate(request, sent, gen, attempt);
    return attempt;
  }
  if (last) throw last->error;
  throw ApiError(502, "no upstream available", "server_error", "", "upstream_unreachable");
}

GeneratorStats ProxyGenerator::stats() const {
  GeneratorStats s;
  s.running_requests = workers_.running();
  return s;
}

void ProxyGenerator::shutdown() {
  workers_.shutdown();
}

}  // namespace precis::server
