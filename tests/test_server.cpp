// The OpenAI-compatible HTTP server, in-process on 127.0.0.1 with a free port, driven by a raw
// socket client with timeouts: the endpoints and their shapes, streaming, limits and errors,
// client disconnects, and graceful shutdown.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "middleware/chat_prompt.hpp"
#include "middleware/server/pipeline_generator.hpp"
#include "middleware/server/server.hpp"
#include "precis/precis.hpp"
#include "tests/test_server_client.hpp"
#include "tests/test_support.hpp"

using namespace precis;
using nlohmann::json;
using test::http;
using test::Reply;

namespace {

const char* const kPrompt = test::kRuthPrompt;

std::shared_ptr<Pipeline> shared_pipeline() {
  static std::shared_ptr<Pipeline> p = [] {
    PipelineConfig cfg;
    cfg.model.path = test::cached_model("tiny", 21, engine::DType::F32);
    cfg.model.kv_cache_mb = 32;
    cfg.compress_enabled = true;
    cfg.compress.rate = 0.5;
    cfg.plan_enabled = false;
    cfg.generate.max_tokens = 16;
    cfg.generate.temperature = 0.8f;
    cfg.generate.ignore_eos = true;
    return std::make_shared<Pipeline>(cfg);
  }();
  return p;
}

// The tiny model generates hundreds of tokens in a blink. To catch a request in flight, this
// generator (the server takes any) waits `per_token` after each piece of text.
class SlowGenerator : public server::Generator {
 public:
  SlowGenerator(std::shared_ptr<server::Generator> inner, std::chrono::milliseconds per_token)
      : inner_(std::move(inner)), per_token_(per_token) {}
  std::string model_id() const override { return inner_->model_id(); }
  const PipelineConfig& config() const override { return inner_->config(); }
  void start(Request r, std::shared_ptr<const server::ClientRequest> client,
             server::GenerationHandlers h, std::shared_ptr<CancelToken> cancel) override {
    h.on_text = [on_text = h.on_text, d = per_token_](int i, const std::string& s) {
      std::this_thread::sleep_for(d);
      if (on_text) on_text(i, s);
    };
    inner_->start(std::move(r), std::move(client), std::move(h), std::move(cancel));
  }
  server::GeneratorStats stats() const override { return inner_->stats(); }
  void shutdown() override { inner_->shutdown(); }

 private:
  std::shared_ptr<server::Generator> inner_;
  std::chrono::milliseconds per_token_;
};

struct TestServer {
  explicit TestServer(ServerOptions o = {}, int ms_per_token = 0) {
    o.host = "127.0.0.1";
    o.port = 0;
    generator =
        std::make_shared<server::PipelineGenerator>(shared_pipeline(), o.max_concurrent_requests);
    std::shared_ptr<server::Generator> g = generator;
    if (ms_per_token > 0)
      g = std::make_shared<SlowGenerator>(generator, std::chrono::milliseconds(ms_per_token));
    server = std::make_unique<server::Server>(o, g);
    port = server->start();
  }
  Reply post(const std::string& target, const json& body,
             const std::vector<std::string>& headers = {}) const {
    return http(port, "POST", target, body.dump(), headers);
  }
  std::shared_ptr<server::PipelineGenerator> generator;
  std::unique_ptr<server::Server> server;
  int port = 0;
};

json parse(const std::string& s) {
  return json::parse(s);
}

// Waits (bounded) for `pred`.
template <class Pred>
bool eventually(Pred pred, double seconds = 10) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// The streamed text per choice index, and checks common to every stream.
std::map<int, std::string> stream_texts(const std::string& body, bool chat, json* usage = nullptr,
                                        std::map<int, std::string>* finish = nullptr) {
  const auto events = test::sse_payloads(body);
  REQUIRE(!events.empty());
  CHECK(events.back() == "[DONE]");
  std::map<int, std::string> texts;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json ev = parse(events[i]);
    CHECK(ev["object"] == (chat ? "chat.completion.chunk" : "text_completion"));
    if (ev.contains("usage")) {
      CHECK(ev["choices"].empty());
      if (usage) *usage = ev["usage"];
      continue;
    }
    REQUIRE(ev["choices"].size() == 1);
    const json& c = ev["choices"][0];
    const int index = c["index"];
    if (!c["finish_reason"].is_null()) {
      if (finish) (*finish)[index] = c["finish_reason"];
      if (chat) CHECK(c["delta"].empty());
      continue;
    }
    if (chat) {
      if (c["delta"].contains("content")) texts[index] += c["delta"]["content"].get<std::string>();
    } else {
      texts[index] += c["text"].get<std::string>();
    }
  }
  return texts;
}

}  // namespace

