#include "tests/test_support.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>

#include "engine/make_model.hpp"

namespace fs = std::filesystem;

namespace precis::test {

std::string scratch_dir(const std::string& name) {
  fs::path dir = fs::path(PRECIS_TEST_TMP) / (name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
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

}  // namespace precis::test
