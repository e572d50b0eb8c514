// A bounded load generator for the HTTP server: C concurrent keep-alive connections (default 64)
// for a fixed time (default 30 s), each posting small /v1/completions requests in a loop over
// loopback. Prints requests/s, p50/p90/p99 latency, and the counts of failed (non-200) and lost
// (no response, connection error) requests; exits non-zero when any failed or was lost.
//
//   server_load [--seconds 30] [--connections 64] [--max-tokens 8]
//               [--url http://127.0.0.1:PORT] [--model DIR] [--threads 2]
//
// Without --url, the server runs in-process on 127.0.0.1 (any free port) on --model, or on a tiny
// model made into a temporary directory when --model is not given.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/make_model.hpp"
#include "middleware/server/pipeline_generator.hpp"
#include "middleware/server/server.hpp"
#include "precis/precis.hpp"

using namespace precis;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  double seconds = 30;
  int connections = 64;
  int max_tokens = 8;
  std::string url;
  std::string model;
  int threads = 2;
  double timeout_s = 30;  // per request: no answer by then counts as lost
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "server_load: %s\nusage: server_load [--seconds S] [--connections C] "
               "[--max-tokens N] [--url http://HOST:PORT] [--model DIR] [--threads T] "
               "[--timeout S]\n",
               msg);
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    try {
      if (a == "--seconds") {
        o.seconds = std::stod(value());
      } else if (a == "--connections") {
        o.connections = std::stoi(value());
      } else if (a == "--max-tokens") {
        o.max_tokens = std::stoi(value());
      } else if (a == "--url") {
        o.url = value();
      } else if (a == "--model") {
        o.model = value();
      } else if (a == "--threads") {
        o.threads = std::stoi(value());
      } else if (a == "--timeout") {
        o.timeout_s = std::stod(value());
      } else if (a == "-h" || a == "--help") {
        usage("help");
      } else {
        usage(("unknown argument " + a).c_str());
      }
    } catch (const std::logic_error&) {
      usage(("bad value for " + a).c_str());
    }
  }
  if (o.seconds <= 0 || o.connections <= 0 || o.max_tokens <= 0 || o.timeout_s <= 0)
    usage("--seconds, --connections, --max-tokens and --timeout must be positive");
  return o;
}

// "http://host:port[/...]" -> host, port.
void parse_url(const std::string& url, std::string& host, int& port) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  const size_t colon = rest.rfind(':');
  host = colon == std::string::npos ? rest : rest.substr(0, colon);
  port = colon == std::string::npos ? 80 : std::stoi(rest.substr(colon + 1));
  if (host.empty()) usage("bad --url");
}

// One blocking keep-alive connection with send/receive timeouts.
class Conn {
 public:
  Conn(const sockaddr_in& addr, double timeout_s) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    timeval tv{};
    tv.tv_sec = static_cast<long>(timeout_s);
    tv.tv_usec = static_cast<long>((timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) close();
  }
  ~Conn() { close(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads one response; returns its status (0: lost), sets `keep_alive`.
  int read_response(bool& keep_alive) {
    keep_alive = false;
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return 0;
    }
    const std::string head = buf_.substr(0, header_end);
    if (head.compare(0, 5, "HTTP/") != 0 || head.size() < 12) return 0;
    const int status = std::atoi(head.c_str() + 9);
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    keep_alive = lower.find("\r\nconnection: close") == std::string::npos;
    buf_.erase(0, header_end + 4);
    const size_t cl = lower.find("\r\ncontent-length:");
    if (cl != std::string::npos) {
      const size_t len = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
      while (buf_.size() < len) {
        if (!fill()) return 0;
      }
      buf_.erase(0, len);
      return status;
    }
    if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
      for (;;) {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) {
          if (!fill()) return 0;
        }
        const size_t len = std::strtoul(buf_.c_str(), nullptr, 16);
        while (buf_.size() < eol + 2 + len + 2) {
          if (!fill()) return 0;
        }
        buf_.erase(0, eol + 2 + len + 2);
        if (len == 0) return status;  // (no trailers expected)
      }
    }
    // Neither: the body runs to EOF.
    while (fill()) {
    }
    keep_alive = false;
    buf_.clear();
    return status;
  }

 private:
  bool fill() {
    char tmp[16384];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
};

struct WorkerStats {
  std::vector<double> latencies_ms;  // successful requests
  long ok = 0;
  long failed = 0;  // a response other than 200
  long lost = 0;    // no response, or a connection error
  long reconnects = 0;
};

const char* kPrompts[] = {
    "And the name of the man was Elimelech, and the name of his wife Naomi.",
    "In the beginning God created the heaven and the earth.",
    "Now it came to pass in the days when the judges ruled, that there was a famine in the land.",
    "And Ruth said, Intreat me not to leave thee, or to return from following after thee.",
};

