// The shipped default model (models/default) against the PyTorch model that trained it
// (tools/train_default_model.py): same tokens, log-probs within 1e-3.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/engine.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

TEST_CASE("precis score on the shipped model matches the training code's PyTorch model") {
  const std::string dir = std::string(PRECIS_SOURCE_DIR) + "/models/default";
  if (!std::filesystem::exists(dir + "/config.json")) {
    WARN("skipped: no shipped model in " << dir);
    return;
  }
  const std::string text = "And it came to pass, when Boaz had eaten and drunk, that he went to lie down.";
  std::string out;
  REQUIRE(precis::test::run_command(std::string(PRECIS_BINARY) + " score --json --model " + dir +
                                        " --prompt '" + text + "'",
                                    &out) == 0);
  auto ours = nlohmann::json::parse(out);
  std::string ref_out;
  REQUIRE(precis::test::run_command("/usr/bin/python3 " + std::string(PRECIS_SOURCE_DIR) +
                                        "/tools/train_default_model.py --score " + dir + " '" + text + "'",
                                    &ref_out) == 0);
  auto ref = nlohmann::json::parse(ref_out);
  REQUIRE(ours["tokens"] == ref["tokens"]);
  CHECK(ours["logprobs"][0].is_null());
  double worst = 0;
  for (size_t i = 1; i < ref["logprobs"].size(); ++i)
    worst = std::max(worst, std::fabs(ours["logprobs"][i].get<double>() - ref["logprobs"][i].get<double>()));
  INFO("largest log-prob difference " << worst);
  CHECK(worst < 1e-3);
}
