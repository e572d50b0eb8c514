// Proxy mode on loopback: a precis server on the embedded engine as the upstream of a precis
// proxy (real HTTP through both, streamed and not, answers equal to the direct ones), balancing
// over two upstreams and failover when one dies, and bad upstreams (connection refused, too
// slow, garbage) that each get their documented error while the proxy keeps serving.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "middleware/server/pipeline_generator.hpp"
#include "middleware/server/proxy_generator.hpp"
#include "middleware/server/server.hpp"
#include "middleware/server/upstream_client.hpp"
#include "middleware/server/upstream_pool.hpp"
#include "middleware/server/upstream_protocol.hpp"
#include "precis/precis.hpp"
#include "tests/test_server_client.hpp"
#include "tests/test_support.hpp"

using namespace precis;
using nlohmann::json;
using test::http;
using test::Reply;

namespace {

const char* const kPrompt = test::kRuthPrompt;

std::string tiny_model() {
  return test::cached_model("tiny", 21, engine::DType::F32);
}

std::shared_ptr<Pipeline> shared_pipeline() {
  static std::shared_ptr<Pipeline> p = [] {
    PipelineConfig cfg;
    cfg.model.path = tiny_model();
    cfg.model.kv_cache_mb = 32;
    cfg.compress_enabled = false;  // the proxy compresses; the upstream generates what it gets
    cfg.plan_enabled = false;
    cfg.generate.max_tokens = 12;
    cfg.generate.temperature = 0.8f;
    cfg.generate.ignore_eos = true;
    return std::make_shared<Pipeline>(cfg);
  }();
  return p;
}

// Counts the requests that reach the wrapped generator.
class CountingGenerator : public server::Generator {
 public:
  explicit CountingGenerator(std::shared_ptr<server::Generator> inner) : inner_(std::move(inner)) {}
  std::string model_id() const override { return inner_->model_id(); }
  const PipelineConfig& config() const override { return inner_->config(); }
  void start(Request r, std::shared_ptr<const server::ClientRequest> client,
             server::GenerationHandlers h, std::shared_ptr<CancelToken> cancel) override {
    ++count;
    inner_->start(std::move(r), std::move(client), std::move(h), std::move(cancel));
  }
  server::GeneratorStats stats() const override { return inner_->stats(); }
  void shutdown() override { inner_->shutdown(); }
  std::atomic<int> count{0};

 private:
  std::shared_ptr<server::Generator> inner_;
};

ServerOptions loopback() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  return o;
}

// A precis server on the embedded engine (the upstream).
struct EngineServer {
  EngineServer() {
    generator = std::make_shared<CountingGenerator>(
        std::make_shared<server::PipelineGenerator>(shared_pipeline(), 8));
    server = std::make_unique<server::Server>(loopback(), generator);
    port = server->start();
  }
  ~EngineServer() { stop(); }
  void stop() {
    if (server) server->stop(1.0);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  std::shared_ptr<CountingGenerator> generator;
  std::unique_ptr<server::Server> server;
  int port = 0;
};

// A precis server in proxy mode.
struct ProxyServer {
  explicit ProxyServer(const std::vector<std::string>& urls, double timeout_s = 20) {
    ServeConfig cfg;
    cfg.model.path = tiny_model();  // its tokenizer, for compression
    cfg.compress_enabled = true;
    cfg.compress.rate = 0.5;
    cfg.plan_enabled = false;
    cfg.upstream.urls = urls;
    cfg.upstream.timeout_s = timeout_s;
    generator = std::make_shared<server::ProxyGenerator>(cfg, 8);
    server = std::make_unique<server::Server>(loopback(), generator);
    port = server->start();
  }
  ~ProxyServer() { server->stop(1.0); }
  std::shared_ptr<server::ProxyGenerator> generator;
  std::unique_ptr<server::Server> server;
  int port = 0;
};

Reply post(int port, const std::string& target, const json& body) {
  return http(port, "POST", target, body.dump());
}

json parse(const std::string& s) {
  return json::parse(s);
}

// Text of choice 0 of a stream, checking it ends with [DONE]; `usage` gets the usage chunk.
std::string stream_text(const std::string& body, bool chat, json* usage = nullptr) {
  const auto events = test::sse_payloads(body);
  REQUIRE(!events.empty());
  CHECK(events.back() == "[DONE]");
  std::string text;
  bool finished = false;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json ev = parse(events[i]);
    REQUIRE(!ev.contains("error"));
    if (ev.contains("usage") && !ev["usage"].is_null()) {
      if (usage) *usage = ev["usage"];
      continue;
    }
    const json& c = ev["choices"][0];
    if (!c["finish_reason"].is_null()) finished = true;
    if (chat) {
      if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
    } else {
      text += c["text"].get<std::string>();
    }
  }
  CHECK(finished);
  return text;
}