TEST_CASE("completions: non-streamed and streamed give the same text for the same seed") {
  TestServer s;
  const json body = {{"prompt", kPrompt}, {"max_tokens", 12}, {"seed", 7}};
  const Reply r = s.post("/v1/completions", body);
  REQUIRE(r.status == 200);
  const json j = parse(r.body);
  CHECK(j["object"] == "text_completion");
  CHECK(j["id"].get<std::string>().rfind("cmpl-", 0) == 0);
  REQUIRE(j["choices"].size() == 1);
  CHECK(j["choices"][0]["index"] == 0);
  CHECK(j["choices"][0]["finish_reason"] == "length");
  const std::string text = j["choices"][0]["text"];
  const json& u = j["usage"];
  CHECK(u["completion_tokens"] == 12);
  CHECK(u["total_tokens"] == u["prompt_tokens"].get<int>() + 12);
  CHECK(u["precis"]["original_prompt_tokens"].get<int>() >
        u["precis"]["compressed_prompt_tokens"].get<int>());

  json sbody = body;
  sbody["stream"] = true;
  sbody["stream_options"] = {{"include_usage", true}};
  const Reply sr = s.post("/v1/completions", sbody);
  REQUIRE(sr.status == 200);
  CHECK(sr.headers.at("content-type") == "text/event-stream");
  json usage;
  std::map<int, std::string> finish;
  const auto texts = stream_texts(sr.body, false, &usage, &finish);
  CHECK(texts.at(0) == text);
  CHECK(finish.at(0) == "length");
  CHECK(usage["completion_tokens"] == 12);
  CHECK(usage["precis"] == u["precis"]);
}

TEST_CASE("chat: messages through the template, streamed and not, same text") {
  TestServer s;
  const json body = {{"messages",
                      {{{"role", "system"}, {"content", "You answer briefly."}},
                       {{"role", "user"}, {"content", kPrompt}},
                       {{"role", "assistant"}, {"content", "Yes."}},
                       {{"role", "user"}, {"content", "Who was Naomi?"}}}},
                     {"max_tokens", 10},
                     {"seed", 3}};
  const Reply r = s.post("/v1/chat/completions", body);
  REQUIRE(r.status == 200);
  const json j = parse(r.body);
  CHECK(j["object"] == "chat.completion");
  CHECK(j["choices"][0]["message"]["role"] == "assistant");
  const std::string text = j["choices"][0]["message"]["content"];

  json sbody = body;
  sbody["stream"] = true;
  const Reply sr = s.post("/v1/chat/completions", sbody);
  REQUIRE(sr.status == 200);
  const auto events = test::sse_payloads(sr.body);
  REQUIRE(events.size() >= 3);
  // The first chunk announces the role.
  CHECK(parse(events[0])["choices"][0]["delta"]["role"] == "assistant");
  std::map<int, std::string> finish;
  const auto texts = stream_texts(sr.body, true, nullptr, &finish);
  CHECK(texts.at(0) == text);
  CHECK(finish.at(0) == "length");
}

