#include "middleware/server/openai_api.hpp"

#include <ctime>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

#include "middleware/server/api_error.hpp"
#include "middleware/server/openai_protocol.hpp"
#include "middleware/server/sse.hpp"

namespace precis::server {

namespace {

using nlohmann::json;

constexpr const char* kCompletions = "/v1/completions";
constexpr const char* kChat = "/v1/chat/completions";
constexpr const char* kModels = "/v1/models";
constexpr const char* kMetrics = "/metrics";
constexpr const char* kHealth = "/health";

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// An exception from the generator as the error the client gets.
ApiError to_api_error(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const ApiError& a) {
    return a;
  } catch (const ShuttingDown& s) {
    return ApiError(503, s.what(), "server_error", "", "shutting_down");
  } catch (const ConfigError& c) {
    return ApiError(400, c.what());
  } catch (const std::invalid_argument& i) {
    return ApiError(400, i.what());
  } catch (const std::exception& x) {
    return ApiError(500, x.what(), "server_error");
  } catch (...) {
    return ApiError(500, "unknown error", "server_error");
  }
}

}  // namespace

// One generation request, from admission to its last byte. Its state is touched only on the
// connection's strand, except the atomics that the generator's threads write.
struct OpenAiApi::Call : std::enable_shared_from_this<OpenAiApi::Call> {
  Call(OpenAiApi& api, std::shared_ptr<Exchange> ex, ApiRequest req,
       std::shared_ptr<const ClientRequest> client, ResponseMeta meta, std::string endpoint,
       Clock::time_point t0)
      : api(api),
        ex(std::move(ex)),
        req(std::move(req)),
        client(std::move(client)),
        meta(std::move(meta)),
        endpoint(std::move(endpoint)),
        t0(t0),
        t0_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count()) {
    results.resize(this->req.prompts.size());
    pending = static_cast<int>(this->req.prompts.size());
  }
  ~Call() { release(); }

  // No longer counted in flight (called once it has its answer, or when it is dropped).
  void release() {
    if (released) return;
    released = true;
    --api.in_flight_;
  }

  void start() {
    std::weak_ptr<Call> weak = shared_from_this();
    ex->on_abort([weak] {
      if (auto self = weak.lock()) self->abort();
    });
    for (size_t p = 0; p < req.prompts.size(); ++p) {
      auto cancel = std::make_shared<CancelToken>();
      cancels.push_back(cancel);
      auto self = shared_from_this();
      const int base = static_cast<int>(p) * req.n;
      GenerationHandlers h;
      h.on_start = [self] {
        int64_t expected = -1;
        self->started_ns.compare_exchange_strong(expected, now_ns());
      };
      h.on_text = [self, base](int index, const std::string& delta) {
        int64_t expected = -1;
        self->first_token_ns.compare_exchange_strong(expected, now_ns());
        if (self->req.stream)
          self->ex->post([self, i = base + index, delta] { self->on_delta(i, delta); });
      };
      h.on_done = [self, p](Result r) {
        self->ex->post([self, p, r = std::move(r)]() mutable { self->on_done(p, std::move(r)); });
      };
      h.on_error = [self, p](std::exception_ptr e) {
        self->ex->post([self, p, e] { self->on_error(p, e); });
      };
      api.generator_->start(req.prompts[p], client, std::move(h), cancel);
    }
  }

  void ensure_stream_started() {
    if (stream_started) return;
    stream_started = true;
    ex->start_stream("text/event-stream");
    if (req.endpoint == Endpoint::kChatCompletions)
      for (int i = 0; i < static_cast<int>(req.prompts.size()) * req.n; ++i)
        ex->stream(sse_event(role_chunk(meta, i)));
  }

  void on_delta(int index, const std::string& delta) {
    if (finished) return;
    ensure_stream_started();
    ex->stream(sse_event(text_chunk(req, meta, index, delta)));
  }

  void on_done(size_t p, Result r) {
    results[p] = std::move(r);
    if (--pending == 0) complete();
  }

  void on_error(size_t p, std::exception_ptr e) {
    (void)p;
    --pending;
    if (finished) return;
    finished = true;
    release();
    for (auto& c : cancels) c->cancel();  // the other prompts' runs
    const ApiError err = to_api_error(e);
    if (stream_started) {
      // The 200 header is out: the error goes into the stream.
      ex->stream(sse_event(error_json(err)));
      ex->stream(sse_done());
      ex->end_stream();
      api.metrics_.count_request(endpoint, err.status);
    } else {
      api.reply_error(*ex, endpoint, err);
    }
  }

  void abort() {
    if (finished) return;
    finished = true;
    release();
    for (auto& c : cancels) c->cancel();
    api.metrics_.count_request(endpoint, 499);  // client closed the request
  }

  void complete() {
    if (finished) return;
    finished = true;
    release();
    std::vector<Result> all;
    for (auto& r : results) all.push_back(std::move(*r));
    if (req.stream) {
      ensure_stream_started();
      for (size_t p = 0; p < all.size(); ++p)
        for (size_t i = 0; i < all[p].choices.size(); ++i) {
          const Choice& c = all[p].choices[i];
          ex->stream(
              sse_event(text_chunk(req, meta, static_cast<int>(p) * req.n + static_cast<int>(i), "",
                                   c.finish_reason, logprobs_json(req, c))));
        }
      if (req.include_usage) ex->stream(sse_event(usage_chunk(req, meta, usage_json(all))));
      ex->stream(sse_done());
      ex->end_stream();
    } else {
      HttpResponse res;
      res.body = dump_json(response_json(req, meta, all));
      ex->respond(std::move(res));
    }
    record(all);
  }

  void record(const std::vector<Result>& all) {
    Metrics& m = api.metrics_;
    m.count_request(endpoint, 200);
    int64_t prompt = 0, completion = 0, saved = 0;
    int longest = 0;
    for (const Result& r : all) {
      prompt += r.final_prompt_tokens;
      completion += r.completion_tokens;
      saved += std::max(0, r.original_tokens - r.compressed_tokens);
      for (const Choice& c : r.choices) longest = std::max(longest, c.tokens);
    }
    m.add_tokens(prompt, completion, saved);
    const int64_t end = now_ns();
    m.observe_latency((end - t0_ns) * 1e-9);
    if (const int64_t s = started_ns.load(); s >= 0) m.observe_queue_time((s - t0_ns) * 1e-9);
    if (const int64_t f = first_token_ns.load(); f >= 0) {
      m.observe_ttft((f - t0_ns) * 1e-9);
      if (longest > 1) m.observe_tpot((end - f) * 1e-9 / (longest - 1));
    }
  }

  OpenAiApi& api;
  std::shared_ptr<Exchange> ex;
  ApiRequest req;
  std::shared_ptr<const ClientRequest> client;
  ResponseMeta meta;
  std::string endpoint;
  Clock::time_point t0;
  int64_t t0_ns;
  std::vector<std::shared_ptr<CancelToken>> cancels;
  std::vector<std::optional<Result>> results;
  int pending = 0;
  bool finished = false;
  bool released = false;
  bool stream_started = false;
  std::atomic<int64_t> started_ns{-1};
  std::atomic<int64_t> first_token_ns{-1};
};

