#include "middleware/server/http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "middleware/server/api_error.hpp"
#include "middleware/server/http_server.hpp"
#include "middleware/server/sse.hpp"

namespace precis::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

class SessionExchange : public Exchange {
 public:
  SessionExchange(std::shared_ptr<HttpSession> s, uint64_t id) : s_(std::move(s)), id_(id) {}

  void respond(HttpResponse r) override {
    net::dispatch(s_->strand(),
                  [s = s_, id = id_, r = std::move(r)]() mutable { s->respond(id, std::move(r)); });
  }
  void start_stream(const std::string& content_type) override {
    net::dispatch(s_->strand(), [s = s_, id = id_, ct = content_type] { s->start_stream(id, ct); });
  }
  void stream(std::string data) override {
    net::dispatch(s_->strand(), [s = s_, id = id_, d = std::move(data)]() mutable {
      s->stream(id, std::move(d));
    });
  }
  void end_stream() override {
    net::dispatch(s_->strand(), [s = s_, id = id_] { s->end_stream(id); });
  }
  void post(std::function<void()> fn) override { net::post(s_->strand(), std::move(fn)); }
  void on_abort(std::function<void()> fn) override {
    net::dispatch(s_->strand(), [s = s_, id = id_, fn = std::move(fn)]() mutable {
      s->set_abort(id, std::move(fn));
    });
  }