TEST_CASE("real clients: unknown model 404, unused fields ignored, tools refused") {
  TestServer s;
  const std::string id = s.generator->model_id();
  json body = {{"prompt", "Hi"}, {"max_tokens", 2}};
  body["model"] = "no-such-model";
  Reply r = s.post("/v1/completions", body);
  CHECK(r.status == 404);
  CHECK(parse(r.body)["error"]["code"] == "model_not_found");
  CHECK(parse(r.body)["error"]["param"] == "model");
  body["model"] = id;
  CHECK(s.post("/v1/completions", body).status == 200);
  // Fields clients send that change nothing here.
  json chat = {{"model", id},
               {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
               {"max_tokens", 2},
               {"store", false},
               {"metadata", {{"session", "x"}}},
               {"service_tier", "auto"},
               {"parallel_tool_calls", false},
               {"user", "u1"},
               {"response_format", {{"type", "text"}}}};
  r = s.post("/v1/chat/completions", chat);
  INFO(r.body);
  CHECK(r.status == 200);
  // What would change the answer: a plain 400 naming the field.
  for (const char* field : {"tools", "tool_choice"}) {
    json t = chat;
    t[field] = field == std::string("tools") ? json::array({{{"type", "function"}}}) : json("auto");
    r = s.post("/v1/chat/completions", t);
    CHECK(r.status == 400);
    CHECK(parse(r.body)["error"]["message"].get<std::string>().find(
              "tool calls are not supported") != std::string::npos);
  }
}

TEST_CASE("response_format: json_object and json_schema constrain the output; bad ones are 400") {
  TestServer s;
  const json schema = {{"type", "object"},
                       {"properties", {{"ok", {{"type", "boolean"}}}}},
                       {"required", {"ok"}},
                       {"additionalProperties", false}};
  const json formats[] = {
      {{"type", "json_object"}},
      {{"type", "json_schema"}, {"json_schema", {{"name", "answer"}, {"schema", schema}}}}};
  for (const json& format : formats) {
    for (const char* endpoint : {"/v1/chat/completions", "/v1/completions"}) {
      const bool chat = endpoint == std::string("/v1/chat/completions");
      json body = {{"max_tokens", 48}, {"n", 2}, {"seed", 5}, {"response_format", format}};
      if (chat)
        body["messages"] = {{{"role", "user"}, {"content", "Answer in JSON."}}};
      else
        body["prompt"] = "Answer in JSON.";
      const Reply r = s.post(endpoint, body);
      INFO(endpoint << " " << format.dump() << " " << r.body);
      REQUIRE(r.status == 200);
      for (const json& c : parse(r.body)["choices"]) {
        const std::string text = chat ? c["message"]["content"] : c["text"];
        if (c["finish_reason"] == "length") continue;  // cut by max_tokens, as usual
        CHECK(c["finish_reason"] == "stop");
        const json v = json::parse(text, nullptr, false);
        REQUIRE(v.is_object());
        if (format["type"] == "json_schema") {
          CHECK(v.size() == 1);
          CHECK(v["ok"].is_boolean());
        }
      }
    }
  }
  // A schema feature the engine cannot enforce, and a malformed response_format: 400s naming them.
  json bad = json::parse(R"({"prompt": "x", "response_format": {"type": "json_schema",
      "json_schema": {"name": "n", "schema": {"type": "string", "pattern": "^a"}}}})");
  Reply r = s.post("/v1/completions", bad);
  CHECK(r.status == 400);
  CHECK(parse(r.body)["error"]["message"].get<std::string>().find("'pattern'") !=
        std::string::npos);
  CHECK(parse(r.body)["error"]["param"] == "/response_format/json_schema/schema");
  bad["response_format"] = {{"type", "xml"}};
  r = s.post("/v1/completions", bad);
  CHECK(r.status == 400);
  CHECK(parse(r.body)["error"]["param"] == "/response_format/type");
  bad["response_format"] = {{"type", "json_schema"}};
  CHECK(s.post("/v1/completions", bad).status == 400);
}

TEST_CASE("the config's server section is validated like the rest") {
  const ServeConfig c = ServeConfig::from_json(
      R"({"server": {"port": 0, "api_keys": ["k"], "max_body_bytes": 2048,
                         "chat_template": "chatml", "read_timeout_s": 5}})");
  const ServerOptions& o = c.server;
  CHECK(o.port == 0);
  CHECK(o.api_keys == std::vector<std::string>{"k"});
  CHECK(o.max_body_bytes == 2048);
  CHECK(c.chat_template == "chatml");
  CHECK(o.read_timeout_s == 5);
  CHECK_THROWS_WITH(PipelineConfig::from_json(R"({"server": {"prot": 1}})"),
                    Catch::Contains("/server/prot"));
  CHECK_THROWS_WITH(PipelineConfig::from_json(R"({"server": {"chat_template": "jinja"}})"),
                    Catch::Contains("/server/chat_template"));
}

