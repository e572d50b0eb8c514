// Plugins: the redact and cache plugins (as stages and through a pipeline), the dlopen loader
// with good and broken shared libraries, the config's "plugins" section, and the example plugin.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "plugins/cache.hpp"
#include "plugins/plugin_loader.hpp"
#include "plugins/redact.hpp"
#include "precis/plugin.hpp"
#include "precis/precis.hpp"
#include "tests/test_support.hpp"

using namespace precis;

namespace {

std::string model_dir() {
  return test::cached_model("tiny", 21, engine::DType::F32);
}

nlohmann::json base_config() {
  return {{"model", {{"path", model_dir()}, {"kv_cache_mb", 16}}},
          {"compress", {{"enabled", false}}},
          {"plan", {{"planner", "none"}}},
          {"generate", {{"max_tokens", 6}, {"temperature", 0.0}, {"ignore_eos", true}}}};
}

nlohmann::json with_plugins(const nlohmann::json& plugins) {
  nlohmann::json j = base_config();
  j["plugins"] = plugins;
  return j;
}

Pipeline make_pipeline(const nlohmann::json& plugins) {
  return Pipeline(PipelineConfig::from_json(with_plugins(plugins).dump()));
}

// The message of the ConfigError that building a pipeline from `plugins` throws.
std::string load_error(const nlohmann::json& plugins) {
  try {
    make_pipeline(plugins);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(loaded)";
}

std::string masked(Stage& stage, const std::string& prompt) {
  Request r;
  r.prompt = prompt;
  stage.before(r);
  return r.prompt;
}

bool has_timing(const Result& r, const std::string& stage) {
  for (const auto& t : r.timings)
    if (t.stage == stage) return true;
  return false;
}

double metric(const std::vector<std::pair<std::string, double>>& metrics, const std::string& name) {
  for (const auto& [n, v] : metrics)
    if (n == name) return v;
  FAIL("no metric " << name);
  return -1;
}

// Sets the first choice to a reply that quotes the (masked) question, as a model might.
class EchoQuestion : public Stage {
 public:
  std::string name() const override { return "echo"; }
  void after(const Request& request, Result& result) override {
    if (result.choices.empty()) throw std::runtime_error("no choices");  // (not Catch: threads)
    result.choices[0].text = "You asked: " + request.question;
    result.text = result.choices[0].text;
  }
};

}  // namespace

// ---- redact -------------------------------------------------------------------------------------

TEST_CASE("redact masks e-mails, phones, cards and user patterns") {
  auto stage = plugins::make_redact_stage(R"({"patterns": ["EMP-[0-9]{6}",
      {"regex": "ACME-[A-Z]+", "label": "PROJECT"}]})");
  Stage& s = *stage;

  CHECK(masked(s, "Write to jane.doe+news@mail.example.co.uk today.") ==
        "Write to [EMAIL_1] today.");
  CHECK(masked(s, "mail: a@b.io, b_c@d-e.org.") == "mail: [EMAIL_1], [EMAIL_2].");
  CHECK(masked(s, "not an address: a@b, @home, x@y.z1") == "not an address: a@b, @home, x@y.z1");

  CHECK(masked(s, "Call +44 20 7946 0958 or +1 (212) 555-0100.") == "Call [PHONE_1] or [PHONE_2].");
  CHECK(masked(s, "US: (212) 555-0100, 212-555-0101, 212.555.0102, 1 212 555 0103") ==
        "US: [PHONE_1], [PHONE_2], [PHONE_3], [PHONE_4]");
  // Not phones: no separators, an area code starting with 1, part of a longer number, a date.
  CHECK(masked(s, "id 2125550100, 123-456-7890, 99-212-555-0100-7, 2024-01-15") ==
        "id 2125550100, 123-456-7890, 99-212-555-0100-7, 2024-01-15");

  CHECK(plugins::luhn_valid("4111111111111111"));
  CHECK(!plugins::luhn_valid("4111111111111112"));
  CHECK(masked(s, "Visa 4111 1111 1111 1111, MC 5500-0000-0000-0004, Amex 378282246310005.") ==
        "Visa [CARD_1], MC [CARD_2], Amex [CARD_3].");
  // Digit strings that fail the Luhn check, are too short or long, or sit inside a word stay.
  CHECK(masked(s, "order 4111 1111 1111 1112, ref 1234567890123, x4111111111111111") ==
        "order 4111 1111 1111 1112, ref 1234567890123, x4111111111111111");
  CHECK(masked(s, "41111111111111111111111 and 12 34 56 78 90 12 34") ==
        "41111111111111111111111 and 12 34 56 78 90 12 34");

  CHECK(masked(s, "Employee EMP-123456 on ACME-ROCKET.") ==
        "Employee [REDACTED_1] on [PROJECT_1].");

  // One mapping per request: the same value gets the same placeholder in every field.
  Request r;
  r.prompt = "Contact bob@corp.com or alice@corp.com.";
  r.contexts = {"bob@corp.com wrote 4111111111111111"};
  r.question = "What did bob@corp.com write?";
  s.before(r);
  CHECK(r.prompt == "Contact [EMAIL_1] or [EMAIL_2].");
  CHECK(r.contexts[0] == "[EMAIL_1] wrote [CARD_1]");
  CHECK(r.question == "What did [EMAIL_1] write?");
  CHECK(r.metadata.empty());  // restore is off: the originals are not kept anywhere
  CHECK(metric(s.metrics(), "precis_redact_masked_total") >= 3);

  auto only_email = plugins::make_redact_stage(R"({"phone": false, "card": false})");
  CHECK(masked(*only_email, "x@y.com +44 20 7946 0958 4111111111111111") ==
        "[EMAIL_1] +44 20 7946 0958 4111111111111111");
}