void check_error_shape(const Reply& r, int status, const std::string& code,
                       const std::string& words) {
  INFO(r.body);
  CHECK(r.status == status);
  const json j = json::parse(r.body, nullptr, false);
  REQUIRE(j.is_object());
  REQUIRE(j.contains("error"));
  const json& e = j["error"];
  CHECK(e["type"] == "server_error");
  CHECK(e["code"] == code);
  CHECK(e.contains("param"));
  CHECK(e["message"].get<std::string>().find(words) != std::string::npos);
}

// A fake upstream on loopback: one accepting thread, connections handled in turn.
class FakeUpstream {
 public:
  // kQuoteKey: answers HTTP quote_status() with an error that quotes the Authorization header
  // it was sent, as some gateways do ("invalid key sk-...").
  enum Mode { kRefuse, kGood, kGarbageJson, kNotHttp, kSlow, kError500, kBadRequest, kQuoteKey };

  explicit FakeUpstream(Mode mode) : mode_(mode) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    // Bound but not listening: connections are refused until set_mode() says otherwise.
    if (mode != kRefuse) listen_now();
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  void set_mode(Mode m) {
    mode_ = m;
    if (m != kRefuse) listen_now();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_quote_status(int status) { quote_status_ = status; }
  int requests() const { return requests_; }
  std::string last_request() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }
  // Connections the proxy closed while a kSlow upstream held them.
  int closed() const { return closed_; }

