// Private data never leaves precis: with the redact plugin, nothing it detects (every built-in
// pattern and a user regex), in any message role, reaches an upstream (proxy mode) or the engine
// (embedded mode), on both endpoints, streamed or not; and "restore" puts the originals back in
// what the client gets, the stream included. The cache plugin keys on what is actually sent.
//
// The upstream here records every request and answers with the text of every message it got
// ("echo"), so the answer holds the placeholders the upstream saw; streamed, it sends that text
// three bytes per event, so placeholders arrive split across events.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "middleware/server/pipeline_generator.hpp"
#include "middleware/server/proxy_generator.hpp"
#include "middleware/server/server.hpp"
#include "plugins/cache.hpp"
#include "plugins/redact.hpp"
#include "precis/precis.hpp"
#include "tests/test_server_client.hpp"
#include "tests/test_support.hpp"

using namespace precis;
using nlohmann::json;

namespace {

// Every kind of value the redact plugin masks, one per message role below.
const std::vector<std::string> kSecrets = {
    "john.doe@example.com",  // e-mail
    "+1 415 555 0100",       // international phone
    "(212) 555-0199",        // US phone
    "4111 1111 1111 1111",   // payment card (Luhn-valid)
    "EMP-123456",            // the user's pattern
    "alice@example.org",     // e-mail again, in the final user message
};

const char* kRedactSettings =
    R"({"restore": true, "patterns": [{"regex": "EMP-[0-9]{6}", "label": "EMPLOYEE"}]})";

std::vector<Message> chat_messages() {
  return {{"system", "You help " + kSecrets[0] + " and nobody else."},
          {"user", "My number is " + kSecrets[1] + "."},
          {"assistant", "Noted: " + kSecrets[2] + " is your other line."},
          {"user", "Card " + kSecrets[3] + ", badge " + kSecrets[4] + ", mail " + kSecrets[5] +
                       ". Repeat all of it."}};
}

// The request's text outside the prompt and messages: stop strings, a response_format schema
// (its name, description, property names and enum values), and the fields the API accepts and
// ignores (user, metadata). Each holds secrets too.
void add_other_text(json& body) {
  body["stop"] = json::array({"Card " + kSecrets[3], kSecrets[4]});
  body["user"] = kSecrets[0];
  body["metadata"] = {{"owner", kSecrets[5]}, {"badge", kSecrets[4]}};
  body["service_tier"] = "default";
  body["store"] = true;
  const json schema = {
      {"type", "object"},
      {"properties", {{kSecrets[0], {{"enum", json::array({kSecrets[1], kSecrets[3]})}}}}},
      {"required", json::array({kSecrets[0]})}};
  body["response_format"] = {{"type", "json_schema"},
                             {"json_schema",
                              {{"name", "contact_" + kSecrets[4]},
                               {"description", "the contact of " + kSecrets[5]},
                               {"schema", schema},
                               {"strict", true}}}};
}

json chat_body(bool stream) {
  json msgs = json::array();
  for (const Message& m : chat_messages())
    msgs.push_back({{"role", m.role}, {"content", m.content}});
  json body = {{"messages", msgs}, {"max_tokens", 8}, {"stream", stream}, {"temperature", 0}};
  add_other_text(body);
  return body;
}

json completion_body(bool stream) {
  std::string prompt = "Contacts:";
  for (const std::string& s : kSecrets) prompt += " " + s + ";";
  json body = {{"prompt", prompt}, {"max_tokens", 8}, {"stream", stream}, {"temperature", 0}};
  add_other_text(body);
  return body;
}

void check_no_secret(const std::string& text) {
  for (const std::string& s : kSecrets) {
    INFO("leaked: " << s);
    CHECK(text.find(s) == std::string::npos);
  }
}

// A loopback OpenAI-compatible upstream that records each request and echoes its text.
class EchoUpstream {
 public:
  EchoUpstream() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { loop(); });
  }
  ~EchoUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }
  // Every request received so far, header and body, as raw bytes.
  std::string all_requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return all_;
  }
  // The last request's body.
  json last_body() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_body_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }
  void serve(int c) {
    const std::string req = test::read_request(c);
    {
      std::lock_guard<std::mutex> lock(mu_);
      all_ += req;
    }
    ++requests_;
    const size_t end = req.find("\r\n\r\n");
    const json body = json::parse(req.substr(end + 4), nullptr, false);
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_body_ = body;
    }
    const bool chat = req.find("POST /v1/chat/completions") == 0;
    std::string echo;
    if (chat && body.contains("messages"))
      for (const auto& m : body["messages"]) echo += m.value("content", "") + " | ";
    else if (body.contains("prompt"))
      echo = body.value("prompt", "");
    std::string out;
    if (body.value("stream", false)) {
      for (size_t i = 0; i < echo.size(); i += 3) {
        const std::string piece = echo.substr(i, 3);
        const json choice = chat ? json{{"index", 0}, {"delta", {{"content", piece}}}}
                                 : json{{"index", 0}, {"text", piece}};
        out += "data: " + json{{"choices", {choice}}}.dump() + "\n\n";
      }
      const json fin =
          chat ? json{{"index", 0}, {"delta", json::object()}, {"finish_reason", "stop"}}
               : json{{"index", 0}, {"text", ""}, {"finish_reason", "stop"}};
      out += "data: " + json{{"choices", {fin}}}.dump() + "\n\n";
      out += "data: " + json{{"choices", json::array()}, {"usage", usage()}}.dump() + "\n\n";
      out += "data: [DONE]\n\n";
    } else {
      const json choice = chat ? json{{"index", 0},
                                      {"message", {{"role", "assistant"}, {"content", echo}}},
                                      {"finish_reason", "stop"}}
                               : json{{"index", 0}, {"text", echo}, {"finish_reason", "stop"}};
      out = json{{"choices", {choice}}, {"usage", usage()}}.dump();
    }
    const std::string head =
        std::string("HTTP/1.1 200 OK\r\nContent-Type: ") +
        (body.value("stream", false) ? "text/event-stream" : "application/json") +
        "\r\nConnection: close\r\nContent-Length: " + std::to_string(out.size()) + "\r\n\r\n";
    const std::string all = head + out;
    ::send(c, all.data(), all.size(), MSG_NOSIGNAL);
  }
  static json usage() {
    return {{"prompt_tokens", 5}, {"completion_tokens", 5}, {"total_tokens", 10}};
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::string all_;
  json last_body_;
  std::thread thread_;
};