TEST_CASE("chat templates render the conversation as documented") {
  const std::vector<Message> m = {
      {"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}};
  const auto plain_t = engine::builtin_chat_template(engine::ChatFormat::kPlain, "", "");
  auto plain = render_chat_messages(plain_t, m);
  CHECK(plain.full == "System: S\n\nUser: U1\n\nAssistant: A1\n\nUser: U2\n\nAssistant:");
  CHECK(plain.history + plain.question + plain.suffix == plain.full);
  CHECK(plain.question == "U2");
  auto chatml =
      render_chat_messages(engine::builtin_chat_template(engine::ChatFormat::kChatml, "", ""), m);
  CHECK(chatml.suffix == "<|im_end|>\n<|im_start|>assistant\n");
  CHECK(chatml.history + chatml.question + chatml.suffix == chatml.full);
  // With keep markers, the template's own text is protected and the contents are not.
  auto kept = render_chat_messages(plain_t, m, "<keep>", "</keep>");
  CHECK(kept.history.find("User: </keep>U1<keep>") != std::string::npos);
  CHECK(kept.question == "U2");
  // A long final message that asks: its documents are split from its question.
  std::string docs;
  for (int i = 0; i < 20; ++i) docs += "Passage " + std::to_string(i) + " says something.\n\n";
  auto rag = render_chat_messages(plain_t, {{"user", docs + "Which passage says it?"}});
  CHECK(rag.question == "Which passage says it?");
  CHECK(rag.documents.size() == 20);
  CHECK(chat_template_for("auto", "/nonexistent", "").format == engine::ChatFormat::kPlain);
  // A model's own template that precis does not render is an error naming the way out.
  const std::string dir = test::scratch_dir("odd_template");
  std::ofstream(dir + "/tokenizer_config.json")
      << R"({"chat_template": "{% for m in messages %}<<{{ m.content }}>>{% endfor %}"})";
  CHECK_THROWS_WITH(chat_template_for("auto", dir, ""), Catch::Contains("--chat-template"));
  CHECK(chat_template_for("chatml", dir, "").format == engine::ChatFormat::kChatml);
}

TEST_CASE("n=2 gives two independent choices, streamed and not") {
  TestServer s;
  const json body = {{"prompt", "Once upon a time"},
                     {"max_tokens", 12},
                     {"seed", 11},
                     {"n", 2},
                     {"temperature", 1.0}};
  const Reply r = s.post("/v1/completions", body);
  REQUIRE(r.status == 200);
  const json j = parse(r.body);
  REQUIRE(j["choices"].size() == 2);
  std::set<int> idx = {j["choices"][0]["index"].get<int>(), j["choices"][1]["index"].get<int>()};
  CHECK(idx == std::set<int>{0, 1});
  CHECK(j["choices"][0]["text"] != j["choices"][1]["text"]);
  CHECK(j["usage"]["completion_tokens"] == 24);

  json sbody = body;
  sbody["stream"] = true;
  std::map<int, std::string> finish;
  const auto texts = stream_texts(s.post("/v1/completions", sbody).body, false, nullptr, &finish);
  CHECK(finish.size() == 2);
  for (const auto& c : j["choices"]) CHECK(texts.at(c["index"].get<int>()) == c["text"]);

  // A list of prompts: each gets n choices, indexed prompt * n + choice.
  json multi = body;
  multi["prompt"] = {"One", "Two"};
  const json mj = parse(s.post("/v1/completions", multi).body);
  REQUIRE(mj["choices"].size() == 4);
  std::set<int> all;
  for (const auto& c : mj["choices"]) all.insert(c["index"].get<int>());
  CHECK(all == std::set<int>{0, 1, 2, 3});
}

TEST_CASE("logprobs in OpenAI's shapes for completions and chat") {
  TestServer s;
  const json cj =
      parse(s.post("/v1/completions",
                   {{"prompt", "Hello"}, {"max_tokens", 5}, {"seed", 1}, {"logprobs", 2}})
                .body);
  const json& lp = cj["choices"][0]["logprobs"];
  REQUIRE(lp["tokens"].size() == 5);
  REQUIRE(lp["token_logprobs"].size() == 5);
  REQUIRE(lp["top_logprobs"].size() == 5);
  REQUIRE(lp["text_offset"].size() == 5);
  for (const auto& t : lp["top_logprobs"]) CHECK(t.size() <= 2);
  CHECK(lp["top_logprobs"][0].size() >= 1);
  for (const auto& v : lp["token_logprobs"]) CHECK(v.get<double>() <= 0.0);

  const json hj =
      parse(s.post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                            {"max_tokens", 4},
                                            {"seed", 1},
                                            {"logprobs", true},
                                            {"top_logprobs", 3}})
                .body);
  const json& content = hj["choices"][0]["logprobs"]["content"];
  REQUIRE(content.size() == 4);
  for (const auto& t : content) {
    CHECK(t.contains("token"));
    CHECK(t["logprob"].get<double>() <= 0.0);
    CHECK(t["bytes"].is_array());
    CHECK(t["top_logprobs"].size() == 3);
    CHECK(t["top_logprobs"][0].contains("bytes"));
  }
  // Without logprobs: null.
  const json nj = parse(s.post("/v1/completions", {{"prompt", "Hello"}, {"max_tokens", 2}}).body);
  CHECK(nj["choices"][0]["logprobs"].is_null());
}

