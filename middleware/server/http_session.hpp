// One connection (Beast's async server pattern): the session owns its socket, buffer and parser,
// lives through shared_from_this, and runs all its work on one strand; every handler checks its
// error code first. Limits: header and body size through the parser, a read deadline per request
// (408), and a deadline for handling it. While a request is handled the session keeps a read
// open, so a client that goes away is noticed at once and the request aborted.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "middleware/server/exchange.hpp"

namespace precis::server {

class HttpServer;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  HttpSession(boost::asio::ip::tcp::socket socket, Strand strand, HttpServer& server);
  void start();
  // From any thread: closes the connection, aborting its request.
  void close();
  const Strand& strand() const { return strand_; }

  // Exchange operations, on the strand. `id` names the exchange; stale ids are ignored.
  void respond(uint64_t id, HttpResponse response);
  void start_stream(uint64_t id, const std::string& content_type);
  void stream(uint64_t id, std::string data);
  void end_stream(uint64_t id);
  void set_abort(uint64_t id, std::function<void()> fn);

 private:
  enum class Phase { kRead, kHandle, kIdle, kClosing };

  void do_read();
  void on_read(boost::system::error_code ec);
  void dispatch_request();
  void reply_error_and_close(int status, const std::string& message, const std::string& code);
  void begin_exchange();
  void watch();
  void on_watch(boost::system::error_code ec, size_t n);
  void arm(Phase phase, double seconds);
  void on_deadline(boost::system::error_code ec, uint64_t generation);
  void enqueue(std::string bytes, bool last);
  void do_write();
  void on_write(boost::system::error_code ec);
  void finish_exchange();
  void abort_exchange();
  void graceful_close();
  void close_socket();

  boost::asio::ip::tcp::socket socket_;
  Strand strand_;
  HttpServer& server_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::asio::steady_timer deadline_;
  Phase phase_ = Phase::kRead;
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  bool watching_ = false;
  bool read_after_watch_ = false;
  bool closing_ = false;
  bool closed_ = false;

  // The current exchange.
  uint64_t exchange_id_ = 0;
  uint64_t aborted_id_ = 0;
  bool exchange_active_ = false;
  bool counted_ = false;
  bool response_started_ = false;
  bool response_queued_ = false;  // its last bytes are in queue_
  bool streaming_ = false;
  bool chunked_ = false;
  bool keep_alive_ = true;
  bool close_after_ = false;
  unsigned version_ = 11;
  std::function<void()> abort_;

  std::deque<std::string> queue_;
  bool writing_ = false;
};

}  // namespace precis::server