// The forwarded body's other text is the masked request's: the masked stop strings and schema
// (under a fixed name, without the description), and none of the fields the API ignores.
void check_other_text_masked(const json& sent) {
  INFO(sent.dump());
  CHECK(sent["stop"] == json::array({"Card [CARD_1]", "[EMPLOYEE_1]"}));
  for (const char* dropped : {"user", "metadata", "store", "service_tier"})
    CHECK(!sent.contains(dropped));
  const json& js = sent["response_format"]["json_schema"];
  CHECK(sent["response_format"]["type"] == "json_schema");
  CHECK(js["name"] == "response");
  CHECK(!js.contains("description"));
  CHECK(js["strict"] == true);
  const json& props = js["schema"]["properties"];
  REQUIRE(props.size() == 1);
  CHECK(props.begin().key().rfind("[EMAIL_", 0) == 0);
  CHECK(js["schema"]["required"][0] == props.begin().key());
  CHECK(props.begin()->at("enum").size() == 2);
}

ServerOptions loopback() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.read_timeout_s = 10;
  return o;
}

std::string tiny_model() {
  return test::cached_model("tiny", 21, engine::DType::F32);
}

struct Proxy {
  Proxy(const std::string& upstream, bool compress, std::vector<PluginConfig> plugins) {
    ServeConfig cfg;
    cfg.model.path = tiny_model();  // its tokenizer, for compression
    cfg.compress_enabled = compress;
    cfg.compress.rate = 0.7;
    cfg.plan_enabled = false;
    cfg.upstream.urls = {upstream};
    cfg.upstream.timeout_s = 10;
    cfg.plugins = std::move(plugins);
    generator = std::make_shared<server::ProxyGenerator>(cfg, 4);
    server = std::make_unique<server::Server>(loopback(), generator);
    port = server->start();
  }
  ~Proxy() { server->stop(1.0); }
  std::shared_ptr<server::ProxyGenerator> generator;
  std::unique_ptr<server::Server> server;
  int port = 0;
};

// The text the client got: choice 0's content, whole or from the stream.
std::string answer_text(const test::Reply& r, bool chat, bool stream) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  if (!stream) {
    const json j = json::parse(r.body);
    return chat ? j["choices"][0]["message"]["content"].get<std::string>()
                : j["choices"][0]["text"].get<std::string>();
  }
  std::string text;
  for (const std::string& ev : test::sse_payloads(r.body)) {
    if (ev == "[DONE]") continue;
    const json j = json::parse(ev);
    REQUIRE(!j.contains("error"));
    if (!j.contains("choices") || j["choices"].empty()) continue;
    const json& c = j["choices"][0];
    if (chat && c.contains("delta") && c["delta"].contains("content"))
      text += c["delta"]["content"].get<std::string>();
    if (!chat && c.contains("text")) text += c["text"].get<std::string>();
  }
  return text;
}

