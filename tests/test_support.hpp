// Helpers shared by the tests: scratch directories and cached tiny models.
#pragma once

#include <string>
#include <vector>

#include "engine/dtype.hpp"

namespace precis::test {

// A fresh, empty directory under the build tree, unique to this process and `name`; removed when
// the process exits (PRECIS_KEEP_TEST_TMP=1 keeps it).
std::string scratch_dir(const std::string& name);

// A model made by make_model(preset, seed, dtype), written once per test process and reused.
std::string cached_model(const std::string& preset, uint64_t seed, engine::DType dtype);

// Runs a shell command, returns its exit status; stdout goes to `out` when given.
int run_command(const std::string& cmd, std::string* out = nullptr);

// `precis serve ARGS...` (the real program) as a child process. The constructor waits up to
// `startup_s` for its first stdout line, "listening on http://127.0.0.1:PORT".
class ServeProcess {
 public:
  ServeProcess(const std::vector<std::string>& args, double startup_s);
  ~ServeProcess();  // kills it if it still runs
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }  // 0 when the first line named no port
  const std::string& first_line() const { return line_; }
  // SIGTERM, then up to `wait_s` for it to exit (SIGKILL after that). True when it exited by
  // itself; its wait status goes to `status`.
  bool stop(int& status, double wait_s = 30);

 private:
  int pid_ = -1;
  int port_ = 0;
  std::string line_;
};

}  // namespace precis::test