 private:
  void listen_now() {
    if (!listening_.exchange(true)) ::listen(fd_, 16);
  }
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (!listening_ || ::poll(&p, 1, 50) <= 0) {
        if (!listening_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }
  static void send_all(int c, const std::string& s) { ::send(c, s.data(), s.size(), MSG_NOSIGNAL); }
  static std::string reply(const std::string& status, const std::string& body) {
    return "HTTP/1.1 " + status +
           "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  void serve(int c) {
    {
      const std::string req = test::read_request(c);
      std::lock_guard<std::mutex> lock(mu_);
      last_request_ = req;
    }
    ++requests_;
    switch (mode_.load()) {
      case kQuoteKey: {
        std::string key;
        {
          std::lock_guard<std::mutex> lock(mu_);
          const size_t at = last_request_.find("Authorization: ");
          if (at != std::string::npos)
            key = last_request_.substr(at + 15, last_request_.find("\r\n", at) - at - 15);
        }
        const json err = {{"error", {{"message", "invalid credentials: " + key}}}};
        send_all(c, reply(std::to_string(quote_status_.load()) + " Whatever",
                          err.dump() + " raw " + key));
        break;
      }
      case kGood:
        send_all(c, reply("200 OK",
                          R"({"id":"cmpl-1","object":"text_completion","created":0,"model":"fake",)"
                          R"("choices":[{"index":0,"text":"fake answer","logprobs":null,)"
                          R"("finish_reason":"stop"}],"usage":{"prompt_tokens":5,)"
                          R"("completion_tokens":2,"total_tokens":7}})"));
        break;
      case kGarbageJson:
        send_all(c, reply("200 OK", "this is <b>not</b> JSON"));
        break;
      case kNotHttp:
        send_all(c, "garbage garbage garbage\r\n\r\n");
        break;
      case kBadRequest:
        send_all(c, reply("400 Bad Request",
                          R"({"error":{"message":"max_tokens is too large","type":)"
                          R"("invalid_request_error","param":"max_tokens","code":null}})"));
        break;
      case kError500:
        send_all(c, reply("500 Internal Server Error", R"({"error":{"message":"boom"}})"));
        break;
      case kSlow: {
        // Never answers: waits (bounded) until the proxy gives up and closes.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!stop_ && std::chrono::steady_clock::now() < until) {
          pollfd p{c, POLLIN, 0};
          if (::poll(&p, 1, 50) > 0) {
            char b[256];
            if (::recv(c, b, sizeof b, 0) <= 0) {
              ++closed_;
              break;
            }
          }
        }
        break;
      }
      case kRefuse:
        break;
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<Mode> mode_;
  std::atomic<bool> listening_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> closed_{0};
  std::atomic<int> quote_status_{401};
  mutable std::mutex mu_;
  std::string last_request_;
  std::thread thread_;
};

const json kNoPrecis = {{"compress", false}, {"plan", "none"}};

}  // namespace

TEST_CASE("proxy: completions through a proxy equal the upstream's direct answers", "[proxy]") {
  EngineServer up;
  ProxyServer proxy({up.url()});

  const json body = {{"prompt", kPrompt}, {"max_tokens", 10}, {"seed", 7}, {"precis", kNoPrecis}};
  const Reply direct = post(up.port, "/v1/completions", body);
  REQUIRE(direct.status == 200);
  const Reply via = post(proxy.port, "/v1/completions", body);
  INFO(via.body);
  REQUIRE(via.status == 200);
  const json d = parse(direct.body), v = parse(via.body);
  CHECK(v["object"] == "text_completion");
  CHECK(v["choices"][0]["text"] == d["choices"][0]["text"]);
  CHECK(v["choices"][0]["finish_reason"] == d["choices"][0]["finish_reason"]);
  CHECK(v["usage"]["prompt_tokens"] == d["usage"]["prompt_tokens"]);
  CHECK(v["usage"]["completion_tokens"] == d["usage"]["completion_tokens"]);
  REQUIRE(v["usage"].contains("precis"));
  CHECK(v["usage"]["precis"]["original_prompt_tokens"] ==
        v["usage"]["precis"]["compressed_prompt_tokens"]);

  SECTION("streamed, with usage") {
    json sb = body;
    sb["stream"] = true;
    sb["stream_options"] = {{"include_usage", true}};
    const Reply s = post(proxy.port, "/v1/completions", sb);
    REQUIRE(s.status == 200);
    CHECK(s.headers.at("content-type").find("text/event-stream") != std::string::npos);
    json usage;
    CHECK(stream_text(s.body, false, &usage) == d["choices"][0]["text"]);
    REQUIRE(usage.is_object());
    CHECK(usage["completion_tokens"] == d["usage"]["completion_tokens"]);
    CHECK(usage.contains("precis"));
  }
  SECTION("n = 2 and logprobs are relayed") {
    json nb = body;
    nb["n"] = 2;
    nb["logprobs"] = 2;
    const Reply dn = post(up.port, "/v1/completions", nb);
    const Reply vn = post(proxy.port, "/v1/completions", nb);
    REQUIRE(vn.status == 200);
    const json a = parse(dn.body), b = parse(vn.body);
    REQUIRE(b["choices"].size() == 2);
    for (int i = 0; i < 2; ++i) {
      CHECK(b["choices"][i]["text"] == a["choices"][i]["text"]);
      CHECK(b["choices"][i]["logprobs"]["tokens"] == a["choices"][i]["logprobs"]["tokens"]);
    }
  }
  SECTION("compression at the proxy shortens what the upstream gets") {
    json cb = body;
    cb["precis"] = {{"compress", {{"rate", 0.5}}}, {"plan", "none"}};
    const Reply c = post(proxy.port, "/v1/completions", cb);
    REQUIRE(c.status == 200);
    const json u = parse(c.body)["usage"];
    CHECK(u["precis"]["compressed_prompt_tokens"].get<int>() <
          u["precis"]["original_prompt_tokens"].get<int>());
    CHECK(u["prompt_tokens"].get<int>() < d["usage"]["prompt_tokens"].get<int>());
  }
}

TEST_CASE("proxy: chat through a proxy equals the upstream's direct answer", "[proxy]") {
  EngineServer up;
  ProxyServer proxy({up.url()});
  const json body = {{"messages",
                      {{{"role", "system"}, {"content", "Answer briefly."}},
                       {{"role", "user"}, {"content", kPrompt}}}},
                     {"max_tokens", 10},
                     {"seed", 11},
                     {"precis", kNoPrecis}};
  const Reply direct = post(up.port, "/v1/chat/completions", body);
  REQUIRE(direct.status == 200);
  const json d = parse(direct.body);
  const std::string expected = d["choices"][0]["message"]["content"];

  const Reply via = post(proxy.port, "/v1/chat/completions", body);
  INFO(via.body);
  REQUIRE(via.status == 200);
  const json v = parse(via.body);
  CHECK(v["object"] == "chat.completion");
  CHECK(v["choices"][0]["message"]["role"] == "assistant");
  CHECK(v["choices"][0]["message"]["content"] == expected);
  CHECK(v["usage"]["prompt_tokens"] == d["usage"]["prompt_tokens"]);
  CHECK(v["usage"].contains("precis"));

  json sb = body;
  sb["stream"] = true;
  const Reply s = post(proxy.port, "/v1/chat/completions", sb);
  REQUIRE(s.status == 200);
  CHECK(stream_text(s.body, true) == expected);
  // The client did not ask for usage: no usage chunk even though the proxy asks its upstream.
  for (const auto& ev : test::sse_payloads(s.body))
    if (ev != "[DONE]") CHECK(!parse(ev).contains("usage"));
}

TEST_CASE("proxy: two upstreams share the load; one dies, the other answers", "[proxy]") {
  EngineServer a, b;
  ProxyServer proxy({a.url(), b.url()});
  const json body = {{"prompt", "Hello there"}, {"max_tokens", 4}, {"precis", kNoPrecis}};
  for (int i = 0; i < 6; ++i) REQUIRE(post(proxy.port, "/v1/completions", body).status == 200);
  CHECK(a.generator->count == 3);
  CHECK(b.generator->count == 3);

  b.stop();
  for (int i = 0; i < 4; ++i) {
    const Reply r = post(proxy.port, "/v1/completions", body);
    INFO(r.body);
    CHECK(r.status == 200);
  }
  CHECK(a.generator->count == 7);
  CHECK(!proxy.generator->pool().healthy(1));  // taken out, retried after its backoff
}

TEST_CASE("proxy: bad upstreams get their errors and the proxy keeps serving", "[proxy]") {
  const json body = {{"prompt", "Hello there"}, {"max_tokens", 4}, {"precis", kNoPrecis}};
  auto good_next = [&](FakeUpstream& fake, ProxyServer& proxy) {
    fake.set_mode(FakeUpstream::kGood);
    const Reply r = post(proxy.port, "/v1/completions", body);
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(parse(r.body)["choices"][0]["text"] == "fake answer");
    CHECK(parse(r.body)["usage"]["completion_tokens"] == 2);
    CHECK(http(proxy.port, "GET", "/health").status == 200);
  };

  SECTION("connection refused: 502") {
    FakeUpstream fake(FakeUpstream::kRefuse);
    ProxyServer proxy({fake.url()});
    check_error_shape(post(proxy.port, "/v1/completions", body), 502, "upstream_unreachable",
                      "unreachable");
    json sb = body;
    sb["stream"] = true;
    check_error_shape(post(proxy.port, "/v1/completions", sb), 502, "upstream_unreachable",
                      "unreachable");
    good_next(fake, proxy);
  }
  SECTION("slower than timeout_s: 504") {
    FakeUpstream fake(FakeUpstream::kSlow);
    ProxyServer proxy({fake.url()}, 0.5);
    const auto t0 = std::chrono::steady_clock::now();
    check_error_shape(post(proxy.port, "/v1/completions", body), 504, "upstream_timeout",
                      "timed out");
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
    good_next(fake, proxy);
  }
  SECTION("not JSON: 502") {
    FakeUpstream fake(FakeUpstream::kGarbageJson);
    ProxyServer proxy({fake.url()});
    check_error_shape(post(proxy.port, "/v1/completions", body), 502, "upstream_invalid_response",
                      "invalid JSON");
    json sb = body;
    sb["stream"] = true;
    check_error_shape(post(proxy.port, "/v1/completions", sb), 502, "upstream_invalid_response",
                      "invalid JSON");
    good_next(fake, proxy);
  }
  SECTION("not HTTP: 502") {
    FakeUpstream fake(FakeUpstream::kNotHttp);
    ProxyServer proxy({fake.url()});
    check_error_shape(post(proxy.port, "/v1/completions", body), 502, "upstream_invalid_response",
                      "invalid HTTP");
    good_next(fake, proxy);
  }
  SECTION("HTTP 500: 502 with the upstream's message") {
    FakeUpstream fake(FakeUpstream::kError500);
    ProxyServer proxy({fake.url()});
    check_error_shape(post(proxy.port, "/v1/completions", body), 502, "upstream_error", "boom");
    good_next(fake, proxy);
  }
  SECTION("a 4xx is the request's fault: relayed, the upstream stays in") {
    FakeUpstream fake(FakeUpstream::kBadRequest);
    ProxyServer proxy({fake.url()});
    const Reply r = post(proxy.port, "/v1/completions", body);
    INFO(r.body);
    CHECK(r.status == 400);
    CHECK(parse(r.body)["error"]["message"].get<std::string>().find("max_tokens is too large") !=
          std::string::npos);
    CHECK(proxy.generator->pool().healthy(0));
    good_next(fake, proxy);
  }
  SECTION("the forwarded request") {
    FakeUpstream fake(FakeUpstream::kGood);
    ServeConfig cfg;
    cfg.model.path = tiny_model();
    cfg.upstream.urls = {fake.url() + "/base/v1"};
    cfg.upstream.api_key = "up-key";
    cfg.upstream.model = "big-model";
    auto gen = std::make_shared<server::ProxyGenerator>(cfg, 2);
    server::Server srv(loopback(), gen);
    const int p = srv.start();
    REQUIRE(post(p, "/v1/completions", {{"prompt", "Hi"}, {"model", "x"}, {"seed", 3}}).status ==
            200);
    const std::string req = fake.last_request();
    CHECK(req.rfind("POST /base/v1/completions HTTP/1.1\r\n", 0) == 0);
    CHECK(req.find("Authorization: Bearer up-key\r\n") != std::string::npos);
    const json sent = parse(req.substr(req.find("\r\n\r\n") + 4));
    CHECK(sent["model"] == "big-model");
    CHECK(sent["seed"] == 3);
    CHECK(!sent.contains("precis"));
    CHECK(sent["prompt"].get<std::string>().find("Hi") != std::string::npos);
    srv.stop(1.0);
  }
  SECTION("a bad upstream beside a good one: the request fails over") {
    FakeUpstream bad(FakeUpstream::kGarbageJson);
    FakeUpstream good(FakeUpstream::kGood);
    ProxyServer proxy({bad.url(), good.url()});
    for (int i = 0; i < 4; ++i) CHECK(post(proxy.port, "/v1/completions", body).status == 200);
    CHECK(bad.requests() == 1);  // taken out after its failure
    CHECK(good.requests() == 4);
  }
}

// stderr's bytes while `f` runs.
template <typename F>
std::string stderr_of(F&& f) {
  const std::string path = test::scratch_dir("proxy-stderr") + "/stderr.txt";
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  ::dup2(fd, 2);
  ::close(fd);
  f();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("proxy: the upstream key reaches no client and no log, whatever the upstream says",
          "[proxy]") {
  const std::string key = "sk-proxy-secret-0123456789";
  FakeUpstream fake(FakeUpstream::kQuoteKey);
  ServeConfig cfg;
  cfg.model.path = tiny_model();
  cfg.compress_enabled = false;
  cfg.plan_enabled = false;
  cfg.upstream.urls = {fake.url()};
  cfg.upstream.api_key = key;
  cfg.upstream.timeout_s = 10;
  auto gen = std::make_shared<server::ProxyGenerator>(cfg, 2);
  server::Server srv(loopback(), gen);
  const int port = srv.start();
  for (const int status : {401, 403, 400, 404, 500, 503}) {
    for (const bool stream : {false, true}) {
      INFO("upstream HTTP " << status << " stream " << stream);
      fake.set_quote_status(status);
      Reply r;
      const std::string log = stderr_of([&] {
        r = post(port, "/v1/completions",
                 {{"prompt", "Hi"}, {"max_tokens", 2}, {"stream", stream}});
      });
      INFO(r.body);
      INFO(log);
      CHECK(r.status >= 400);
      CHECK(r.body.find(key) == std::string::npos);
      CHECK(log.find(key) == std::string::npos);
      CHECK(fake.last_request().find("Authorization: Bearer " + key) != std::string::npos);
      if (status >= 500) {
        // The upstream's message still helps: passed on with the key replaced.
        // (A lone upstream out on backoff is still tried: there is no other.)
        CHECK(r.body.find("invalid credentials: Bearer [upstream.api_key]") != std::string::npos);
      }
    }
  }
  srv.stop(1.0);
}

TEST_CASE("proxy: a client that goes away closes the upstream connection", "[proxy]") {
  FakeUpstream fake(FakeUpstream::kSlow);
  ProxyServer proxy({fake.url()}, 20);
  for (bool stream : {false, true}) {
    const int before = fake.closed(), served = fake.requests();
    json body = {{"prompt", "Hello there"}, {"max_tokens", 4}, {"stream", stream}};
    test::Conn c(proxy.port);
    REQUIRE(c.connected());
    REQUIRE(c.send(test::request_text("POST", "/v1/completions", body.dump())));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (fake.requests() == served && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    c.close();
    const auto t0 = std::chrono::steady_clock::now();
    while (fake.closed() == before &&
           std::chrono::steady_clock::now() < t0 + std::chrono::seconds(5))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(fake.closed() == before + 1);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));  // not the 20 s timeout
    CHECK(proxy.generator->pool().healthy(0));  // a cancel is not the upstream's fault
  }
}

TEST_CASE("proxy: https upstreams, with the certificate verified", "[proxy]") {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  const std::string dir = test::scratch_dir("proxy-tls");
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  if (test::run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
                        key + " -out " + cert + " >/dev/null 2>&1") != 0) {
    WARN("openssl(1) is missing: the https test is skipped");
    return;
  }
  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.use_certificate_chain_file(cert);
  ctx.use_private_key_file(key, asio::ssl::context::pem);
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const int port = acceptor.local_endpoint().port();
  std::atomic<int> served{0};
  // An https upstream for two connections (each accept bounded in time).
  std::thread upstream([&] {
    for (int i = 0; i < 2; ++i) {
      pollfd p{acceptor.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return;
      asio::ip::tcp::socket sock(ioc);
      beast::error_code ec;
      acceptor.accept(sock, ec);
      if (ec) continue;
      timeval tv{5, 0};
      ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      asio::ssl::stream<asio::ip::tcp::socket> tls(std::move(sock), ctx);
      tls.handshake(asio::ssl::stream_base::server, ec);
      if (ec) continue;
      beast::flat_buffer buffer;
      beast::http::request<beast::http::string_body> req;
      beast::http::read(tls, buffer, req, ec);
      if (ec) continue;
      beast::http::response<beast::http::string_body> res{beast::http::status::ok, 11};
      res.set(beast::http::field::content_type, "application/json");
      res.body() = R"({"choices":[{"index":0,"text":"secret answer","finish_reason":"stop"}],)"
                   R"("usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}})";
      res.prepare_payload();
      beast::http::write(tls, res, ec);
      if (!ec) ++served;
      tls.shutdown(ec);
    }
  });
  const std::string url = "https://127.0.0.1:" + std::to_string(port);
  const json body = {{"prompt", "Hello there"}, {"max_tokens", 4}, {"precis", kNoPrecis}};
  {
    // Not trusted by the system: the handshake fails, 502.
    ProxyServer proxy({url}, 5);
    check_error_shape(post(proxy.port, "/v1/completions", body), 502, "upstream_unreachable",
                      "TLS handshake");
  }
  {
    ServeConfig cfg;
    cfg.model.path = tiny_model();
    cfg.upstream.urls = {url};
    cfg.upstream.timeout_s = 5;
    cfg.upstream.ca_file = cert;
    auto gen = std::make_shared<server::ProxyGenerator>(cfg, 2);
    server::Server srv(loopback(), gen);
    const int p = srv.start();
    const Reply r = post(p, "/v1/completions", body);
    INFO(r.body);
    CHECK(r.status == 200);
    CHECK(parse(r.body)["choices"][0]["text"] == "secret answer");
    srv.stop(1.0);
  }
  upstream.join();
  CHECK(served == 1);
}