TEST_CASE("the per-request precis object switches compression and planning") {
  TestServer s;
  auto usage = [&](const json& precis) {
    json body = {{"prompt", kPrompt}, {"max_tokens", 2}, {"seed", 1}, {"precis", precis}};
    const Reply r = s.post("/v1/completions", body);
    REQUIRE(r.status == 200);
    return parse(r.body)["usage"];
  };
  const json off = usage({{"compress", false}});
  CHECK(off["precis"]["compressed_prompt_tokens"] == off["precis"]["original_prompt_tokens"]);
  CHECK(!off["precis"].contains("plan_tokens"));
  const json strong = usage({{"compress", {{"rate", 0.3}}}});
  const json mild = usage({{"compress", {{"rate", 0.8}}}});
  CHECK(strong["precis"]["compressed_prompt_tokens"].get<int>() <
        mild["precis"]["compressed_prompt_tokens"].get<int>());
  CHECK(mild["precis"]["compressed_prompt_tokens"].get<int>() <
        off["precis"]["original_prompt_tokens"].get<int>());
  const json planned = usage({{"compress", false}, {"plan", "template"}});
  CHECK(planned["precis"]["plan_tokens"].get<int>() > 0);
  CHECK(planned["prompt_tokens"].get<int>() > off["prompt_tokens"].get<int>());
}

TEST_CASE("/v1/models, /health and /metrics") {
  TestServer s;
  const Reply h = http(s.port, "GET", "/health");
  CHECK(h.status == 200);
  const Reply m = http(s.port, "GET", "/v1/models");
  REQUIRE(m.status == 200);
  const json mj = parse(m.body);
  CHECK(mj["object"] == "list");
  CHECK(mj["data"][0]["object"] == "model");
  CHECK(!mj["data"][0]["id"].get<std::string>().empty());

  REQUIRE(s.post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 3}}).status == 200);
  REQUIRE(s.post("/v1/completions", {{"prompt", 5}}).status == 400);
  const Reply met = http(s.port, "GET", "/metrics");
  REQUIRE(met.status == 200);
  CHECK(met.headers.at("content-type").rfind("text/plain", 0) == 0);
  const std::string& t = met.body;
  CHECK(t.find("precis_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1") !=
        std::string::npos);
  CHECK(t.find("precis_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1") !=
        std::string::npos);
  CHECK(t.find("precis_request_errors_total 1") != std::string::npos);
  CHECK(t.find("precis_completion_tokens_total 3") != std::string::npos);
  CHECK(t.find("precis_tokens_saved_by_compression_total") != std::string::npos);
  CHECK(t.find("precis_tokens_saved_by_compression_total 0") == std::string::npos);
  CHECK(t.find("precis_queue_depth 0") != std::string::npos);
  CHECK(t.find("precis_kv_blocks_total ") != std::string::npos);
  // The engine publishes its block count after each step: wait for the idle one.
  CHECK(eventually([&] {
    return http(s.port, "GET", "/metrics").body.find("precis_kv_blocks_in_use 0") !=
           std::string::npos;
  }));
  for (const char* h :
       {"precis_request_latency_seconds_bucket{le=\"+Inf\"} 1",
        "precis_time_to_first_token_seconds_count 1",
        "precis_time_per_output_token_seconds_count 1", "precis_queue_time_seconds_count 1"})
    CHECK(t.find(h) != std::string::npos);
}

