// The scorer, planner and task kinds are enums chosen once at configuration; their names live in
// one place each. Every accepted name round-trips, and a bad one is an error naming the field.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "middleware/server/api_error.hpp"
#include "middleware/server/openai_protocol.hpp"
#include "precis/precis.hpp"

using namespace precis;
using nlohmann::json;

namespace {

std::string config_error(const json& config) {
  try {
    PipelineConfig::from_json(config.dump());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("every kind name round-trips through parse and to_string") {
  REQUIRE(scorer_kind_names() == std::vector<std::string>{"stat", "lm"});
  for (const std::string& name : scorer_kind_names()) {
    const auto kind = parse_scorer_kind(name);
    REQUIRE(kind.has_value());
    CHECK(to_string(*kind) == name);
  }
  REQUIRE(planner_kind_names() == std::vector<std::string>{"template", "lm", "none"});
  for (const std::string& name : planner_kind_names()) {
    const auto kind = parse_planner_kind(name);
    REQUIRE(kind.has_value());
    CHECK(to_string(*kind) == name);
  }
  REQUIRE(task_kinds().size() == 8);
  for (const std::string& name : task_kinds()) {
    const auto kind = parse_task_kind(name);
    REQUIRE(kind.has_value());
    CHECK(to_string(*kind) == name);
  }
  CHECK(to_string(PlannerKind::templated) == "template");
  for (const char* bad : {"", "LM", "templates", "oracle"}) {
    CHECK_FALSE(parse_scorer_kind(bad).has_value());
    CHECK_FALSE(parse_planner_kind(bad).has_value());
    CHECK_FALSE(parse_task_kind(bad).has_value());
  }
}

TEST_CASE("the config file takes the same strings and names the field of a bad one") {
  for (const std::string& name : scorer_kind_names()) {
    const auto c = PipelineConfig::from_json(json{{"compress", {{"scorer", name}}}}.dump());
    CHECK(c.compress.scorer == parse_scorer_kind(name));
  }
  for (const std::string& name : planner_kind_names()) {
    const auto c = PipelineConfig::from_json(json{{"plan", {{"planner", name}}}}.dump());
    CHECK(c.plan_enabled == (name != "none"));
    if (name != "none") CHECK(c.plan.planner == parse_planner_kind(name));
  }
  CHECK_THAT(config_error({{"compress", {{"scorer", "magic"}}}}),
             Catch::StartsWith("/compress/scorer: must be one of"));
  CHECK_THAT(config_error({{"plan", {{"planner", "oracle"}}}}),
             Catch::StartsWith("/plan/planner: must be one of"));
}

TEST_CASE("the HTTP precis.plan takes the same strings and names the field of a bad one") {
  for (const std::string& name : planner_kind_names()) {
    const json body = {{"prompt", "x"}, {"precis", {{"plan", name}}}};
    const auto req = server::parse_completion_request(body.dump(), PipelineConfig());
    REQUIRE(req.prompts.size() == 1);
    CHECK(req.prompts[0].planner == parse_planner_kind(name));
  }
  const json bad = {{"prompt", "x"}, {"precis", {{"plan", "oracle"}}}};
  try {
    server::parse_completion_request(bad.dump(), PipelineConfig());
    FAIL("precis.plan \"oracle\" accepted");
  } catch (const server::ApiError& e) {
    CHECK(e.status == 400);
    CHECK(e.param == "/precis/plan");
  }
}

TEST_CASE("an enum value outside the kinds is refused by validate, naming the field") {
  CompressOptions c;
  c.rate = 0.5;
  c.scorer = static_cast<ScorerKind>(9);
  CHECK_THROWS_WITH(c.validate(), Catch::StartsWith("scorer"));
  PlanOptions p;
  p.planner = PlannerKind::none;  // the pipeline's "no plan"; make_plan needs a planner
  CHECK_THROWS_WITH(p.validate(), Catch::StartsWith("planner"));
}
