// One HTTP/1.1 POST to an upstream OpenAI-compatible server (proxy mode), with Boost.Beast on a
// private io_context driven by the calling thread: it blocks that thread (a generator worker),
// bounds every step (resolve + connect, send, each wait for bytes) by a timeout, and hands the
// response body over piece by piece as it arrives (for streamed responses). cancel() from any
// thread closes the connection.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace precis::server {

// "http[s]://host[:port][/base/path]"; the base path is prefixed to the request targets.
struct UpstreamUrl {
  std::string text;  // as configured
  bool tls = false;  // https
  std::string host;
  std::string port;       // "80" (http) or "443" (https) when not given
  std::string base_path;  // "" or "/base/path" (no trailing slash, no trailing /v1)
};
// Throws std::invalid_argument naming the URL.
UpstreamUrl parse_upstream_url(const std::string& url);

enum class UpstreamFailure {
  kUnreachable,      // resolve / connect / TLS handshake / send failed, or the connection broke
  kTimeout,          // no progress within the timeout
  kInvalidResponse,  // not HTTP
  kCancelled,        // cancel() was called
};

class UpstreamError : public std::runtime_error {
 public:
  UpstreamError(UpstreamFailure kind, const std::string& message)
      : std::runtime_error(message), kind(kind) {}
  UpstreamFailure kind;
};

class UpstreamCall {
 public:
  // https: the server's certificate must verify against `ca_file` (PEM) when given, else
  // against the system's trusted certificates, and match the URL's host.
  UpstreamCall(UpstreamUrl url, double timeout_s, const std::string& ca_file = "");
  ~UpstreamCall();
  UpstreamCall(const UpstreamCall&) = delete;
  UpstreamCall& operator=(const UpstreamCall&) = delete;

  // POSTs `body` (JSON) to base_path + target. `on_status` runs once with the status code after
  // the header arrived; `on_data` with each piece of the (de-chunked) body. Returns when the
  // body is complete; throws UpstreamError. The callbacks may throw to stop reading.
  void post(const std::string& target, const std::string& body,
            const std::vector<std::pair<std::string, std::string>>& headers,
            const std::function<void(int status)>& on_status,
            const std::function<void(std::string_view data)>& on_data);

  // Any thread, any time (also before post() or after it returned): closes the connection.
  void cancel();

 private:
  struct Impl;
  template <class Stream>
  void exchange(Stream& stream, const std::string& target, const std::string& body,
                const std::vector<std::pair<std::string, std::string>>& headers,
                const std::function<void(int status)>& on_status,
                const std::function<void(std::string_view data)>& on_data);
  std::shared_ptr<Impl> impl_;
};

}  // namespace precis::server