void check_restored(const std::string& answer, bool chat) {
  INFO(answer);
  (void)chat;
  // The echo holds every message's text, so every secret the client sent comes back whole.
  for (size_t i = 0; i < kSecrets.size(); ++i) {
    INFO("not restored: " << kSecrets[i]);
    CHECK(answer.find(kSecrets[i]) != std::string::npos);
  }
  for (const char* label : {"[EMAIL_", "[PHONE_", "[CARD_", "[EMPLOYEE_"}) {
    INFO("placeholder left: " << label);
    CHECK(answer.find(label) == std::string::npos);
  }
}

PluginConfig redact_plugin() {
  PluginConfig p;
  p.builtin = "redact";
  p.settings = kRedactSettings;
  return p;
}

// A stage placed after redact that sees what the engine will be given, and answers with it (as
// a cache hit does), so that restore can be checked on the embedded path without a model that
// echoes.
class EchoStage : public Stage {
 public:
  std::string name() const override { return "echo"; }
  bool before_generate(const Request&, const std::string& final_prompt, const GenerateOptions& gen,
                       Result& result) override {
    std::lock_guard<std::mutex> lock(mu_);
    seen_ += final_prompt;
    for (const std::string& stop : gen.stop) seen_ += "\n" + stop;
    seen_ += "\n" + gen.json_schema;
    Choice c;
    c.text = final_prompt;
    c.finish_reason = "stop";
    c.tokens = 1;
    result.choices = {c};
    return true;
  }
  std::string seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  std::string seen_;
};

// The embedded pipeline (tiny model) with redact, then EchoStage, behind a server on loopback.
struct EmbeddedServer {
  EmbeddedServer() {
    PipelineConfig cfg;
    cfg.model.path = tiny_model();
    cfg.model.kv_cache_mb = 16;
    cfg.compress_enabled = false;
    cfg.plan_enabled = false;
    cfg.generate.max_tokens = 4;
    cfg.plugins = {redact_plugin()};
    pipeline = std::make_shared<Pipeline>(cfg);
    pipeline->add_stage(echo);
    server = std::make_unique<server::Server>(
        loopback(), std::make_shared<server::PipelineGenerator>(pipeline, 4));
    port = server->start();
  }
  ~EmbeddedServer() { server->stop(1.0); }
  std::shared_ptr<Pipeline> pipeline;
  std::shared_ptr<EchoStage> echo = std::make_shared<EchoStage>();
  std::unique_ptr<server::Server> server;
  int port = 0;
};

}  // namespace

TEST_CASE("redact: no secret reaches the upstream, in any role, endpoint or mode", "[redact]") {
  EchoUpstream up;
  for (const bool compress : {false, true}) {
    Proxy proxy(up.url(), compress, {redact_plugin()});
    for (const bool chat : {true, false}) {
      for (const bool stream : {false, true}) {
        {
          INFO("compress " << compress << " chat " << chat << " stream " << stream);
          const json body = chat ? chat_body(stream) : completion_body(stream);
          const test::Reply r = test::http(
              proxy.port, "POST", chat ? "/v1/chat/completions" : "/v1/completions", body.dump());
          check_no_secret(up.all_requests());
          check_other_text_masked(up.last_body());
          // Without compression the echo is the whole masked text: restore brings every value
          // back. (Compression may drop words around placeholders, so only the leak is checked.)
          if (!compress) check_restored(answer_text(r, chat, stream), chat);
        }
      }
    }
  }
  CHECK(up.requests() == 8);
  // Sanity: the upstream did see the placeholders (the request went through, masked).
  CHECK(up.all_requests().find("[EMAIL_1]") != std::string::npos);
  CHECK(up.all_requests().find("[EMPLOYEE_1]") != std::string::npos);
}

TEST_CASE("redact: the embedded engine is given no secret; restore works streamed and not",
          "[redact]") {
  EmbeddedServer embedded;
  const auto& pipeline = embedded.pipeline;
  const auto& echo = embedded.echo;
  const int port = embedded.port;
  for (const bool chat : {true, false}) {
    for (const bool stream : {false, true}) {
      {
        INFO("chat " << chat << " stream " << stream);
        const json body = chat ? chat_body(stream) : completion_body(stream);
        const test::Reply r = test::http(
            port, "POST", chat ? "/v1/chat/completions" : "/v1/completions", body.dump());
        check_no_secret(echo->seen());  // the prompt, the stop strings and the schema
        check_restored(answer_text(r, chat, stream), chat);
      }
    }
  }
  CHECK(echo->seen().find("[CARD_1]") != std::string::npos);
  CHECK(echo->seen().find("\nCard [CARD_1]") != std::string::npos);  // the masked stop string

  SECTION("SDK: messages are masked before they are rendered; the result's prompts too") {
    Request req;
    req.messages = chat_messages();
    std::string streamed;
    Result res = pipeline->run(req, [&](const std::string& d) { streamed += d; });
    check_no_secret(res.final_prompt);
    check_no_secret(res.original_prompt);
    check_restored(res.text, true);
    check_restored(streamed, true);
  }
}

