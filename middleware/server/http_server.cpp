#include "middleware/server/http_server.hpp"

#include <boost/asio/post.hpp>
#include <cstdio>
#include <future>

#include "middleware/server/http_session.hpp"

namespace precis::server {

namespace net = boost::asio;
using net::ip::tcp;

HttpServer::HttpServer(HttpLimits limits, HttpHandler handler, int threads,
                       HttpRejectHook on_reject)
    : limits_(limits),
      handler_(std::move(handler)),
      on_reject_(std::move(on_reject)),
      threads_wanted_(std::max(1, threads)),
      work_(net::make_work_guard(ioc_)),
      accept_strand_(net::make_strand(ioc_)),
      acceptor_(accept_strand_) {}

HttpServer::~HttpServer() {
  stop();
}

uint16_t HttpServer::listen(const std::string& host, uint16_t port) {
  const tcp::endpoint ep(net::ip::make_address(host), port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(net::socket_base::max_listen_connections);
  return acceptor_.local_endpoint().port();
}

void HttpServer::start() {
  net::post(accept_strand_, [this] { do_accept(); });
  for (int i = 0; i < threads_wanted_; ++i) threads_.emplace_back([this] { ioc_.run(); });
}

void HttpServer::do_accept() {
  if (!acceptor_.is_open()) return;
  auto strand = net::make_strand(ioc_);
  acceptor_.async_accept(strand, [this, strand](boost::system::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;
    if (!ec) {
      auto session = std::make_shared<HttpSession>(std::move(socket), strand, *this);
      {
        std::lock_guard<std::mutex> lock(sessions_mu_);
        std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
        sessions_.push_back(session);
      }
      session->start();
    }
    // An accept error (e.g. out of file descriptors) drops that connection only.
    do_accept();
  });
}

void HttpServer::stop_accepting() {
  if (threads_.empty() || ioc_.stopped()) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  net::post(accept_strand_, [this, done] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    done->set_value();
  });
  fut.wait();
}

void HttpServer::close_connections() {
  std::vector<std::shared_ptr<HttpSession>> live;
  {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    for (auto& w : sessions_)
      if (auto s = w.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->close();
}

void HttpServer::stop() {
  work_.reset();
  ioc_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void HttpServer::handle(HttpRequest request, std::shared_ptr<Exchange> exchange) {
  handler_(std::move(request), std::move(exchange));
}

void HttpServer::reject(int status) {
  if (on_reject_) on_reject_(status);
}

}  // namespace precis::server