namespace {

// The value of metric `name` in a /metrics body, or -1 when it is missing.
double metric_value(const std::string& body, const std::string& name) {
  const size_t at = body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(body.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("/metrics shows the prefix cache's hit rate") {
  TestServer s;
  const auto body = [&] { return http(s.port, "GET", "/metrics").body; };
  // The same prompt twice: its second run finds the first's full KV blocks cached.
  for (int i = 0; i < 2; ++i)
    REQUIRE(s.post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 2}}).status == 200);
  double hits = -1, queries = -1;
  CHECK(eventually([&] {
    const std::string t = body();
    hits = metric_value(t, "precis_prefix_cache_hits_total");
    queries = metric_value(t, "precis_prefix_cache_queries_total");
    return hits > 0;
  }));
  CHECK(hits <= queries);
  const double rate = metric_value(body(), "precis_prefix_cache_hit_rate");
  CHECK(rate == Approx(hits / queries).epsilon(1e-4));
}

TEST_CASE("API keys: 401 without a valid key, before anything else") {
  ServerOptions o;
  o.api_keys = {"sk-one", "sk-two"};
  TestServer s(o);
  const json body = {{"prompt", "Hi"}, {"max_tokens", 2}};
  const Reply none = s.post("/v1/completions", body);
  CHECK(none.status == 401);
  CHECK(parse(none.body)["error"]["code"] == "invalid_api_key");
  CHECK(s.post("/v1/completions", body, {"Authorization: Bearer sk-wrong"}).status == 401);
  CHECK(s.post("/v1/completions", {{"bad json"}}, {}).status == 401);  // checked first
  CHECK(http(s.port, "GET", "/nowhere").status == 401);
  CHECK(http(s.port, "GET", "/metrics").status == 401);
  CHECK(s.post("/v1/completions", body, {"Authorization: Bearer sk-two"}).status == 200);
  CHECK(http(s.port, "GET", "/v1/models", "", {"Authorization: Bearer sk-one"}).status == 200);
  CHECK(http(s.port, "GET", "/health").status == 200);
  // None of the rejected requests reached the pipeline.
  CHECK(s.server->metrics().requests("/v1/completions", 401) == 3);
  CHECK(s.server->metrics().requests("/v1/completions", 200) == 1);
}

TEST_CASE("bad requests get OpenAI-shaped errors naming the field; the server keeps serving") {
  TestServer s;
  auto error_of = [](const Reply& r) { return parse(r.body)["error"]; };
  const Reply bad_json = http(s.port, "POST", "/v1/completions", "{\"prompt\": ");
  CHECK(bad_json.status == 400);
  CHECK(error_of(bad_json)["type"] == "invalid_request_error");

  const Reply unknown = s.post("/v1/completions", {{"prompt", "x"}, {"frobnicate", 1}});
  CHECK(unknown.status == 400);
  CHECK(error_of(unknown)["param"] == "/frobnicate");

  const Reply nested =
      s.post("/v1/completions", {{"prompt", "x"}, {"precis", {{"compress", {{"ratio", 1}}}}}});
  CHECK(nested.status == 400);
  CHECK(error_of(nested)["param"] == "/precis/compress/ratio");

  const Reply type = s.post("/v1/completions", {{"prompt", "x"}, {"max_tokens", "many"}});
  CHECK(type.status == 400);
  CHECK(error_of(type)["param"] == "/max_tokens");
  CHECK(error_of(type)["message"].get<std::string>().find("integer") != std::string::npos);

  const Reply role =
      s.post("/v1/chat/completions",
             {{"messages",
               {{{"role", "user"}, {"content", "a"}}, {{"role", "wizard"}, {"content", "b"}}}}});
  CHECK(role.status == 400);
  CHECK(error_of(role)["param"] == "/messages/1/role");

  CHECK(s.post("/v1/completions", {{"prompt", "x"}, {"temperature", -1}}).status == 400);
  const Reply wrong_method = http(s.port, "GET", "/v1/completions");
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.headers.count("allow") == 1);
  if (wrong_method.headers.count("allow")) CHECK(wrong_method.headers.at("allow") == "POST");
  CHECK(http(s.port, "GET", "/v2/whatever").status == 404);

  // The engine's own rejection (prompt longer than the context window) is a 400 too.
  std::string huge;
  for (int i = 0; i < 400; ++i) huge += "Naomi and Ruth went to Bethlehem. ";
  const Reply long_prompt =
      s.post("/v1/completions", {{"prompt", huge}, {"precis", {{"compress", false}}}});
  CHECK(long_prompt.status == 400);
  CHECK(error_of(long_prompt)["message"].get<std::string>().find("context") != std::string::npos);

  CHECK(s.post("/v1/completions", {{"prompt", "still here"}, {"max_tokens", 2}}).status == 200);
}