TEST_CASE("redact: the stream filter restores placeholders split anywhere", "[redact]") {
  const std::unique_ptr<Stage> redact = plugins::make_redact_stage(kRedactSettings);
  Request req;
  req.prompt = "write to alice@example.org, EMP-123456 or (212) 555-0199";
  redact->before(req);
  REQUIRE(req.prompt == "write to [EMAIL_1], [EMPLOYEE_1] or [PHONE_1]");
  // A model's answer: bracketed and bare placeholders, an unknown one, capitals at the end.
  const std::string answer = "Mail [EMAIL_1] (badge EMPLOYEE_1), not [EMAIL_2]; call [PHONE_1] OK";
  const std::string expected =
      "Mail alice@example.org (badge EMP-123456), not [EMAIL_2]; call (212) 555-0199 OK";
  Result whole;
  whole.choices = {Choice{}};
  whole.choices[0].text = answer;
  redact->after(req, whole);
  REQUIRE(whole.choices[0].text == expected);
  // Every split into two deltas, and one delta per byte, give the same text as after().
  for (size_t cut = 0; cut <= answer.size(); ++cut) {
    auto f = redact->stream_filter(req);
    REQUIRE(f);
    std::string got = f->push(answer.substr(0, cut));  // (one statement each: + does not
    got += f->push(answer.substr(cut));                // order its operands' evaluation)
    got += f->finish();
    INFO("cut at " << cut);
    CHECK(got == expected);
  }
  auto f = redact->stream_filter(req);
  std::string got;
  for (char ch : answer) got += f->push(std::string(1, ch));
  got += f->finish();
  CHECK(got == expected);
}

TEST_CASE("cache: keyed on what is sent; a different history is a miss", "[redact][cache]") {
  EchoUpstream up;
  PluginConfig cache;
  cache.builtin = "cache";
  Proxy proxy(up.url(), false, {redact_plugin(), cache});
  json a = chat_body(false);
  const auto send = [&](const json& b) {
    return test::http(proxy.port, "POST", "/v1/chat/completions", b.dump());
  };
  REQUIRE(send(a).status == 200);
  REQUIRE(up.requests() == 1);
  REQUIRE(send(a).status == 200);  // the same request: a hit
  CHECK(up.requests() == 1);
  json b = a;
  b["messages"][0]["content"] = "You help nobody.";  // same final message, other system prompt
  REQUIRE(send(b).status == 200);
  CHECK(up.requests() == 2);
  json c = a;
  c["messages"][2]["content"] = "Noted.";  // other history
  REQUIRE(send(c).status == 200);
  CHECK(up.requests() == 3);
  // Keys are digests: no prompt text is kept in them.
  const std::string key = plugins::cache_key("alice@example.org", GenerateOptions());
  CHECK(key.size() == 32);
  CHECK(key.find("alice") == std::string::npos);
}

// precis.question may start inside a secret: the prompt is split at it only after masking, or
// each piece would be too short for a detector and the two would reach the model side by side.
TEST_CASE("redact: an explicit question that cuts through a secret does not unmask it",
          "[redact]") {
  const std::string card = "4111 1111 1111 1111";
  const json body = {{"prompt", "Here is the card " + card + " - valid?"},
                     {"max_tokens", 4},
                     {"temperature", 0},
                     {"precis", {{"question", "1111 - valid?"}}}};
  const std::string head = "4111 1111 1111";  // what the documents would keep after a raw split
  SECTION("proxy") {
    EchoUpstream up;
    Proxy proxy(up.url(), false, {redact_plugin()});
    const test::Reply r = test::http(proxy.port, "POST", "/v1/completions", body.dump());
    INFO(r.body);
    CHECK(r.status == 200);
    INFO(up.all_requests());
    CHECK(up.all_requests().find(head) == std::string::npos);
    CHECK(up.all_requests().find("[CARD_1]") != std::string::npos);
  }
  SECTION("embedded") {
    EmbeddedServer embedded;
    const test::Reply r = test::http(embedded.port, "POST", "/v1/completions", body.dump());
    INFO(r.body);
    CHECK(r.status == 200);
    INFO(embedded.echo->seen());
    CHECK(embedded.echo->seen().find(head) == std::string::npos);
    CHECK(embedded.echo->seen().find("[CARD_1]") != std::string::npos);
  }
}
