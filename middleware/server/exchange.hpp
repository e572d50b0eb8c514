// The seam between the HTTP layer and the API: a request as plain data, and the reply channel
// of one HTTP exchange. The API never sees Beast types; the HTTP layer never sees the pipeline.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace precis::server {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // as sent, query included
  std::string path;                            // target without the query
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields (Allow, ...)
};

// One request's reply channel. Every method may be called from any thread: the work is handed
// to the connection's strand. Exactly one of respond() or start_stream() ... end_stream() is
// used per exchange; calls after the client went away are ignored.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void respond(HttpResponse response) = 0;
  // Sends a 200 header for a streamed body (chunked transfer encoding).
  virtual void start_stream(const std::string& content_type) = 0;
  virtual void stream(std::string data) = 0;
  virtual void end_stream() = 0;
  // Runs `fn` on the connection's strand (serialised with the connection's other work).
  virtual void post(std::function<void()> fn) = 0;
  // `fn` runs once, on the strand, if the client goes away or the request time runs out before
  // the reply is complete. Set it before starting work that must be cancelled.
  virtual void on_abort(std::function<void()> fn) = 0;
};

}  // namespace precis::server