TEST_CASE("redact rejects bad settings with the setting's path") {
  auto error = [](const std::string& settings) -> std::string {
    try {
      plugins::make_redact_stage(settings);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(accepted)";
  };
  CHECK_THAT(error(R"({"patterns": ["(unclosed"]})"),
             Catch::StartsWith("/patterns/0: invalid regular expression"));
  CHECK_THAT(error(R"({"patterns": [{"regex": "x", "label": "lower"}]})"),
             Catch::StartsWith("/patterns/0/label:"));
  CHECK_THAT(error(R"({"restore": "yes"})"), Catch::StartsWith("/restore: expected true or false"));
  CHECK_THAT(error(R"({"emails": true})"), Catch::StartsWith("/emails: unknown setting"));
  CHECK(error("{}") == "(accepted)");
}

TEST_CASE("redact restores the originals in the answer, per request, under concurrency") {
  auto stage = plugins::make_redact_stage(R"({"restore": true})");
  constexpr int kThreads = 8, kRounds = 50;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string email =
            "user" + std::to_string(t) + "x" + std::to_string(i) + "@mail.com";
        Request r;
        r.prompt = "Reply to " + email + " please.";
        stage->before(r);
        if (r.prompt != "Reply to [EMAIL_1] please.") ++wrong;
        Result res;
        res.choices.push_back({});
        res.choices[0].text = "Sent to [EMAIL_1]; [EMAIL_9], [x], EMAIL_1x and [EMAIL_1 stay.";
        res.choices.push_back({});
        res.choices[1].text = "EMAIL_1 (brackets lost)";
        res.text = res.choices[0].text;
        stage->after(r, res);
        if (res.choices[0].text !=
                "Sent to " + email + "; [EMAIL_9], [x], EMAIL_1x and [" + email + " stay." ||
            res.choices[1].text != email + " (brackets lost)" || res.text != res.choices[0].text)
          ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
}

TEST_CASE("redact in a pipeline: nothing leaves, the answer gets the originals back") {
  Pipeline p = make_pipeline({{{"builtin", "redact"}, {"settings", {{"restore", true}}}}});
  p.add_stage(std::make_shared<EchoQuestion>());  // after redact: its after() runs first
  std::vector<std::string> emails;
  std::vector<Result> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) emails.push_back("person" + std::to_string(i) + "@example.org");
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      Request r;
      r.prompt = "Card 4111 1111 1111 1111 belongs to " + emails[i] + ".";
      r.question = "Who is " + emails[i] + "?";
      got[i] = p.run(r);
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    INFO(i);
    CHECK(got[i].final_prompt.find('@') == std::string::npos);
    CHECK(got[i].final_prompt.find("4111") == std::string::npos);
    CHECK(got[i].final_prompt.find("[EMAIL_1]") != std::string::npos);
    CHECK(got[i].original_prompt.find(emails[i]) == std::string::npos);
    CHECK(got[i].text == "You asked: Who is " + emails[i] + "?");
  }
}