OpenAiApi::OpenAiApi(const ServerOptions& options, std::shared_ptr<Generator> generator,
                     Metrics& metrics)
    : options_(options),
      generator_(std::move(generator)),
      metrics_(metrics),
      auth_(options.api_keys),
      started_at_(static_cast<int64_t>(std::time(nullptr))) {}

void OpenAiApi::reply(Exchange& ex, const std::string& endpoint, int status, std::string body,
                      std::string content_type) {
  metrics_.count_request(endpoint, status);
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  ex.respond(std::move(r));
}

void OpenAiApi::reply_error(Exchange& ex, const std::string& endpoint, const ApiError& e) {
  metrics_.count_request(endpoint, e.status);
  HttpResponse r;
  r.status = e.status;
  r.body = dump_json(error_json(e));
  if (e.status == 401) r.headers.push_back({"WWW-Authenticate", "Bearer"});
  ex.respond(std::move(r));
}

void OpenAiApi::method_not_allowed(Exchange& ex, const std::string& endpoint,
                                   const std::string& allow) {
  const ApiError e(405, "method not allowed; use " + allow, "invalid_request_error", "",
                   "method_not_allowed");
  metrics_.count_request(endpoint, e.status);
  HttpResponse r;
  r.status = e.status;
  r.body = dump_json(error_json(e));
  r.headers.push_back({"Allow", allow});
  ex.respond(std::move(r));
}

