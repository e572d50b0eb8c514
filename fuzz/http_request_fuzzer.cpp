// libFuzzer target: raw bytes through the server's HTTP request path without a network. Beast's
// request_parser with the server's header and body limits (as HttpSession::do_read sets them),
// then the parsed message turned into an HttpRequest (as HttpSession::dispatch_request does) and
// handed to OpenAiApi::handle: routing, API keys, admission and the JSON decoding of the
// completions and chat bodies. Several requests in one input are parsed in turn (keep-alive).
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz/fuzz_support.hpp"
#include "middleware/server/metrics.hpp"
#include "middleware/server/openai_api.hpp"

namespace http = boost::beast::http;
using namespace precis;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Harness {
  Harness() {
    options.api_keys = {"fuzz-key"};
    generator = std::make_shared<fuzz::NullGenerator>();
    api = std::make_unique<server::OpenAiApi>(options, generator, metrics);
  }
  ServerOptions options;
  std::shared_ptr<fuzz::NullGenerator> generator;
  server::Metrics metrics;
  std::unique_ptr<server::OpenAiApi> api;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness h;
  const char* p = reinterpret_cast<const char*>(data);
  size_t left = size;
  for (int round = 0; round < 4 && left > 0; ++round) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(h.options.max_header_bytes));
    parser.body_limit(h.options.max_body_bytes);
    parser.eager(true);
    boost::beast::error_code ec;
    size_t used = 0;
    while (!ec && !parser.is_done() && used < left) {
      const size_t n = parser.put(boost::asio::buffer(p + used, left - used), ec);
      used += n;
      if (ec == http::error::need_more) {
        // Every remaining byte was offered: the message is incomplete. Beast requires the next
        // put() to bring the unused bytes *plus more* (as the server's async_read does), and
        // asserts when handed the same bytes again, so this is where the connection closes.
        ec = {};
        break;
      }
      if (n == 0 && !ec) break;
    }
    if (!parser.is_done() && !ec) {
      parser.put_eof(ec);  // the connection closed here
    }
    if (ec || !parser.is_done()) return 0;  // 400/413/431 or a close: the session's branches
    auto msg = parser.release();
    server::HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.path = req.target.substr(0, req.target.find('?'));
    for (const auto& f : msg)
      req.headers[lower(std::string(f.name_string()))] = std::string(f.value());
    req.body = std::move(msg.body());
    auto ex = std::make_shared<fuzz::NullExchange>();
    h.api->handle(std::move(req), ex);
    if (ex->abort) ex->abort();
    if (!msg.keep_alive() || used == 0) break;
    p += used;
    left -= used;
  }
  return 0;
}
