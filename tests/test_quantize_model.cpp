// `precis quantize` (HF directory -> GGUF in llama.cpp's layout) and the GGUF model path: an f32
// GGUF scores exactly as its source directory does (the q/k permutation and adjacent-pair rotary
// undo each other), quantized ones within their quantization error; errors are clear.
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tests/test_support.hpp"

using nlohmann::json;

namespace {

const char* kText = "In the beginning God created the heaven and the earth.";

json score(const std::string& model) {
  std::string out;
  REQUIRE(precis::test::run_command(std::string(PRECIS_BINARY) + " score --json --model " + model +
                                        " --prompt '" + kText + "' 2>/dev/null",
                                    &out) == 0);
  return json::parse(out);
}

std::string quantize(const std::string& dir, const std::string& type, std::string* report) {
  const std::string out = precis::test::scratch_dir("quantize-" + type) + "/model.gguf";
  REQUIRE(precis::test::run_command(std::string(PRECIS_BINARY) + " quantize --model " + dir +
                                        " --type " + type + " --out " + out,
                                    report) == 0);
  return out;
}

double worst_logprob_difference(const json& a, const json& b) {
  REQUIRE(a["tokens"] == b["tokens"]);
  double worst = 0;
  for (size_t i = 1; i < a["logprobs"].size(); ++i)
    worst =
        std::max(worst, std::fabs(a["logprobs"][i].get<double>() - b["logprobs"][i].get<double>()));
  return worst;
}

}  // namespace

TEST_CASE("quantize: an f32 GGUF scores as its Hugging Face source") {
  const std::string dir = precis::test::cached_model("small", 3, precis::engine::DType::F32);
  std::string report;
  const std::string gguf = quantize(dir, "f32", &report);
  const double worst = worst_logprob_difference(score(dir), score(gguf));
  INFO(report << "largest log-prob difference " << worst);
  CHECK(worst < 1e-4);
}

TEST_CASE("quantize: q8_0, q4_0 and q4_1 files load, score close to the source, report errors") {
  const std::string dir = precis::test::cached_model("small", 3, precis::engine::DType::F32);
  const json ref = score(dir);
  // Bounds: relative RMS weight error of the type (q8_0 ~0.3%, 4-bit ~10%), and the log-prob
  // drift it causes on this random model.
  const std::vector<std::tuple<std::string, double, double>> cases = {
      {"q8_0", 0.01, 0.05}, {"q4_0", 0.15, 1.0}, {"q4_1", 0.15, 1.0}};
  for (const auto& [type, max_rms, max_drift] : cases) {
    std::string report;
    const std::string gguf = quantize(dir, type, &report);
    INFO(type << ": " << report);
    const size_t at = report.find(type + " ");
    REQUIRE(at != std::string::npos);
    const double rms = std::stod(report.substr(report.find("RMS error ", at) + 10)) / 100;
    CHECK(rms > 0);
    CHECK(rms < max_rms);
    const double worst = worst_logprob_difference(ref, score(gguf));
    INFO("largest log-prob difference " << worst);
    CHECK(worst < max_drift);
    CHECK(report.find("MiB ->") != std::string::npos);
  }
}

TEST_CASE("quantize and GGUF loading: clear errors") {
  std::string out;
  CHECK(precis::test::run_command(std::string(PRECIS_BINARY) +
                                      " quantize --model /nonexistent --type q8_0 --out /tmp/x.gguf"
                                      " 2>&1",
                                  &out) != 0);
  CHECK(out.find("/nonexistent") != std::string::npos);
  const std::string dir = precis::test::cached_model("tiny", 3, precis::engine::DType::F32);
  CHECK(precis::test::run_command(std::string(PRECIS_BINARY) + " quantize --model " + dir +
                                      " --type q2_k --out /tmp/x.gguf 2>&1",
                                  &out) != 0);
  CHECK(out.find("--type") != std::string::npos);
  // A truncated GGUF is a load error naming the file, not a crash.
  std::string report;
  const std::string gguf = quantize(dir, "q8_0", &report);
  const std::string cut = precis::test::scratch_dir("quantize-cut") + "/cut.gguf";
  REQUIRE(precis::test::run_command("head -c 3000 " + gguf + " > " + cut) == 0);
  CHECK(precis::test::run_command(
            std::string(PRECIS_BINARY) + " score --model " + cut + " --prompt hi 2>&1", &out) != 0);
  INFO(out);
  CHECK(out.find(cut) != std::string::npos);
}