TEST_CASE("limits: body too large 413, header too large 431") {
  ServerOptions o;
  o.max_body_bytes = 1024;
  o.max_header_bytes = 1024;
  TestServer s(o);
  const Reply big = s.post("/v1/completions", {{"prompt", std::string(4000, 'a')}});
  CHECK(big.status == 413);
  CHECK(parse(big.body)["error"]["message"].get<std::string>().find("1024") != std::string::npos);
  const Reply header = http(s.port, "GET", "/health", "", {"X-Padding: " + std::string(4000, 'p')});
  CHECK(header.status == 431);
  CHECK(s.post("/v1/completions", {{"prompt", "fine"}, {"max_tokens", 2}}).status == 200);
  CHECK(s.server->metrics().requests("http", 413) == 1);
}

TEST_CASE("a slow client gets 408 and the server still answers the next request") {
  ServerOptions o;
  o.read_timeout_s = 1.0;
  TestServer s(o);
  const std::string req =
      test::request_text("POST", "/v1/completions", json({{"prompt", "slow"}}).dump());
  test::Conn c(s.port, 5);
  REQUIRE(c.connected());
  const auto t0 = std::chrono::steady_clock::now();
  // One byte per 100 ms, until the server answers (or 3 s pass).
  for (size_t i = 0; i < req.size() && !c.readable(); ++i) {
    if (!c.send(req.substr(i, 1))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(3)) break;
  }
  const Reply r = test::parse_reply(c.read_all());
  CHECK(r.status == 408);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(6));
  CHECK(s.server->metrics().requests("http", 408) == 1);
  CHECK(s.post("/v1/completions", {{"prompt", "quick"}, {"max_tokens", 2}}).status == 200);
}

TEST_CASE("keep-alive: several requests on one connection") {
  TestServer s;
  test::Conn c(s.port);
  REQUIRE(c.connected());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(c.send(test::request_text("GET", "/health", "", {}, false)));
    const std::string raw = c.read_until("\"ok\"}");
    CHECK(test::parse_reply(raw).status == 200);
  }
  // Pipelined: two requests in one write.
  REQUIRE(c.send(test::request_text("GET", "/health", "", {}, false) +
                 test::request_text("GET", "/v1/models", "", {}, true)));
  const std::string raw = c.read_all();
  CHECK(raw.find("\"ok\"") != std::string::npos);
  CHECK(raw.find("\"list\"") != std::string::npos);
}

TEST_CASE("a client that disconnects mid-stream frees its KV blocks at once") {
  TestServer s({}, 20);  // 480 tokens would take ~10 s
  auto pipeline = shared_pipeline();
  REQUIRE(eventually([&] { return pipeline->stats().kv_blocks_used == 0; }));
  test::Conn c(s.port);
  REQUIRE(c.connected());
  REQUIRE(c.send(test::request_text("POST", "/v1/completions",
                                    json({{"prompt", "Tell a long story"},
                                          {"max_tokens", 480},
                                          {"stream", true},
                                          {"precis", {{"compress", false}}}})
                                        .dump())));
  const std::string first = c.read_until("data: ");
  REQUIRE(first.find("data: ") != std::string::npos);
  // The engine publishes its stats after each step, so the first chunk can arrive before them.
  CHECK(eventually([&] { return pipeline->stats().kv_blocks_used > 0; }, 5));
  c.close();
  CHECK(eventually([&] { return s.server->metrics().requests("/v1/completions", 499) == 1; }));
  CHECK(eventually(
      [&] {
        const PipelineStats st = pipeline->stats();
        return st.kv_blocks_used == 0 && st.running_requests == 0;
      },
      5));
  CHECK(s.server->metrics().requests("/v1/completions", 200) == 0);
  CHECK(eventually([&] { return s.server->in_flight() == 0; }));
  CHECK(s.post("/v1/completions", {{"prompt", "next"}, {"max_tokens", 2}}).status == 200);
}