// ---- cache --------------------------------------------------------------------------------------

TEST_CASE("cache: LRU eviction, ttl, deterministic-only, counters (stage level)") {
  auto stage = plugins::make_cache_stage(R"({"capacity": 2})");
  Request req;
  GenerateOptions det;
  det.temperature = 0.0f;
  auto lookup = [&](const std::string& prompt, const GenerateOptions& g, Result& out) {
    return stage->before_generate(req, prompt, g, out);
  };
  auto store = [&](const std::string& prompt, const GenerateOptions& g, const std::string& text) {
    Result r;
    r.choices.push_back({});
    r.choices[0].text = text;
    r.choices[0].finish_reason = "length";
    stage->after_generate(req, prompt, g, r);
  };
  Result out;
  CHECK(!lookup("a", det, out));
  store("a", det, "A");
  store("b", det, "B");
  REQUIRE(lookup("a", det, out));  // a is now the most recently used
  CHECK(out.choices.at(0).text == "A");
  store("c", det, "C");  // evicts b
  out = {};
  CHECK(!lookup("b", det, out));
  CHECK(out.choices.empty());
  CHECK(lookup("a", det, out));
  CHECK(lookup("c", det, out));

  // Every sampling parameter is part of the key.
  GenerateOptions other = det;
  other.max_tokens = 7;
  CHECK(!lookup("a", other, out));
  other = det;
  other.stop = {"\n"};
  CHECK(!lookup("a", other, out));
  CHECK(plugins::cache_key("a", det) != plugins::cache_key("a", other));
  GenerateOptions s1, s2;
  s1.seed = 1, s2.seed = 2;
  CHECK(plugins::cache_key("p", s1) != plugins::cache_key("p", s2));
  CHECK(plugins::cache_key("ab", det) != plugins::cache_key("a", det));

  // Sampled without a seed: neither looked up nor stored.
  GenerateOptions sampled;
  sampled.temperature = 0.9f;
  store("s", sampled, "S");
  CHECK(!lookup("s", sampled, out));
  // Aborted generations are not stored.
  Result aborted;
  aborted.choices.push_back({});
  aborted.choices[0].finish_reason = "abort";
  stage->after_generate(req, "x", det, aborted);
  CHECK(!lookup("x", det, out));

  const auto m = stage->metrics();
  CHECK(metric(m, "precis_cache_hits_total") == 3);
  CHECK(metric(m, "precis_cache_misses_total") == 5);
  CHECK(metric(m, "precis_cache_evictions_total") == 1);
  CHECK(metric(m, "precis_cache_skipped_total") == 1);
  CHECK(metric(m, "precis_cache_entries") == 2);

  // A TTL long enough that a loaded machine still reads the entry back before it expires.
  auto ttl = plugins::make_cache_stage(R"({"ttl_s": 0.3, "cache_sampled": true})");
  Result r;
  r.choices.push_back({});
  r.choices[0].text = "T";
  ttl->after_generate(req, "t", sampled, r);
  CHECK(ttl->before_generate(req, "t", sampled, out));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(!ttl->before_generate(req, "t", sampled, out));
  CHECK(metric(ttl->metrics(), "precis_cache_expired_total") == 1);

  auto error = [](const std::string& settings) -> std::string {
    try {
      plugins::make_cache_stage(settings);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(accepted)";
  };
  CHECK_THAT(error(R"({"capacity": 0})"), Catch::StartsWith("/capacity: must be in [1,"));
  CHECK_THAT(error(R"({"ttl_s": -1})"), Catch::StartsWith("/ttl_s: must be a number > 0"));
  CHECK_THAT(error(R"({"size": 3})"), Catch::StartsWith("/size: unknown setting"));
}

TEST_CASE("cache in a pipeline: an identical deterministic request skips generation") {
  Pipeline p = make_pipeline({{{"builtin", "cache"}, {"settings", {{"capacity", 8}}}}});
  Request req;
  req.prompt = "The cache keys on the final prompt and the sampling parameters.";
  GenerateOptions g = p.config().generate;
  g.temperature = 0.8f;
  g.seed = 11;
  g.n = 2;
  req.generate = g;

  const Result first = p.run(req);
  CHECK(has_timing(first, "generate"));
  CHECK(!has_timing(first, "cache"));
  std::vector<std::pair<int, std::string>> streamed;
  const Result second = p.run(
      req,
      [&](int i, const std::string& d) {
        streamed.push_back({i, d});
      },
      nullptr);
  CHECK(has_timing(second, "cache"));
  CHECK(!has_timing(second, "generate"));
  REQUIRE(second.choices.size() == 2);
  CHECK(second.text == first.text);
  CHECK(second.choices[1].text == first.choices[1].text);
  CHECK(second.completion_tokens == first.completion_tokens);
  CHECK(second.final_prompt == first.final_prompt);
  // A hit still streams its text to the caller.
  std::string s0, s1;
  for (const auto& [i, d] : streamed) (i == 0 ? s0 : s1) += d;
  CHECK(s0 == first.choices[0].text);
  CHECK(s1 == first.choices[1].text);

  Request other_seed = req;
  other_seed.generate->seed = 12;
  CHECK(has_timing(p.run(other_seed), "generate"));
  Request other_prompt = req;
  other_prompt.prompt += " Again.";
  CHECK(has_timing(p.run(other_prompt), "generate"));
  Request sampled = req;
  sampled.generate->seed.reset();
  CHECK(has_timing(p.run(sampled), "generate"));
  CHECK(has_timing(p.run(sampled), "generate"));

  const auto m = p.plugin_metrics();
  CHECK(metric(m, "precis_cache_hits_total") == 1);
  CHECK(metric(m, "precis_cache_misses_total") == 3);
  CHECK(metric(m, "precis_cache_skipped_total") == 2);
  CHECK(metric(m, "precis_cache_entries") == 3);
}

// ---- loader and config --------------------------------------------------------------------------

TEST_CASE("plugins load from shared libraries by path, with their settings") {
  Pipeline p = make_pipeline(
      {{{"name", "pii"}, {"path", PRECIS_PLUGIN_REDACT_SO}, {"settings", {{"restore", true}}}},
       {{"path", PRECIS_PLUGIN_CACHE_SO}, {"settings", {{"capacity", 4}}}},
       {{"name", "sign"},
        {"path", PRECIS_EXAMPLE_PLUGIN_SO},
        {"settings", {{"signature", " -- signed"}, {"question_suffix", " Briefly."}}}}});
  CHECK(p.config().plugins.at(1).name == "cache");  // default name from the file name
  Request req;
  req.prompt = "Mail ann@example.com about it.";
  req.question = "Who?";
  const Result a = p.run(req);
  const Result b = p.run(req);
  CHECK(a.final_prompt.find("[EMAIL_1]") != std::string::npos);
  CHECK(a.final_prompt.find("ann@") == std::string::npos);
  CHECK(a.final_prompt.find("Who? Briefly.") != std::string::npos);
  CHECK_THAT(a.text, Catch::EndsWith(" -- signed"));
  CHECK(b.text == a.text);
  CHECK(has_timing(b, "cache"));
  const auto m = p.plugin_metrics();
  CHECK(metric(m, "precis_cache_hits_total") == 1);
  CHECK(metric(m, "precis_redact_requests_total") == 2);

  // The loader on its own: the stage reports the configured name.
  PluginConfig c;
  c.name = "my-cache";
  c.path = PRECIS_PLUGIN_CACHE_SO;
  auto stage = plugins::load_plugin(c);
  CHECK(stage->name() == "my-cache");
  CHECK(plugins::default_plugin_name(c) == "cache");
}

TEST_CASE("a plugin that cannot load fails with its name and config path") {
  CHECK_THAT(load_error({{{"name", "ghost"}, {"path", "/no/such/libghost.so"}}}),
             Catch::StartsWith("/plugins/0: plugin 'ghost': shared library not found"));
  CHECK_THAT(load_error({{{"builtin", "cache"}},
                         {{"name", "half"}, {"path", PRECIS_TEST_PLUGIN_NO_CREATE_SO}}}),
             Catch::StartsWith("/plugins/1: plugin 'half':") &&
                 Catch::Contains("does not export precis_plugin_create"));
  CHECK_THAT(load_error({{{"name", "old"}, {"path", PRECIS_TEST_PLUGIN_WRONG_ABI_SO}}}),
             Catch::StartsWith("/plugins/0: plugin 'old':") && Catch::Contains("ABI version 999") &&
                 Catch::Contains("needs version " + std::to_string(PRECIS_PLUGIN_ABI_VERSION)));
  CHECK_THAT(load_error({{{"name", "grumpy"},
                          {"path", PRECIS_TEST_PLUGIN_FACTORY_ERROR_SO},
                          {"settings", {{"k", 1}}}}}),
             Catch::Equals("/plugins/0: plugin 'grumpy': factory failed: cannot start with "
                           "settings {\"k\":1}"));
  CHECK_THAT(load_error({{{"name", "sign"},
                          {"path", PRECIS_EXAMPLE_PLUGIN_SO},
                          {"settings", {{"colour", "red"}}}}}),
             Catch::StartsWith("/plugins/0: plugin 'sign': factory failed: unknown setting"));
  // Not a shared library at all.
  const std::string text_file = test::scratch_dir("plugins-notso") + "/libtext.so";
  { std::ofstream(text_file) << "not an ELF file"; }
  CHECK_THAT(load_error({{{"name", "text"}, {"path", text_file}}}),
             Catch::StartsWith("/plugins/0: plugin 'text': cannot load"));
  // Bad settings of a built-in plugin.
  CHECK_THAT(load_error({{{"builtin", "cache"}, {"settings", {{"capacity", 0}}}}}),
             Catch::StartsWith("/plugins/0: plugin 'cache': settings/capacity: must be in"));
  CHECK_THAT(load_error({{{"builtin", "redact"}, {"settings", {{"patterns", {"("}}}}}}),
             Catch::StartsWith("/plugins/0: plugin 'redact': settings/patterns/0: invalid"));
}

TEST_CASE("the plugins config section is validated") {
  auto error = [](const nlohmann::json& plugins) -> std::string {
    try {
      PipelineConfig::from_json(with_plugins(plugins).dump());
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  CHECK_THAT(error({{"builtin", "redact"}}), Catch::StartsWith("/plugins: expected an array"));
  CHECK_THAT(error({3}), Catch::StartsWith("/plugins/0: expected an object"));
  CHECK_THAT(error({{{"name", "x"}}}), Catch::StartsWith("/plugins/0: give \"path\""));
  CHECK_THAT(error({{{"builtin", "redact"}, {"path", "/x.so"}}}),
             Catch::StartsWith("/plugins/0/builtin: give either path or builtin"));
  CHECK_THAT(error({{{"builtin", "zip"}}}),
             Catch::StartsWith("/plugins/0/builtin: must be one of"));
  CHECK_THAT(error({{{"builtin", "redact"}, {"settings", 5}}}),
             Catch::StartsWith("/plugins/0/settings: expected an object"));
  CHECK_THAT(error({{{"builtin", "redact"}, {"setting", {}}}}),
             Catch::StartsWith("/plugins/0/setting: unknown key"));
  CHECK_THAT(error({{{"builtin", "cache"}}, {{"builtin", "cache"}}}),
             Catch::StartsWith("/plugins/1/name: \"cache\" is already used by /plugins/0"));
  CHECK(error({{{"builtin", "cache"}}, {{"name", "cache2"}, {"builtin", "cache"}}}) ==
        "(accepted)");
  const PipelineConfig c = PipelineConfig::from_json(
      with_plugins({{{"path", "/opt/libprecis_redact.so"}, {"settings", {{"restore", true}}}}})
          .dump());
  REQUIRE(c.plugins.size() == 1);
  CHECK(c.plugins[0].name == "redact");
  CHECK(c.plugins[0].settings == R"({"restore":true})");
}

TEST_CASE("a plugin that throws fails that request with its name; the next one succeeds") {
  Pipeline p = make_pipeline({{{"name", "boom"}, {"path", PRECIS_TEST_PLUGIN_THROWS_SO}}});
  Request bad;
  bad.prompt = "please explode now";
  CHECK_THROWS_WITH(p.run(bad), Catch::StartsWith("stage 'boom' failed: asked to explode"));
  bad.prompt = "throw-int";
  CHECK_THROWS_WITH(p.run(bad), Catch::StartsWith("stage 'boom' failed:") &&
                                    Catch::Contains("not a std::exception"));
  Request good;
  good.prompt = "a calm request";
  const Result r = p.run(good);
  CHECK(r.completion_tokens == 6);
  CHECK(has_timing(r, "plugins (before)"));
}

TEST_CASE("the example plugin config loads and runs (model and library paths swapped in)") {
  std::ifstream in(std::string(PRECIS_SOURCE_DIR) + "/examples/plugin_example/config.json");
  REQUIRE(in);
  nlohmann::json j = nlohmann::json::parse(in);
  j["model"]["path"] = model_dir();
  j["model"]["kv_cache_mb"] = 16;
  j["generate"]["max_tokens"] = 4;
  for (auto& p : j["plugins"])
    if (p.contains("path")) p["path"] = PRECIS_EXAMPLE_PLUGIN_SO;
  Pipeline p(PipelineConfig::from_json(j.dump()));
  REQUIRE(p.config().plugins.size() == 3);
  CHECK(p.config().plugins[0].name == "redact");
  CHECK(p.config().plugins[1].name == "sign");
  CHECK(p.config().plugins[2].name == "cache");
  Request req;
  req.prompt = "Employee EMP-004211 (kim@example.com) filed the report.";
  req.question = "Who filed it?";
  const Result a = p.run(req);
  const Result b = p.run(req);
  CHECK(a.final_prompt.find("EMP-004211") == std::string::npos);
  // Compression may drop the brackets; the label stays (it holds a digit: keep_numbers).
  CHECK(a.final_prompt.find("EMPLOYEE_1") != std::string::npos);
  CHECK(a.final_prompt.find("Answer briefly.") != std::string::npos);
  CHECK_THAT(a.text, Catch::EndsWith("\n-- answered by precis"));
  CHECK(b.text == a.text);
  CHECK(has_timing(b, "cache"));
}
