// A small blocking HTTP/1.1 client for the server tests: POSIX sockets on loopback with send and
// receive timeouts, so that no test can hang. Chunked bodies are decoded; SSE bodies are split
// into their "data:" payloads.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace precis::test {

// A two-paragraph prompt (Ruth 1:1-2, public domain) the server and proxy tests send.
inline constexpr const char* kRuthPrompt =
    "Now it came to pass in the days when the judges ruled, that there was a famine in the land. "
    "And a certain man of Bethlehemjudah went to sojourn in the country of Moab, he, and his wife, "
    "and his two sons.\n\nAnd the name of the man was Elimelech, and the name of his wife Naomi, "
    "and the name of his two sons Mahlon and Chilion, Ephrathites of Bethlehemjudah.";

class Conn {
 public:
  explicit Conn(int port, double timeout_s = 30) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    timeval tv{};
    tv.tv_sec = static_cast<long>(timeout_s);
    tv.tv_usec = static_cast<long>((timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Conn() { close(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Whether bytes (or EOF) are waiting to be read.
  bool readable() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  // Reads what arrives next; "" on EOF, error or timeout.
  std::string read_some() {
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  // Until the peer closes (or the timeout).
  std::string read_all() {
    std::string out, s;
    while (!(s = read_some()).empty()) out += s;
    return out;
  }
  std::string read_until(const std::string& needle) {
    std::string out, s;
    while (out.find(needle) == std::string::npos && !(s = read_some()).empty()) out += s;
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

inline Reply parse_reply(const std::string& raw) {
  Reply r;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) return r;
  r.status = std::stoi(raw.substr(raw.find(' ') + 1, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value[0] == ' ') value.erase(0, 1);
    r.headers[name] = value;
    pos = eol + 2;
  }
  std::string body = raw.substr(end + 4);
  if (r.headers["transfer-encoding"] == "chunked") {
    std::string out;
    size_t p = 0;
    while (p < body.size()) {
      const size_t eol = body.find("\r\n", p);
      if (eol == std::string::npos) break;
      const size_t len = std::stoul(body.substr(p, eol - p), nullptr, 16);
      if (len == 0) break;
      out += body.substr(eol + 2, len);
      p = eol + 2 + len + 2;
    }
    body = out;
  }
  r.body = body;
  return r;
}

inline std::string request_text(const std::string& method, const std::string& target,
                                const std::string& body,
                                const std::vector<std::string>& headers = {}, bool close = true) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  if (!body.empty() || method == "POST")
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) req += "Connection: close\r\n";
  return req + "\r\n" + body;
}

// One request on its own connection.
inline Reply http(int port, const std::string& method, const std::string& target,
                  const std::string& body = "", const std::vector<std::string>& headers = {}) {
  Conn c(port);
  if (!c.connected() || !c.send(request_text(method, target, body, headers))) return {};
  return parse_reply(c.read_all());
}

// Server side, for fake upstreams: one request (header and Content-Length body) read from an
// accepted socket, bounded in time (5 s).
inline std::string read_request(int fd) {
  std::string in;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    const size_t end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      const size_t cl = in.find("Content-Length: ");
      const size_t len = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
      if (in.size() >= end + 4 + len) break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[8192];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  return in;
}

// The payloads of "data: ..." events, in order.
inline std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p < body.size()) {
    size_t end = body.find("\n\n", p);
    if (end == std::string::npos) end = body.size();
    const std::string ev = body.substr(p, end - p);
    if (ev.compare(0, 6, "data: ") == 0) out.push_back(ev.substr(6));
    p = end + 2;
  }
  return out;
}

}  // namespace precis::test