TEST_CASE("a client that disconnects during a non-streamed request aborts it too") {
  TestServer s({}, 20);
  test::Conn c(s.port);
  REQUIRE(c.send(test::request_text(
      "POST", "/v1/completions",
      json(
          {{"prompt", "Tell a long story"}, {"max_tokens", 480}, {"precis", {{"compress", false}}}})
          .dump())));
  REQUIRE(eventually([&] { return s.server->in_flight() == 1; }));
  c.close();
  CHECK(eventually([&] { return s.server->metrics().requests("/v1/completions", 499) == 1; }));
  CHECK(eventually([&] { return shared_pipeline()->stats().kv_blocks_used == 0; }, 5));
}

TEST_CASE("beyond max_concurrent_requests: 429, and the server carries on") {
  ServerOptions o;
  o.max_concurrent_requests = 1;
  TestServer s(o, 20);
  test::Conn c(s.port);
  REQUIRE(c.send(test::request_text("POST", "/v1/completions",
                                    json({{"prompt", "Long"},
                                          {"max_tokens", 480},
                                          {"stream", true},
                                          {"precis", {{"compress", false}}}})
                                        .dump())));
  REQUIRE(c.read_until("data: ").find("data: ") != std::string::npos);
  const Reply busy = s.post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}});
  CHECK(busy.status == 429);
  CHECK(parse(busy.body)["error"]["type"] == "rate_limit_error");
  c.close();
  REQUIRE(eventually([&] { return s.server->in_flight() == 0; }));
  CHECK(s.post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}}).status == 200);
}

TEST_CASE("graceful stop: the in-flight request completes, then the server is gone") {
  auto s = std::make_unique<TestServer>(ServerOptions{}, 20);  // ~1 s of generation
  const int port = s->port;
  auto inflight = std::async(std::launch::async, [port] {
    return http(port, "POST", "/v1/completions",
                json({{"prompt", "Finish me"}, {"max_tokens", 50}, {"seed", 2}}).dump());
  });
  REQUIRE(eventually([&] { return s->server->in_flight() == 1; }));
  s->server->stop(20.0);
  REQUIRE(inflight.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  const Reply r = inflight.get();
  REQUIRE(r.status == 200);
  const json j = parse(r.body);
  CHECK(j["choices"][0]["finish_reason"] == "length");
  CHECK(j["usage"]["completion_tokens"] == 50);
  test::Conn after(port, 2);
  CHECK(!after.connected());
}

TEST_CASE("precis serve: prints its port, serves, and exits 0 on SIGTERM") {
  const std::string model = test::cached_model("tiny", 21, engine::DType::F32);
  // The first line, within 60 s.
  test::ServeProcess serve({"--model", model, "--port", "0", "--kv-cache-mb", "32"}, 60);
  INFO(serve.first_line());
  bool served = false;
  if (serve.port() > 0) {
    const int port = serve.port();
    CHECK(http(port, "GET", "/health").status == 200);
    CHECK(http(port, "POST", "/v1/completions", R"({"prompt": "Hi", "max_tokens": 3})").status ==
          200);
    served = true;
  }
  CHECK(served);
  int status = -1;
  const bool exited = serve.stop(status);
  CHECK(exited);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("/metrics includes the plugins' counters (cache hits and misses)") {
  PipelineConfig cfg;
  cfg.model.path = test::cached_model("tiny", 21, engine::DType::F32);
  cfg.model.kv_cache_mb = 16;
  cfg.plan_enabled = false;
  cfg.generate.max_tokens = 4;
  cfg.generate.temperature = 0.0f;
  cfg.plugins.push_back({"cache", "", "cache", R"({"capacity": 8})"});
  auto pipeline = std::make_shared<Pipeline>(cfg);
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  server::Server srv(o, std::make_shared<server::PipelineGenerator>(pipeline, 4));
  const int port = srv.start();
  for (int i = 0; i < 2; ++i)
    REQUIRE(
        http(port, "POST", "/v1/completions", json{{"prompt", kPrompt}, {"max_tokens", 4}}.dump())
            .status == 200);
  const std::string t = http(port, "GET", "/metrics").body;
  CHECK(t.find("# TYPE precis_cache_hits_total counter") != std::string::npos);
  CHECK(t.find("precis_cache_hits_total 1\n") != std::string::npos);
  CHECK(t.find("precis_cache_misses_total 1\n") != std::string::npos);
  srv.stop();
}
