// The pipeline through the SDK, the CLI and a config file; config validation; concurrency; and
// the examples, built and run as a user would.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "precis/precis.hpp"
#include "tests/test_support.hpp"

using namespace precis;

namespace {

std::string model_dir() {
  return test::cached_model("tiny", 21, engine::DType::F32);
}

const char* kPrompt =
    "Now it came to pass in the days when the judges ruled, that there was a famine in the land. "
    "And a certain man of Bethlehemjudah went to sojourn in the country of Moab, he, and his wife, "
    "and his two sons.\n\nAnd the name of the man was Elimelech, and the name of his wife Naomi, "
    "and the name of his two sons Mahlon and Chilion, Ephrathites of Bethlehemjudah.";

nlohmann::json config_json() {
  return {
      {"model", {{"path", model_dir()}, {"kv_cache_mb", 32}}},
      {"compress", {{"rate", 0.5}, {"scorer", "stat"}}},
      {"plan", {{"planner", "template"}, {"budget_tokens", 80}, {"when", "always"}}},
      {"generate", {{"max_tokens", 12}, {"temperature", 0.8}, {"seed", 5}, {"ignore_eos", true}}}};
}

std::string write_config(const nlohmann::json& j, const std::string& name) {
  const std::string path = test::scratch_dir(name) + "/config.json";
  std::ofstream(path) << j.dump(2);
  return path;
}

// What a string becomes after the CLI's JSON output (invalid UTF-8 replaced by U+FFFD): a random
// model's text may contain any bytes.
std::string as_json_text(const std::string& s) {
  return nlohmann::json::parse(
             nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .get<std::string>();
}

std::string config_error(const std::string& text) {
  try {
    PipelineConfig::from_json(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("the same request through SDK, config file and CLI gives the same result") {
  const std::string path = write_config(config_json(), "pipeline-same");
  PipelineConfig cfg;
  cfg.model.path = model_dir();
  cfg.model.kv_cache_mb = 32;
  cfg.compress.rate = 0.5;
  cfg.plan.budget_tokens = 80;
  cfg.plan.when = "always";
  cfg.generate.max_tokens = 12;
  cfg.generate.temperature = 0.8f;
  cfg.generate.seed = 5;
  cfg.generate.ignore_eos = true;
  Request req;
  req.prompt = kPrompt;
  const Result from_code = Pipeline(cfg).run(req);
  const Result from_file = Pipeline::from_config_file(path).run(req);
  CHECK(from_code.text == from_file.text);
  CHECK(from_code.final_prompt == from_file.final_prompt);
  CHECK(from_code.compressed_tokens < from_code.original_tokens);
  CHECK(!from_code.plan.code.empty());

  std::string out;
  const std::string prompt_file = test::scratch_dir("pipeline-prompt") + "/prompt.txt";
  std::ofstream(prompt_file) << kPrompt;
  REQUIRE(test::run_command(std::string(PRECIS_BINARY) + " run --json --config " + path +
                                " --prompt-file " + prompt_file,
                            &out) == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["text"] == as_json_text(from_code.text));
  CHECK(j["final_prompt"] == as_json_text(from_code.final_prompt));
  CHECK(j["usage"]["compressed_prompt_tokens"] == from_code.compressed_tokens);
}

TEST_CASE("bad configs fail with the JSON path of the field") {
  auto with = [](const std::string& section, const nlohmann::json& patch) {
    nlohmann::json j = config_json();
    for (auto it = patch.begin(); it != patch.end(); ++it) j[section][it.key()] = it.value();
    return j.dump();
  };
  CHECK_THAT(config_error(with("compress", {{"rate", 0}})), Catch::StartsWith("/compress/rate:"));
  CHECK_THAT(config_error(with("compress", {{"rate", "half"}})),
             Catch::StartsWith("/compress/rate: expected a number"));
  CHECK_THAT(config_error(with("compress", {{"context_rate_spread", 1.5}})),
             Catch::StartsWith("/compress/context_rate_spread: must be in [0, 1]"));
  CHECK(PipelineConfig::from_json(with("compress", {{"context_rate_spread", 0.3}}))
            .compress.context_rate_spread == 0.3);
  CHECK_THAT(config_error(with("compress", {{"ratee", 0.5}})),
             Catch::StartsWith("/compress/ratee: unknown key"));
  CHECK_THAT(config_error(with("plan", {{"budget_tokens", -5}})),
             Catch::StartsWith("/plan/budget_tokens:"));
  CHECK_THAT(config_error(with("model", {{"path", "/no/such/model"}})),
             Catch::StartsWith("/model/path: no model directory or GGUF file at /no/such/model"));
  {  // A GGUF file is a model path, as --model takes (its contents are checked when loading).
    const std::string gguf = test::scratch_dir("config-gguf-path") + "/model.gguf";
    std::ofstream(gguf) << "GGUF";
    CHECK(config_error(with("model", {{"path", gguf}})) == "(accepted)");
  }
  CHECK_THAT(config_error(with("generate", {{"top_p", 1.5}})),
             Catch::StartsWith("/generate/top_p:"));
  CHECK_THAT(config_error(with("generate", {{"stop", {"a", 3}}})),
             Catch::StartsWith("/generate/stop/1:"));
  CHECK_THAT(config_error(with("plan", {{"planner", "oracle"}})),
             Catch::StartsWith("/plan/planner: must be one of"));
  CHECK_THAT(config_error(R"({"compress": 3})"),
             Catch::StartsWith("/compress: expected an object"));
  CHECK_THAT(config_error(R"({"extra": true})"), Catch::StartsWith("/extra: unknown key"));
  CHECK_THAT(config_error("{not json"), Catch::StartsWith("/: not valid JSON"));
  {  // The message says where and what, but quotes none of the file (it may hold a key).
    const std::string e = config_error(R"({"upstream": {"api_key": "sk-live-4242" oops}})");
    INFO(e);
    CHECK_THAT(e, Catch::StartsWith("/: not valid JSON"));
    CHECK_THAT(e, Catch::Contains("line 1, column"));
    CHECK(e.find("sk-live-4242") == std::string::npos);
    CHECK(e.find("oops") == std::string::npos);
  }
  CHECK(config_error(config_json().dump()) == "(accepted)");
}

TEST_CASE("eight threads calling run concurrently all get correct, complete results") {
  PipelineConfig cfg = PipelineConfig::from_json(config_json().dump());
  Pipeline pipeline(cfg);
  std::vector<Request> reqs(8);
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].prompt = kPrompt;
    reqs[i].question = "Who was the wife of man number " + std::to_string(i) + "?";
    GenerateOptions g = cfg.generate;
    g.seed = 100 + i;
    reqs[i].generate = g;
  }
  std::vector<Result> got(reqs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i)
    threads.emplace_back([&, i] { got[i] = pipeline.run(reqs[i]); });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Result alone = pipeline.run(reqs[i]);
    CHECK(got[i].completion_tokens == 12);
    CHECK(got[i].text == alone.text);
    CHECK(got[i].final_prompt == alone.final_prompt);
  }
}

TEST_CASE("the examples build and run") {
  std::string out;
  REQUIRE(test::run_command(std::string(PRECIS_EXAMPLE_DIR) + "/example_sdk_minimal " + model_dir(),
                            &out) == 0);
  CHECK_THAT(out, Catch::Contains("prompt tokens:"));
  CHECK_THAT(out, Catch::Contains("def "));

  // Each shipped config, pointed at the test model, is valid and runs.
  for (const char* name : {"embedded.json", "embedded_lm.json"}) {
    std::ifstream in(std::string(PRECIS_SOURCE_DIR) + "/examples/configs/" + name);
    nlohmann::json j = nlohmann::json::parse(in);
    j["model"]["path"] = model_dir();
    j["generate"]["max_tokens"] = 8;
    const std::string path = write_config(j, std::string("example-") + name);
    out.clear();
    INFO(name);
    REQUIRE(test::run_command(std::string(PRECIS_EXAMPLE_DIR) + "/example_sdk_streaming " + path +
                                  " 'And God said, Let there be light: and there was light.'",
                              &out) == 0);
    CHECK_THAT(out, Catch::Contains("generate"));
  }
}

TEST_CASE("plans where they help: plan.when auto, always, never, and per-request precis.plan") {
  PipelineConfig cfg;
  cfg.model.path = model_dir();
  cfg.model.kv_cache_mb = 32;
  cfg.compress_enabled = false;
  cfg.generate.max_tokens = 2;
  Pipeline p(cfg);
  const std::string word_problem =
      "A bakery sells muffins for $3 each and cookies for $1.50 each. On Monday it sold 40 "
      "muffins and twice as many cookies. What was Monday's revenue?";
  Request hi;
  hi.prompt = "hi";
  Result r = p.run(hi);
  CHECK(r.plan.code.empty());
  CHECK(r.final_prompt == "hi");
  CHECK(r.plan.note.find("plan.when auto") != std::string::npos);
  Request arith;
  arith.prompt = word_problem;
  r = p.run(arith);
  CHECK(r.plan.task_kind == TaskKind::arithmetic);
  CHECK(!r.plan.code.empty());
  // Bounded relative to the request: at most half its tokens, at least 32.
  CHECK(r.plan.tokens <= std::max(32, r.original_tokens / 2));
  hi.planner = PlannerKind::templated;  // the request's own precis.plan forces it
  CHECK(!p.run(hi).plan.code.empty());

  cfg.plan.when = "never";
  Pipeline never(cfg);
  CHECK(never.run(arith).plan.code.empty());
  cfg.plan.when = "always";
  Pipeline always(cfg);
  hi.planner.reset();
  CHECK(!always.run(hi).plan.code.empty());
  CHECK_THROWS_WITH(PipelineConfig::from_json(R"({"plan": {"when": "sometimes"}})"),
                    Catch::Contains("/plan/when"));
}

TEST_CASE("the embedded pipeline's lm planner writes under the plan grammar: its plans parse") {
  // A random model ("small": room for the few-shot prompt) writes noise when free; through the
  // pipeline (the engine service's thread) its plans still come out in the grammar.
  PipelineConfig cfg;
  cfg.model.path = test::cached_model("small", 5, precis::engine::DType::F32);
  cfg.model.kv_cache_mb = 32;
  cfg.compress_enabled = false;
  cfg.plan.planner = PlannerKind::lm;
  cfg.plan.when = "always";
  cfg.plan.temperature = 1.0f;
  cfg.generate.max_tokens = 2;
  // The config file's switch reaches the planner.
  CHECK(!PipelineConfig::from_json(R"({"plan": {"lm_grammar": false}})").plan.lm_grammar);
  CHECK(PipelineConfig::from_json(R"({"plan": {}})").plan.lm_grammar);
  Request arith;
  arith.prompt = "Tom has 3 apples and buys 5 more. How many apples does he have now?";
  for (uint64_t seed : {1u, 2u, 3u}) {
    cfg.plan.seed = seed;
    const Result r = Pipeline(cfg).run(arith);
    INFO("seed " << seed << ": " << r.plan.fallback_reason << "\n" << r.plan.code);
    CHECK(r.plan.planner_used == PlannerKind::lm);
    CHECK(check_plan(r.plan.code).ok);
  }
}