void OpenAiApi::handle(HttpRequest req, std::shared_ptr<Exchange> ex) {
  const auto t0 = Clock::now();
  const std::string& path = req.path;
  const bool post = req.method == "POST", get = req.method == "GET";
  const std::string endpoint = (path == kCompletions || path == kChat || path == kModels ||
                                path == kMetrics || path == kHealth)
                                   ? path
                                   : "other";

  if (path == kHealth) {
    if (!get) return method_not_allowed(*ex, endpoint, "GET");
    return reply(*ex, endpoint, 200, R"({"status":"ok"})");
  }
  if (!auth_.allows(req.header("authorization")))
    return reply_error(*ex, endpoint,
                       ApiError(401, "missing or invalid API key (Authorization: Bearer KEY)",
                                "invalid_request_error", "", "invalid_api_key"));
  if (path == kModels) {
    if (!get) return method_not_allowed(*ex, endpoint, "GET");
    json model = {{"id", generator_->model_id()},
                  {"object", "model"},
                  {"created", started_at_},
                  {"owned_by", "precis"}};
    return reply(*ex, endpoint, 200,
                 dump_json({{"object", "list"}, {"data", json::array({model})}}));
  }
  if (path == kMetrics) {
    if (!get) return method_not_allowed(*ex, endpoint, "GET");
    const GeneratorStats s = generator_->stats();
    GaugeValues g;
    g.queue_depth = in_flight();
    g.kv_blocks_in_use = s.kv_blocks_used;
    g.kv_blocks_total = s.kv_blocks_total;
    g.running_requests = s.running_requests;
    g.prefix_cache_queried_tokens = s.prefix_cache_queried_tokens;
    g.prefix_cache_hit_tokens = s.prefix_cache_hit_tokens;
    g.plugin_metrics = s.plugin_metrics;
    return reply(*ex, endpoint, 200, metrics_.render(g), "text/plain; version=0.0.4");
  }
  if (path == kCompletions || path == kChat) {
    if (!post) return method_not_allowed(*ex, endpoint, "POST");
    return generate(endpoint, req, std::move(ex), t0);
  }
  reply_error(*ex, endpoint,
              ApiError(404, "no route for " + req.method + " " + path, "invalid_request_error", "",
                       "not_found"));
}

void OpenAiApi::generate(const std::string& endpoint, const HttpRequest& http,
                         std::shared_ptr<Exchange> ex, Clock::time_point t0) {
  if (shutting_down_)
    return reply_error(
        *ex, endpoint,
        ApiError(503, "the server is shutting down", "server_error", "", "shutting_down"));
  if (in_flight_.fetch_add(1) >= options_.max_concurrent_requests) {
    --in_flight_;
    return reply_error(*ex, endpoint,
                       ApiError(429,
                                "too many concurrent requests (the limit is " +
                                    std::to_string(options_.max_concurrent_requests) + ")",
                                "rate_limit_error", "", "rate_limit_exceeded"));
  }
  ApiRequest req;
  try {
    const PipelineConfig& defaults = generator_->config();
    req = endpoint == kChat ? parse_chat_request(http.body, defaults)
                            : parse_completion_request(http.body, defaults);
  } catch (const ApiError& e) {
    --in_flight_;
    return reply_error(*ex, endpoint, e);
  }
  if (!generator_->serves_model(req.model)) {
    --in_flight_;
    return reply_error(
        *ex, endpoint,
        ApiError(404,
                 "The model '" + req.model + "' does not exist (this server serves '" +
                     generator_->model_id() + "'; see /v1/models)",
                 "invalid_request_error", "model", "model_not_found"));
  }
  // The body's other fields, for a generator that forwards them; its text (prompt, messages)
  // travels in the Requests only, where the plugin stages see it.
  auto client = std::make_shared<ClientRequest>();
  client->chat = endpoint == kChat;
  client->fields = std::move(req.client_fields);
  ResponseMeta meta;
  const uint64_t n = next_id_++;
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char id[40];
  std::snprintf(id, sizeof id, "%016llx%04llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(n & 0xffff));
  meta.id = (endpoint == kChat ? "chatcmpl-" : "cmpl-") + std::string(id);
  meta.created = static_cast<int64_t>(std::time(nullptr));
  meta.model = generator_->model_id();
  auto call = std::make_shared<Call>(*this, std::move(ex), std::move(req), std::move(client),
                                     std::move(meta), endpoint, t0);
  call->start();
}

}  // namespace precis::server
