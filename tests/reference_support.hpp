// The independent PyTorch reference (tests/reference/llama_reference.py) from C++ tests: its
// logits for a model and tokens, and the error measure the tests bound.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/test_support.hpp"

namespace precis::test {

inline const char* kReferencePython = "/usr/bin/python3";

inline std::string reference_script() {
  return std::string(kReferencePython) + " " + PRECIS_SOURCE_DIR +
         "/tests/reference/llama_reference.py";
}

// Logits [T, V] of `tokens` under the model in `model` (an HF directory), in float64, as f32.
inline std::vector<float> reference_logits(const std::string& model,
                                           const std::vector<int>& tokens) {
  std::string list;  // (appends: GCC 12 reports a false -Wrestrict for "lit" + string)
  for (int t : tokens) {
    if (!list.empty()) list += ',';
    list += std::to_string(t);
  }
  const std::string out = scratch_dir("ref") + "/logits.f32";
  std::string stdout_text;
  REQUIRE(
      run_command(reference_script() + " --model " + model + " --tokens " + list + " --out " + out,
                  &stdout_text) == 0);
  std::ifstream in(out, std::ios::binary);
  std::vector<float> v(std::filesystem::file_size(out) / sizeof(float));
  in.read(reinterpret_cast<char*>(v.data()),
          static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

// Largest |a - b| in a row divided by the row's largest |b|: per-element relative error is
// meaningless for logits near zero.
inline double max_row_relative_error(const std::vector<float>& a, const std::vector<float>& b,
                                     int V) {
  REQUIRE(a.size() == b.size());
  double worst = 0.0;
  for (size_t r = 0; r * V < b.size(); ++r) {
    double diff = 0.0, scale = 0.0;
    for (int v = 0; v < V; ++v) {
      diff = std::max(diff, std::fabs(double(a[r * V + v]) - b[r * V + v]));
      scale = std::max(scale, std::fabs(double(b[r * V + v])));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

}  // namespace precis::test
