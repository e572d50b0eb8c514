// The HTTP/1.1 server (Boost.Beast on Boost.Asio): an acceptor, one HttpSession per connection,
// and a pool of I/O threads. It turns bytes into HttpRequest and replies through Exchange; what
// a request means is the handler's business (see openai_api.hpp).
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "middleware/server/exchange.hpp"

namespace precis::server {

struct HttpLimits {
  size_t max_body_bytes = 1 << 20;    // 413 beyond
  size_t max_header_bytes = 8 << 10;  // 431 beyond
  double read_timeout_s = 30;         // header + body of one request; 408 when it runs out
  double request_timeout_s = 600;     // handling and replying; the connection closes after it
};

// Called on the connection's strand; must not block.
using HttpHandler = std::function<void(HttpRequest, std::shared_ptr<Exchange>)>;
// Told about requests the HTTP layer answered itself (408, 413, 431, 400 for bad HTTP).
using HttpRejectHook = std::function<void(int status)>;

class HttpSession;

class HttpServer {
 public:
  HttpServer(HttpLimits limits, HttpHandler handler, int threads, HttpRejectHook on_reject = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; returns the port (the one picked when `port` is 0). Throws on failure.
  uint16_t listen(const std::string& host, uint16_t port);
  // Starts accepting and the I/O threads.
  void start();
  // Closes the listening socket; open connections go on.
  void stop_accepting();
  // Requests read but not yet fully answered.
  int active_exchanges() const { return active_.load(); }
  // Closes every connection (their requests are aborted).
  void close_connections();
  // Stops the I/O threads. Idempotent.
  void stop();

  // For sessions.
  const HttpLimits& limits() const { return limits_; }
  void handle(HttpRequest request, std::shared_ptr<Exchange> exchange);
  void reject(int status);
  void exchange_started() { ++active_; }
  void exchange_finished() { --active_; }

 private:
  void do_accept();

  HttpLimits limits_;
  HttpHandler handler_;
  HttpRejectHook on_reject_;
  int threads_wanted_;
  boost::asio::io_context ioc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  boost::asio::strand<boost::asio::io_context::executor_type> accept_strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::mutex sessions_mu_;
  std::vector<std::weak_ptr<HttpSession>> sessions_;
  std::atomic<int> active_{0};
};

}  // namespace precis::server