void worker(int id, const sockaddr_in& addr, const std::string& host_header, const Options& o,
            Clock::time_point until, WorkerStats& st) {
  std::unique_ptr<Conn> conn;
  long n = 0;
  while (Clock::now() < until) {
    if (!conn || !conn->ok()) {
      if (conn) ++st.reconnects;
      conn = std::make_unique<Conn>(addr, o.timeout_s);
      if (!conn->ok()) {
        ++st.lost;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
    }
    const char* prompt = kPrompts[static_cast<size_t>(id + n++) % std::size(kPrompts)];
    // No "model": the server's own (an unknown name would be a 404).
    const std::string body = std::string("{\"prompt\":\"") + prompt +
                             "\",\"max_tokens\":" + std::to_string(o.max_tokens) + "}";
    const std::string req =
        "POST /v1/completions HTTP/1.1\r\nHost: " + host_header +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    const auto t0 = Clock::now();
    if (!conn->send_all(req)) {
      ++st.lost;
      conn->close();
      continue;
    }
    bool keep_alive = false;
    const int status = conn->read_response(keep_alive);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (status == 0) {
      ++st.lost;
      conn->close();
      continue;
    }
    if (status == 200) {
      ++st.ok;
      st.latencies_ms.push_back(ms);
    } else {
      ++st.failed;
      if (st.failed <= 3) std::fprintf(stderr, "server_load: connection %d got %d\n", id, status);
    }
    if (!keep_alive) conn->close();
  }
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p / 100.0 * sorted.size()));
  return sorted[i];
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);

  std::unique_ptr<server::Server> srv;
  std::filesystem::path tmp_model;
  std::string host = "127.0.0.1";
  int port = 0;
  try {
    if (!o.url.empty()) {
      parse_url(o.url, host, port);
    } else {
      std::string model = o.model;
      if (model.empty()) {
        tmp_model = std::filesystem::temp_directory_path() /
                    ("precis-server-load-" + std::to_string(::getpid()));
        std::filesystem::remove_all(tmp_model);
        engine::MakeModelOptions mm;
        mm.out_dir = tmp_model.string();
        mm.preset = "tiny";
        mm.seed = 7;
        mm.dtype = engine::DType::F32;
        engine::make_model(mm);
        model = mm.out_dir;
      }
      PipelineConfig cfg;
      cfg.model.path = model;
      cfg.model.kv_cache_mb = 64;
      cfg.compress_enabled = true;
      cfg.plan_enabled = false;
      cfg.generate.max_tokens = o.max_tokens;
      cfg.generate.ignore_eos = true;
      ServerOptions so;
      so.host = host;
      so.port = 0;
      so.threads = o.threads;
      // Every connection may have a request in flight: none of them may get 429.
      so.max_concurrent_requests = std::max(64, o.connections);
      auto pipeline = std::make_shared<Pipeline>(cfg);
      srv = std::make_unique<server::Server>(
          so, std::make_shared<server::PipelineGenerator>(pipeline, so.max_concurrent_requests));
      port = srv->start();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "server_load: cannot start: %s\n", e.what());
    if (!tmp_model.empty()) std::filesystem::remove_all(tmp_model);
    return 2;
  }

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "server_load: host must be an IPv4 address: %s\n", host.c_str());
    return 2;
  }
  const std::string host_header = host + ":" + std::to_string(port);

  std::printf("server_load: %d connections for %.0f s against %s (max_tokens %d)%s\n",
              o.connections, o.seconds, host_header.c_str(), o.max_tokens,
              srv ? ", in-process server" : "");
  std::fflush(stdout);

  std::vector<WorkerStats> stats(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const auto until =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  for (int i = 0; i < o.connections; ++i)
    threads.emplace_back(worker, i, std::cref(addr), std::cref(host_header), std::cref(o), until,
                         std::ref(stats[static_cast<size_t>(i)]));
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  if (srv) srv->stop();
  srv.reset();
  if (!tmp_model.empty()) std::filesystem::remove_all(tmp_model);

  std::vector<double> lat;
  long ok = 0, failed = 0, lost = 0, reconnects = 0;
  for (const auto& s : stats) {
    lat.insert(lat.end(), s.latencies_ms.begin(), s.latencies_ms.end());
    ok += s.ok;
    failed += s.failed;
    lost += s.lost;
    reconnects += s.reconnects;
  }
  std::sort(lat.begin(), lat.end());
  std::printf("requests:    %ld ok, %ld failed (non-200), %ld lost (no response / conn error)\n",
              ok, failed, lost);
  std::printf("throughput:  %.1f requests/s over %.1f s (%ld reconnects)\n",
              static_cast<double>(ok) / elapsed, elapsed, reconnects);
  std::printf("latency ms:  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", percentile(lat, 50),
              percentile(lat, 90), percentile(lat, 99), lat.empty() ? 0.0 : lat.back());
  const bool pass = failed == 0 && lost == 0 && ok > 0;
  std::printf("server_load: %s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
