#include "middleware/server/upstream_client.hpp"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>

namespace precis::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

UpstreamUrl parse_upstream_url(const std::string& url) {
  UpstreamUrl u;
  u.tls = url.rfind("https://", 0) == 0;
  const std::string scheme = u.tls ? "https://" : "http://";
  if (url.rfind(scheme, 0) != 0)
    throw std::invalid_argument("upstream URL '" + url + "': must start with http:// or https://");
  std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  // Credentials in a URL would travel in the clear in every error message and log line that
  // names the upstream: refused, without repeating them.
  if (const size_t at = authority.rfind('@'); at != std::string::npos)
    throw std::invalid_argument("upstream URL '" + scheme + "...@" + rest.substr(at + 1) +
                                "': credentials in the URL are not supported (they would be "
                                "shown wherever the URL is); give upstream.api_key instead");
  if (const size_t q = url.find_first_of("?#"); q != std::string::npos)
    throw std::invalid_argument("upstream URL '" + url.substr(0, q) +
                                "...': a query or fragment is not supported (request paths are "
                                "appended to the URL); give a key as upstream.api_key");
  u.text = url;
  if (slash != std::string::npos) u.base_path = rest.substr(slash);
  while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  // A base path ending in /v1 is common in OpenAI client settings; targets carry /v1 already.
  if (u.base_path.size() >= 3 && u.base_path.compare(u.base_path.size() - 3, 3, "/v1") == 0)
    u.base_path.resize(u.base_path.size() - 3);
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
    u.port = u.tls ? "443" : "80";
  }
  if (!u.host.empty() && u.host.front() == '[' && u.host.back() == ']')
    u.host = u.host.substr(1, u.host.size() - 2);
  if (u.host.empty()) throw std::invalid_argument("upstream URL '" + url + "': no host");
  if (u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos ||
      u.port.size() > 5 || std::stoi(u.port) < 1 || std::stoi(u.port) > 65535)
    throw std::invalid_argument("upstream URL '" + url + "': bad port '" + u.port + "'");
  return u;
}

namespace {

// The parser's complaint about bytes that are not HTTP (not a connection that ended early).
bool not_http(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_version).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::need_buffer;
}

}  // namespace

struct UpstreamCall::Impl {
  UpstreamUrl url;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  beast::tcp_stream plain{ioc};                                // http
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;  // https
  std::atomic<bool> cancelled{false};

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : plain; }

  // Starts one async operation and runs the io_context until it completes (the stream's
  // expiry, or a posted cancel, ends it early).
  template <class Start>
  beast::error_code run(Start&& start) {
    beast::error_code result = asio::error::would_block;
    lowest().expires_after(timeout);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  void throw_if_cancelled() const {
    if (cancelled) throw UpstreamError(UpstreamFailure::kCancelled, "cancelled");
  }

  [[noreturn]] void fail(beast::error_code ec, const std::string& during) const {
    throw_if_cancelled();
    if (ec == beast::error::timeout)
      throw UpstreamError(UpstreamFailure::kTimeout,
                          "upstream " + url.text + " timed out (" + during + ", no answer within " +
                              std::to_string(timeout.count() / 1000.0).substr(0, 5) + " s)");
    throw UpstreamError(UpstreamFailure::kUnreachable, "upstream " + url.text + " unreachable (" +
                                                           during + ": " + ec.message() + ")");
  }
};

UpstreamCall::UpstreamCall(UpstreamUrl url, double timeout_s, const std::string& ca_file)
    : impl_(std::make_shared<Impl>()) {
  impl_->url = std::move(url);
  impl_->timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000.0));
  if (impl_->url.tls) {
    Impl& s = *impl_;
    beast::error_code ec;
    if (ca_file.empty())
      s.tls.set_default_verify_paths(ec);
    else
      s.tls.load_verify_file(ca_file, ec);
    if (ec)
      throw UpstreamError(UpstreamFailure::kUnreachable,
                          "upstream " + s.url.text + ": cannot load trusted certificates" +
                              (ca_file.empty() ? "" : " from " + ca_file) + ": " + ec.message());
    s.tls.set_verify_mode(asio::ssl::verify_peer);
    s.secure.emplace(s.ioc, s.tls);
    s.secure->set_verify_callback(asio::ssl::host_name_verification(s.url.host));
    // SNI, so that virtual hosts present the right certificate.
    SSL_set_tlsext_host_name(s.secure->native_handle(), s.url.host.c_str());
  }
}

