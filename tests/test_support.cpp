#include "tests/test_support.hpp"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include "engine/make_model.hpp"

namespace fs = std::filesystem;

namespace precis::test {

namespace {
// The scratch directories this process made, removed when it exits (cached models are hundreds
// of MB: left behind, every test run would add its own). PRECIS_KEEP_TEST_TMP=1 keeps them, to
// look at after a failure.
struct ScratchDirs {
  std::mutex mu;
  std::vector<fs::path> dirs;
  ~ScratchDirs() {
    if (const char* keep = std::getenv("PRECIS_KEEP_TEST_TMP"); keep && *keep == '1') return;
    std::error_code ec;
    for (const fs::path& d : dirs) fs::remove_all(d, ec);
  }
};
ScratchDirs& scratch_dirs() {
  static ScratchDirs s;
  return s;
}
}  // namespace

std::string scratch_dir(const std::string& name) {
  fs::path dir = fs::path(PRECIS_TEST_TMP) / (name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  ScratchDirs& s = scratch_dirs();
  std::lock_guard<std::mutex> lock(s.mu);
  s.dirs.push_back(dir);
  return dir.string();
}

std::string cached_model(const std::string& preset, uint64_t seed, engine::DType dtype) {
  static std::mutex mu;
  static std::map<std::string, std::string> made;
  std::lock_guard<std::mutex> lock(mu);
  std::string key =
      preset + "-" + std::to_string(seed) + "-" + std::string(engine::dtype_name(dtype));
  auto it = made.find(key);
  if (it != made.end()) return it->second;
  engine::MakeModelOptions opts;
  opts.out_dir = scratch_dir("model-" + key);
  opts.preset = preset;
  opts.seed = seed;
  opts.dtype = dtype;
  engine::make_model(opts);
  made[key] = opts.out_dir;
  return opts.out_dir;
}

int run_command(const std::string& cmd, std::string* out) {
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) {
    if (out) out->append(buf.data(), n);
  }
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ServeProcess::ServeProcess(const std::vector<std::string>& args, double startup_s) {
  std::vector<std::string> argv_s{"precis", "serve"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (::pipe(out) != 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    ::execv(PRECIS_BINARY, argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(startup_s);
  while (pid_ > 0 && line_.find('\n') == std::string::npos &&
         std::chrono::steady_clock::now() < until) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    line_.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  const std::string prefix = "listening on http://127.0.0.1:";
  if (line_.rfind(prefix, 0) == 0) port_ = std::stoi(line_.substr(prefix.size()));
}

bool ServeProcess::stop(int& status, double wait_s) {
  status = -1;
  if (pid_ <= 0) return false;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  bool exited = true;
  while (::waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      exited = false;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return exited;
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

}  // namespace precis::test