 private:
  std::shared_ptr<HttpSession> s_;
  uint64_t id_;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

net::steady_timer::duration seconds(double s) {
  return std::chrono::duration_cast<net::steady_timer::duration>(std::chrono::duration<double>(s));
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, Strand strand, HttpServer& server)
    : socket_(std::move(socket)), strand_(std::move(strand)), server_(server), deadline_(strand_) {}

void HttpSession::start() {
  net::dispatch(strand_, [self = shared_from_this()] { self->do_read(); });
}

void HttpSession::close() {
  net::post(strand_, [self = shared_from_this()] { self->close_socket(); });
}

// ---- reading a request ------------------------------------------------------------------------

void HttpSession::do_read() {
  if (closed_ || closing_) return;
  const HttpLimits& lim = server_.limits();
  parser_.emplace();
  parser_->header_limit(
      static_cast<std::uint32_t>(std::min<size_t>(lim.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(lim.max_body_bytes);
  timed_out_ = false;
  arm(Phase::kRead, lim.read_timeout_s);
  http::async_read(socket_, buffer_, *parser_,
                   [self = shared_from_this()](error_code ec, size_t) { self->on_read(ec); });
}

void HttpSession::on_read(error_code ec) {
  if (closed_) return;
  if (timed_out_ && ec) {
    // Silence on an idle keep-alive connection just closes it; a request begun and not finished
    // in time gets 408.
    if (parser_->got_some())
      return reply_error_and_close(408, "the request was not received in time", "request_timeout");
    return close_socket();
  }
  if (ec == http::error::end_of_stream) return graceful_close();
  if (ec == http::error::body_limit)
    return reply_error_and_close(
        413,
        "request body is larger than " + std::to_string(server_.limits().max_body_bytes) + " bytes",
        "body_too_large");
  if (ec == http::error::header_limit)
    return reply_error_and_close(431,
                                 "request header is larger than " +
                                     std::to_string(server_.limits().max_header_bytes) + " bytes",
                                 "header_too_large");
  if (ec == http::error::partial_message) return close_socket();
  if (ec && ec.category() == http::make_error_code(http::error::bad_target).category())
    return reply_error_and_close(400, std::string("malformed HTTP request: ") + ec.message(),
                                 "bad_http");
  if (ec) return close_socket();
  dispatch_request();
}

void HttpSession::begin_exchange() {
  ++exchange_id_;
  exchange_active_ = true;
  counted_ = true;
  server_.exchange_started();
  response_started_ = response_queued_ = streaming_ = chunked_ = false;
  abort_ = nullptr;
}

void HttpSession::reply_error_and_close(int status, const std::string& message,
                                        const std::string& code) {
  server_.reject(status);
  begin_exchange();
  close_after_ = true;
  keep_alive_ = false;
  arm(Phase::kHandle, server_.limits().read_timeout_s);
  HttpResponse r;
  r.status = status;
  r.body = dump_json(error_json(ApiError(status, message, "invalid_request_error", "", code)));
  respond(exchange_id_, std::move(r));
}

void HttpSession::dispatch_request() {
  auto msg = parser_->release();
  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  req.path = req.target.substr(0, req.target.find('?'));
  for (const auto& f : msg)
    req.headers[lower(std::string(f.name_string()))] = std::string(f.value());
  keep_alive_ = msg.keep_alive();
  version_ = msg.version();
  req.body = std::move(msg.body());
  begin_exchange();
  arm(Phase::kHandle, server_.limits().request_timeout_s);
  if (!watching_) watch();
  auto ex = std::make_shared<SessionExchange>(shared_from_this(), exchange_id_);
  try {
    server_.handle(std::move(req), ex);
  } catch (const std::exception& e) {
    HttpResponse r;
    r.status = 500;
    r.body = dump_json(error_json(ApiError(500, e.what(), "server_error")));
    respond(exchange_id_, std::move(r));
  }
}

// While a request is handled (and between requests) a read stays open: it notices a client
// that goes away, and collects the bytes of the next request.
void HttpSession::watch() {
  watching_ = true;
  socket_.async_read_some(
      buffer_.prepare(4096),
      [self = shared_from_this()](error_code ec, size_t n) { self->on_watch(ec, n); });
}

void HttpSession::on_watch(error_code ec, size_t n) {
  watching_ = false;
  if (closed_) return;
  if (closing_) {
    if (ec) return close_socket();
    buffer_.consume(buffer_.size());  // drained and dropped
    return watch();
  }
  if (!ec) buffer_.commit(n);
  const bool want_read = read_after_watch_;
  read_after_watch_ = false;
  if (ec && !(ec == net::error::operation_aborted && want_read)) {
    abort_exchange();  // the client went away (or its idle time ran out)
    return close_socket();
  }
  if (exchange_active_) {
    const HttpLimits& lim = server_.limits();
    if (buffer_.size() < lim.max_header_bytes + lim.max_body_bytes) watch();
    return;
  }
  do_read();
}

// ---- deadlines ----------------------------------------------------------------------------------

void HttpSession::arm(Phase phase, double secs) {
  phase_ = phase;
  const uint64_t gen = ++deadline_generation_;
  deadline_.expires_after(seconds(secs));
  deadline_.async_wait(
      [self = shared_from_this(), gen](error_code ec) { self->on_deadline(ec, gen); });
}

void HttpSession::on_deadline(error_code ec, uint64_t gen) {
  if (ec || gen != deadline_generation_ || closed_) return;
  error_code ignored;
  switch (phase_) {
    case Phase::kRead:
      timed_out_ = true;
      socket_.cancel(ignored);  // on_read answers 408
      break;
    case Phase::kIdle:
      socket_.cancel(ignored);  // on_watch closes
      break;
    case Phase::kHandle:
    case Phase::kClosing:
      abort_exchange();
      close_socket();
      break;
  }
}

// ---- replying -----------------------------------------------------------------------------------

void HttpSession::respond(uint64_t id, HttpResponse r) {
  if (closed_ || id != exchange_id_ || !exchange_active_ || response_started_) return;
  response_started_ = true;
  http::response<http::string_body> res;
  res.version(version_);
  res.result(static_cast<unsigned>(r.status));
  res.set(http::field::server, "precis");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.keep_alive(keep_alive_ && !close_after_);
  res.body() = std::move(r.body);
  res.prepare_payload();
  std::ostringstream os;
  os << res;
  enqueue(os.str(), true);
}

void HttpSession::start_stream(uint64_t id, const std::string& content_type) {
  if (closed_ || id != exchange_id_ || !exchange_active_ || response_started_) return;
  response_started_ = streaming_ = true;
  chunked_ = version_ >= 11;
  if (!chunked_) close_after_ = true;  // HTTP/1.0: the body ends when the connection does
  std::string h = chunked_ ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.0 200 OK\r\n";
  h += "Server: precis\r\nContent-Type: " + content_type + "\r\nCache-Control: no-cache\r\n";
  if (chunked_) h += "Transfer-Encoding: chunked\r\n";
  h += (keep_alive_ && !close_after_) ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  h += "\r\n";
  enqueue(std::move(h), false);
}

void HttpSession::stream(uint64_t id, std::string data) {
  if (closed_ || id != exchange_id_ || !exchange_active_ || !streaming_ || response_queued_) return;
  if (data.empty()) return;
  if (chunked_) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    data = size + data + "\r\n";
  }
  enqueue(std::move(data), false);
}

void HttpSession::end_stream(uint64_t id) {
  if (closed_ || id != exchange_id_ || !exchange_active_ || !streaming_ || response_queued_) return;
  enqueue(chunked_ ? "0\r\n\r\n" : "", true);
}

void HttpSession::set_abort(uint64_t id, std::function<void()> fn) {
  if (id == aborted_id_) {
    if (fn) fn();  // already gone: abort at once
    return;
  }
  if (closed_ || id != exchange_id_ || !exchange_active_) return;
  abort_ = std::move(fn);
}

void HttpSession::enqueue(std::string bytes, bool last) {
  if (last) response_queued_ = true;
  if (!bytes.empty()) queue_.push_back(std::move(bytes));
  if (!writing_) do_write();
}

void HttpSession::do_write() {
  if (closed_) return;
  if (queue_.empty()) {
    if (response_queued_ && exchange_active_) finish_exchange();
    return;
  }
  writing_ = true;
  net::async_write(socket_, net::buffer(queue_.front()),
                   [self = shared_from_this()](error_code ec, size_t) { self->on_write(ec); });
}

void HttpSession::on_write(error_code ec) {
  writing_ = false;
  if (closed_) return;
  if (ec) {
    abort_exchange();
    return close_socket();
  }
  queue_.pop_front();
  do_write();
}

void HttpSession::finish_exchange() {
  exchange_active_ = false;
  abort_ = nullptr;
  if (counted_) counted_ = false, server_.exchange_finished();
  if (close_after_ || !keep_alive_) return graceful_close();
  if (watching_) {
    if (buffer_.size() > 0) {
      // The next request is (partly) here already: stop watching and parse it.
      read_after_watch_ = true;
      error_code ignored;
      socket_.cancel(ignored);
    } else {
      arm(Phase::kIdle, server_.limits().read_timeout_s);
    }
    return;
  }
  do_read();
}

void HttpSession::abort_exchange() {
  if (!exchange_active_) return;
  exchange_active_ = false;
  aborted_id_ = exchange_id_;
  auto fn = std::move(abort_);
  abort_ = nullptr;
  if (counted_) counted_ = false, server_.exchange_finished();
  if (fn) fn();
}

// Half-closes, then reads and drops what the client still sends (so that it sees our reply
// rather than a reset), until it closes or a short deadline passes.
void HttpSession::graceful_close() {
  if (closed_ || closing_) return;
  closing_ = true;
  error_code ignored;
  socket_.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  arm(Phase::kClosing, std::min(2.0, server_.limits().read_timeout_s));
  if (!watching_) watch();
}

void HttpSession::close_socket() {
  if (closed_) return;
  abort_exchange();
  closed_ = true;
  error_code ignored;
  deadline_.cancel();
  socket_.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace precis::server