UpstreamCall::~UpstreamCall() = default;

void UpstreamCall::cancel() {
  impl_->cancelled = true;
  std::weak_ptr<Impl> weak = impl_;
  asio::post(impl_->ioc, [weak] {
    if (auto self = weak.lock()) {
      beast::error_code ec;
      self->lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
      self->lowest().cancel();
    }
  });
}

void UpstreamCall::post(const std::string& target, const std::string& body,
                        const std::vector<std::pair<std::string, std::string>>& headers,
                        const std::function<void(int status)>& on_status,
                        const std::function<void(std::string_view data)>& on_data) {
  Impl& s = *impl_;
  s.throw_if_cancelled();
  tcp::resolver resolver(s.ioc);
  tcp::resolver::results_type endpoints;
  beast::error_code ec = s.run([&](auto handler) {
    resolver.async_resolve(
        s.url.host, s.url.port,
        [&endpoints, handler](beast::error_code e, tcp::resolver::results_type r) {
          endpoints = std::move(r);
          handler(e);
        });
  });
  if (ec) s.fail(ec, "resolving " + s.url.host);
  s.throw_if_cancelled();
  ec = s.run([&](auto handler) { s.lowest().async_connect(endpoints, handler); });
  if (ec) s.fail(ec, "connecting");
  s.throw_if_cancelled();
  if (s.secure) {
    ec = s.run(
        [&](auto handler) { s.secure->async_handshake(asio::ssl::stream_base::client, handler); });
    if (ec) s.fail(ec, "TLS handshake");
    s.throw_if_cancelled();
  }
  if (s.secure)
    exchange(*s.secure, target, body, headers, on_status, on_data);
  else
    exchange(s.plain, target, body, headers, on_status, on_data);
  beast::error_code ignored;
  s.lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
}

template <class Stream>
void UpstreamCall::exchange(Stream& stream, const std::string& target, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            const std::function<void(int status)>& on_status,
                            const std::function<void(std::string_view data)>& on_data) {
  Impl& s = *impl_;
  beast::error_code ec;

  http::request<http::string_body> req{http::verb::post, s.url.base_path + target, 11};
  req.set(http::field::host, s.url.host + ":" + s.url.port);
  req.set(http::field::user_agent, "precis-proxy");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "application/json, text/event-stream");
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  ec = s.run([&](auto handler) { http::async_write(stream, req, handler); });
  if (ec) s.fail(ec, "sending the request");

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  ec = s.run([&](auto handler) { http::async_read_header(stream, buffer, parser, handler); });
  if (ec) {
    if (!s.cancelled && not_http(ec))
      throw UpstreamError(
          UpstreamFailure::kInvalidResponse,
          "upstream " + s.url.text + " returned an invalid HTTP response (" + ec.message() + ")");
    s.fail(ec, "waiting for the response");
  }
  if (on_status) on_status(parser.get().result_int());
  char chunk[16384];
  while (!parser.is_done()) {
    s.throw_if_cancelled();
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    ec = s.run([&](auto handler) { http::async_read_some(stream, buffer, parser, handler); });
    if (ec == http::error::need_buffer) ec = {};
    const size_t n = sizeof chunk - parser.get().body().size;
    if (n > 0 && on_data) on_data(std::string_view(chunk, n));
    if (ec == asio::ssl::error::stream_truncated && !parser.is_done()) {
      // A TLS peer that closed without close_notify: the end of a close-delimited body.
      beast::error_code eof;
      parser.put_eof(eof);
      if (!eof) ec = {};
    }
    if (ec) {
      if (!s.cancelled && not_http(ec))
        throw UpstreamError(
            UpstreamFailure::kInvalidResponse,
            "upstream " + s.url.text + " returned an invalid HTTP body (" + ec.message() + ")");
      s.fail(ec, "reading the response");
    }
  }
}

}  // namespace precis::server