TEST_CASE("precis serve --upstream: a proxy without a local model", "[proxy]") {
  EngineServer up;
  test::ServeProcess serve({"--upstream", up.url(), "--upstream-timeout-s", "10", "--port", "0"},
                           30);
  INFO(serve.first_line());
  bool served = false;
  if (serve.port() > 0) {
    const int port = serve.port();
    const json body = {{"prompt", kPrompt}, {"max_tokens", 5}, {"seed", 2}, {"precis", kNoPrecis}};
    const Reply direct = post(up.port, "/v1/completions", body);
    const Reply via = post(port, "/v1/completions", body);
    INFO(via.body);
    REQUIRE(via.status == 200);
    CHECK(parse(via.body)["choices"][0]["text"] == parse(direct.body)["choices"][0]["text"]);
    CHECK(http(port, "GET", "/v1/models").status == 200);
    served = true;
  }
  CHECK(served);
  int status = -1;
  serve.stop(status);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("precis serve: keys from the environment, not the command line", "[proxy]") {
  FakeUpstream fake(FakeUpstream::kGood);
  // Set before any thread of this test reads the environment; the child inherits it.
  ::setenv("PRECIS_UPSTREAM_API_KEY", "sk-up-from-env", 1);
  ::setenv("PRECIS_API_KEY", "client-key-from-env", 1);
  test::ServeProcess serve({"--upstream", fake.url(), "--upstream-timeout-s", "10", "--port", "0"},
                           30);
  ::unsetenv("PRECIS_UPSTREAM_API_KEY");
  ::unsetenv("PRECIS_API_KEY");
  INFO(serve.first_line());
  REQUIRE(serve.port() > 0);
  const json body = {{"prompt", "Hi"}, {"max_tokens", 2}, {"precis", kNoPrecis}};
  CHECK(post(serve.port(), "/v1/completions", body).status == 401);  // no client key
  const Reply ok = test::http(serve.port(), "POST", "/v1/completions", body.dump(),
                              {"Authorization: Bearer client-key-from-env"});
  INFO(ok.body);
  CHECK(ok.status == 200);
  CHECK(fake.last_request().find("Authorization: Bearer sk-up-from-env\r\n") != std::string::npos);
  int status = -1;
  serve.stop(status);
  CHECK(WIFEXITED(status));
}

TEST_CASE("proxy: a key bound for a plain-http upstream off this machine is warned about",
          "[proxy]") {
  ServeConfig cfg;
  cfg.model.path = tiny_model();
  cfg.upstream.api_key = "sk-warn-0001";
  cfg.upstream.urls = {"http://127.0.0.1:9", "https://api.example.com", "http://10.1.2.3:8000"};
  const std::string log = stderr_of([&] { server::ProxyGenerator gen(cfg, 1); });
  INFO(log);
  CHECK(log.find("unencrypted to http://10.1.2.3:8000") != std::string::npos);
  CHECK(log.find("127.0.0.1") == std::string::npos);
  CHECK(log.find("example.com") == std::string::npos);
  CHECK(log.find("sk-warn-0001") == std::string::npos);
  cfg.upstream.api_key.clear();
  CHECK(stderr_of([&] { server::ProxyGenerator gen(cfg, 1); }).empty());
}

TEST_CASE("proxy: upstream URLs and the pool's backoff", "[proxy]") {
  const auto u = server::parse_upstream_url("http://localhost:8001/base/v1/");
  CHECK(u.host == "localhost");
  CHECK(u.port == "8001");
  CHECK(u.base_path == "/base");
  CHECK(server::parse_upstream_url("http://example.com").port == "80");
  CHECK(server::parse_upstream_url("https://x").port == "443");
  CHECK(server::parse_upstream_url("https://x").tls);
  CHECK_THROWS_AS(server::parse_upstream_url("ftp://x"), std::invalid_argument);
  CHECK_THROWS_AS(server::parse_upstream_url("http://x:99999"), std::invalid_argument);
  // Credentials or a query in the URL: refused, and the error does not repeat them.
  for (const char* bad :
       {"https://user:pa55word@api.example.com/v1", "https://pa55word@api.example.com",
        "http://h:1/v1?key=pa55word", "http://h/v1#pa55word"}) {
    INFO(bad);
    try {
      server::parse_upstream_url(bad);
      FAIL("accepted");
    } catch (const std::invalid_argument& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find("pa55word") == std::string::npos);
      CHECK(std::string(e.what()).find("upstream.api_key") != std::string::npos);
    }
  }

  using std::chrono::milliseconds;
  // A backoff of a second: the checks below run while it lasts, and a loaded CI machine (the
  // emulated CUDA tests beside this one) can stall a thread for a good part of 100 ms.
  server::UpstreamPool pool({"http://a:1", "http://b:2"}, milliseconds(1000), milliseconds(3000));
  auto i = pool.acquire({});
  REQUIRE(i);
  pool.release(*i, true, "test");
  CHECK(!pool.healthy(*i));
  // While one is out, the other takes every request.
  for (int k = 0; k < 3; ++k) {
    auto j = pool.acquire({});
    REQUIRE(j);
    CHECK(*j != *i);
    pool.release(*j, false);
  }
  // Tried the healthy one already: the one that is out is not tried.
  CHECK(!pool.acquire({1 - *i}));
  std::this_thread::sleep_for(milliseconds(1100));
  CHECK(pool.healthy(*i));

  auto cfg = ServeConfig::from_json(
      R"({"upstream": {"urls": ["http://127.0.0.1:8001"], "timeout_s": 5, "model": "m"}})");
  CHECK(cfg.upstream.urls.size() == 1);
  CHECK(cfg.upstream.timeout_s == 5);
  CHECK(cfg.upstream.model == "m");
  CHECK_THROWS_AS(PipelineConfig::from_json(R"({"upstream": {"urls": ["ftp://x"]}})"), ConfigError);
  CHECK_THROWS_AS(PipelineConfig::from_json(R"({"upstream": {"bogus": 1}})"), ConfigError);
}
