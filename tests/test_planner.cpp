// Planners: template plans are built from each request's own particulars, parse under the
// grammar and fit the budget; the lm planner uses a good model plan, retries once cooler and
// falls back to the template on garbage; plans are placed into prompts as configured.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/gbnf_grammar.hpp"
#include "engine/tokenizer.hpp"
#include "planner/lm_plan_grammar.hpp"
#include "planner/request_analysis.hpp"
#include "precis/plan.hpp"
#include "tests/test_support.hpp"

using precis::check_plan;
using precis::make_plan;
using precis::parse_task_kind;
using precis::Plan;
using precis::PlanContext;
using precis::PlanGenerateRequest;
using precis::PlannerKind;
using precis::PlanOptions;
using precis::TaskKind;

namespace {

struct Case {
  std::string kind;
  std::string request;
  std::vector<std::string> mentions;  // the request's own numbers and names
};

// One or two requests per task kind. The expected mentions are copied from the request text
// (inputs, not outputs), so the check is independent of how the plan is built.
const std::vector<Case>& cases() {
  static const std::vector<Case> kCases = {
      {"arithmetic",
       "Tom has 3 apples and buys 5 more. Anna has 4 apples. How many apples do they have "
       "altogether?",
       {"3", "5", "4", "apples", "Tom", "Anna"}},
      {"arithmetic",
       "A shirt costs $25 and is on sale for 20% off. Maria buys 3 shirts. How much does she "
       "pay in total?",
       {"25", "20", "3", "shirts", "Maria"}},
      {"multi_hop",
       "Who is the spouse of the director of Titanic?",
       {"Titanic", "director", "spouse"}},
      {"multi_hop",
       "Were Scott Derrickson and Ed Wood of the same nationality?",
       {"Scott Derrickson", "Ed Wood", "nationality"}},
      {"multi_hop",
       "What is the capital of Australia and also what is its population?",
       {"Australia", "capital", "population"}},
      {"code_change",
       "Fix the bug in parse_config where config.json with an empty \"servers\" list crashes "
       "the loader. Add a unit test.",
       {"parse_config", "config.json", "servers"}},
      {"code_change",
       "Refactor the HttpServer class in server.cpp so that request parsing lives in its own "
       "RequestParser. Do not change the public API.",
       {"HttpServer", "server.cpp", "RequestParser", "public API"}},
      {"code_change",
       "This function returns the wrong total:\n```python\ndef order_total(items):\n    return "
       "sum(i.price for i in items)\n```\nFix it so that it multiplies by quantity.",
       {"order_total"}},
      {"code",
       "Write a function that returns the k most frequent words in a text, ignoring case.",
       {"most_frequent_words", "text", "k", "ignoring case"}},
      {"code",
       "Implement a Python function to check whether a list of numbers has duplicates.",
       {"numbers", "duplicates"}},
      {"summary",
       "Summarize the following article in at most 50 words.\n\nApple reported revenue of $90 "
       "billion in the first quarter, up 8% from a year earlier. Tim Cook said sales in China "
       "were strong.\n\nThe company also announced a buyback program worth $110 billion.",
       {"Apple", "Tim Cook", "China", "$90 billion", "8%", "50"}},
      {"summary",
       "Give me a tl;dr of this: The Rust Foundation hired 4 engineers in Berlin to work on "
       "the compiler. Their budget is $2 million for 2024.",
       {"Rust Foundation", "Berlin", "4 engineers", "$2 million", "2024"}},
      {"extraction",
       "Extract all email addresses and phone numbers from the text below and return them as "
       "JSON.\nContact Alice Smith at alice@example.com or 555-0100. Bob Jones can be reached "
       "at bob@corp.org.",
       {"email addresses", "Alice Smith", "Bob Jones", "555-0100", "json"}},
      {"extraction",
       "List all the cities mentioned: Paris, Berlin and Madrid hosted the summit in 2019.",
       {"cities", "Paris", "Berlin", "Madrid", "2019"}},
      {"multi_part",
       "Please do the following:\n1. Explain what a Docker container is.\n2. Compare it with a "
       "virtual machine.\n3. Give an example Dockerfile for a Flask app.",
       {"Docker container", "virtual machine", "Flask"}},
      {"multi_part",
       "For my trip to Lisbon: 1) suggest 3 restaurants, 2) plan a 2-day walking route, 3) "
       "estimate the cost in euros.",
       {"Lisbon", "restaurants", "walking route", "euros"}},
      {"general",
       "Why is the sky blue? Explain briefly, for a child.",
       {"Why is the sky blue?", "a child"}},
      {"general",
       "Write a haiku about autumn leaves in Kyoto in no more than 20 words.",
       {"Kyoto", "20"}},
  };
  return kCases;
}

PlanOptions roomy() {
  PlanOptions o;
  o.budget_tokens = 1000;  // nothing dropped: every particular must appear
  return o;
}

std::string tiny_model() {
  return precis::test::cached_model("tiny", 5, precis::engine::DType::F32);
}

int lines_of(const std::string& code) {
  if (code.empty()) return 0;
  return static_cast<int>(std::count(code.begin(), code.end(), '\n')) + 1;
}

}  // namespace

TEST_CASE("template plans parse, name their task kind and mention the request's particulars") {
  for (const Case& c : cases()) {
    const Plan p = make_plan(c.request, roomy());
    INFO(c.request << "\n---\n" << p.code);
    CHECK(p.task_kind == parse_task_kind(c.kind));
    CHECK(p.planner_used == PlannerKind::templated);
    CHECK_FALSE(p.fell_back);
    CHECK(p.attempts == 0);
    const auto check = check_plan(p.code);
    INFO(check.error);
    CHECK(check.ok);
    CHECK(p.tokens == precis::estimate_plan_tokens(p.code));
    CHECK(p.note.empty());
    for (const auto& m : c.mentions) {
      INFO("mention: " << m);
      // Case-insensitively: "JSON" is asked for, the plan says to_json.
      CHECK_THAT(p.code, Catch::Contains(m, Catch::CaseSensitive::No));
    }
  }
}

TEST_CASE("every task kind is covered by the fixed requests") {
  std::set<std::string> seen;
  for (const Case& c : cases()) seen.insert(c.kind);
  for (const auto& k : precis::task_kinds()) CHECK(seen.count(k) == 1);
}

TEST_CASE("two requests of the same kind get different plans") {
  std::map<std::string, std::vector<std::string>> by_kind;
  for (const Case& c : cases()) by_kind[c.kind].push_back(make_plan(c.request, roomy()).code);
  for (const auto& [kind, plans] : by_kind) {
    INFO(kind);
    REQUIRE(plans.size() >= 2);
    CHECK(plans[0] != plans[1]);
  }
  // The same request, twice: the template planner is deterministic.
  CHECK(make_plan(cases()[0].request, roomy()).code == make_plan(cases()[0].request, roomy()).code);
}

TEST_CASE("template plans fit the token budget counted by a real tokenizer") {
  const auto tok = precis::engine::Tokenizer::load(tiny_model() + "/tokenizer.model");
  const precis::TokenCounter count = precis::tokenizer_counter(*tok);
  PlanContext ctx;
  ctx.count_tokens = count;
  for (int budget : {30, 60, 100, 160, 240}) {
    for (const Case& c : cases()) {
      PlanOptions o;
      o.budget_tokens = budget;
      const Plan p = make_plan(c.request, o, ctx);
      INFO("budget " << budget << ": " << c.request << "\n---\n" << p.code << "\n" << p.note);
      CHECK(p.tokens == count(p.code));
      CHECK(p.tokens <= budget);
      if (p.code.empty()) {
        CHECK_THAT(p.note, Catch::Contains("cannot hold"));
        continue;
      }
      const auto check = check_plan(p.code);
      INFO(check.error);
      CHECK(check.ok);
      // Whole statements are dropped: the plan still starts with its def and ends in a return.
      CHECK_THAT(p.code, Catch::StartsWith("def "));
      CHECK(p.code.substr(p.code.rfind('\n') + 1).find("    return ") == 0);
    }
  }
  // A budget too small for any plan gives an empty plan, which leaves the prompt unchanged.
  PlanOptions o;
  o.budget_tokens = 3;
  const Plan p = make_plan(cases()[0].request, o, ctx);
  CHECK(p.code.empty());
  CHECK_FALSE(p.note.empty());
  CHECK(precis::render_prompt("Q?", p, "before_question") == "Q?");
}

TEST_CASE("template plans respect max_lines") {
  for (const Case& c : cases()) {
    PlanOptions o = roomy();
    o.max_lines = 6;
    const Plan p = make_plan(c.request, o);
    INFO(p.code);
    CHECK(lines_of(p.code) <= 6);
    CHECK(check_plan(p.code, 6).ok);
  }
}

TEST_CASE("template plans stay valid for arbitrary requests") {
  // Words chosen to trip every rule: numbers, money, percentages, names, identifiers, quotes,
  // list markers, constraints, code fences, non-ASCII, very long words.
  const std::vector<std::string> words = {"Tom",
                                          "has",
                                          "3",
                                          "apples",
                                          "$4.50",
                                          "20%",
                                          "and",
                                          "also",
                                          "how",
                                          "many",
                                          "?",
                                          ".",
                                          "\n1.",
                                          "\n- ",
                                          "\n\n",
                                          "Who",
                                          "is",
                                          "the",
                                          "director",
                                          "of",
                                          "Titanic",
                                          "parse_config",
                                          "config.json",
                                          "HttpServer()",
                                          "\"quoted thing\"",
                                          "'single'",
                                          "at",
                                          "most",
                                          "50",
                                          "words",
                                          "in",
                                          "JSON",
                                          "French",
                                          "step by step",
                                          "do not",
                                          "summarize",
                                          "extract all",
                                          "fix",
                                          "bug",
                                          "```",
                                          "```python\ndef f(x):\n    return x\n```",
                                          "Zürich",
                                          "naïve",
                                          "“smart”",
                                          "—",
                                          "1,000",
                                          "3/4",
                                          "555-0100",
                                          "2024-01-15",
                                          "60",
                                          "km/h",
                                          "(1)",
                                          "2)",
                                          "it's",
                                          "don't",
                                          "O'Brien",
                                          "#",
                                          "\\",
                                          "{",
                                          "}",
                                          "[",
                                          "]",
                                          ":",
                                          ";",
                                          "`code`",
                                          std::string(300, 'x'),
                                          "e.g.",
                                          "U.S.",
                                          "Dr.",
                                          "Bank of America",
                                          "of the",
                                          "that"};
  std::mt19937 rng(11);
  for (int n = 0; n < 400; ++n) {
    std::string request;
    const int len = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < len; ++i) request += words[rng() % words.size()] + " ";
    PlanOptions o;
    o.budget_tokens = 10 + static_cast<int>(rng() % 300);
    o.max_lines = 3 + static_cast<int>(rng() % 30);
    const Plan p = make_plan(request, o);
    INFO(request << "\n---\n" << p.code);
    CHECK(p.tokens <= o.budget_tokens);
    CHECK(lines_of(p.code) <= o.max_lines);
    if (!p.code.empty()) {
      const auto c = check_plan(p.code, o.max_lines);
      INFO(c.error);
      CHECK(c.ok);
    }
  }
  // A long document: analysed in one pass, the plan still small.
  std::string doc = "Summarize this report.\n\n";
  for (int i = 0; i < 3000; ++i)
    doc += "Revenue in Region " + std::to_string(i) + " rose 5% to $" + std::to_string(i) + ". ";
  const Plan p = make_plan(doc, PlanOptions{});
  CHECK(p.task_kind == TaskKind::summary);
  CHECK(p.tokens <= 160);
  CHECK(check_plan(p.code).ok);
}

TEST_CASE("request analysis: quantities, names, constraints") {
  using precis::planner::analyse_request;
  const auto a = analyse_request(
      "Tom has 3 apples and Anna has 5 apples. A pear costs $1.50 each and 20% are bruised. "
      "Answer in French, in at most 40 words, as JSON, step by step. Do not use fractions.");
  std::map<std::string, std::string> q;
  for (const auto& x : a.quantities) q[x.name] = x.value;
  CHECK(q["apples"] == "3");
  CHECK(q["anna_apples"] == "5");  // the second "apples" is named after its owner
  CHECK(q["price_each"] == "1.50");
  CHECK(q.count("percent") + q.count("are_pct") == 1);
  CHECK(q.count("words") == 0);  // 40 is a constraint, not an input
  std::map<std::string, std::string> c;
  for (const auto& x : a.constraints) c[x.kind] = x.value;
  CHECK(c["max_words"] == "40");
  CHECK(c["language"] == "French");
  CHECK(c["format"] == "json");
  CHECK(c.count("step_by_step") == 1);
  CHECK(c["avoid"] == "use fractions");
  CHECK(std::find(a.entities.begin(), a.entities.end(), "Tom") != a.entities.end());
  CHECK(std::find(a.entities.begin(), a.entities.end(), "French") == a.entities.end());

  const auto b = analyse_request(
      "Rename `load_cfg` to loadConfig in util.py. Why does it fail? And also, who wrote it?");
  CHECK(b.kind == TaskKind::code_change);
  CHECK(b.identifiers == std::vector<std::string>{"load_cfg", "loadConfig", "util.py"});
  REQUIRE(b.questions.size() == 2);
  CHECK(b.questions[0] == "Why does it fail?");
  CHECK(b.questions[1] == "Who wrote it?");

  const auto m = analyse_request("Do this:\n- first thing\n- second thing\n\n* third");
  CHECK(m.items == std::vector<std::string>{"first thing", "second thing", "third"});
  CHECK(m.kind == TaskKind::multi_part);
}

namespace {

// A fake model: returns the scripted answers in turn and records what it was asked.
struct FakeModel {
  std::vector<std::string> answers;
  std::vector<PlanGenerateRequest> calls;
  PlanContext context() {
    PlanContext ctx;
    ctx.generate = [this](const PlanGenerateRequest& r) {
      calls.push_back(r);
      const std::string a = answers.at(std::min(calls.size(), answers.size()) - 1);
      if (a == "<throw>") throw std::runtime_error("model exploded");
      return a;
    };
    return ctx;
  }
};

PlanOptions lm_options() {
  PlanOptions o;
  o.planner = PlannerKind::lm;
  o.temperature = 0.8f;
  o.seed = 42;
  return o;
}

const char* kGoodPlan =
    "def solve():\n    apples = 3\n    bought = 5\n    total = apples + bought\n    return total\n";

}  // namespace

TEST_CASE("lm planner: garbage twice falls back to the template, after one cooler retry") {
  FakeModel model;
  model.answers = {"Sure! Here is a plan: first count the apples, then add them.",
                   "the the apples ((( and and"};
  const std::string request = cases()[0].request;
  const Plan p = make_plan(request, lm_options(), model.context());
  REQUIRE(model.calls.size() == 2);
  CHECK(model.calls[0].temperature == Approx(0.8f));
  CHECK(model.calls[1].temperature == Approx(0.4f));
  CHECK(model.calls[0].seed == 42);
  CHECK(model.calls[1].seed == 43);
  CHECK(model.calls[0].max_tokens == lm_options().budget_tokens);
  CHECK(std::find(model.calls[0].stop.begin(), model.calls[0].stop.end(), "```") !=
        model.calls[0].stop.end());
  // The few-shot prompt ends with the request and an opened code fence.
  CHECK_THAT(model.calls[0].prompt, Catch::Contains("Request: " + request));
  CHECK_THAT(model.calls[0].prompt, Catch::EndsWith("```python\n"));
  CHECK(p.fell_back);
  CHECK(p.attempts == 2);
  CHECK(p.planner_used == PlannerKind::templated);
  CHECK_THAT(p.fallback_reason, Catch::Contains("attempt 1: line 1"));
  CHECK_THAT(p.fallback_reason, Catch::Contains("attempt 2: line 1"));
  CHECK(p.code == make_plan(request, PlanOptions{}).code);
  CHECK(check_plan(p.code).ok);
  CHECK(p.task_kind == TaskKind::arithmetic);
}

TEST_CASE("lm planner: a valid plan is used as written") {
  FakeModel model;
  // Fenced, with the model running on into another example: both are cleaned off.
  model.answers = {std::string("```python\n") + kGoodPlan + "```\n\nRequest: something else"};
  const Plan p = make_plan(cases()[0].request, lm_options(), model.context());
  CHECK(model.calls.size() == 1);
  CHECK_FALSE(p.fell_back);
  CHECK(p.planner_used == PlannerKind::lm);
  CHECK(p.attempts == 1);
  CHECK(p.code + "\n" == kGoodPlan);
  CHECK(p.tokens == precis::estimate_plan_tokens(p.code));
  CHECK(p.task_kind == TaskKind::arithmetic);
}

TEST_CASE("lm planner: the retry can rescue a bad first attempt") {
  FakeModel model;
  model.answers = {"I think the answer is 8.", kGoodPlan};
  const Plan p = make_plan(cases()[0].request, lm_options(), model.context());
  CHECK(model.calls.size() == 2);
  CHECK_FALSE(p.fell_back);
  CHECK(p.planner_used == PlannerKind::lm);
  CHECK(p.attempts == 2);
}

TEST_CASE("lm planner: model errors fall back with the message") {
  FakeModel model;
  model.answers = {"<throw>"};
  const Plan p = make_plan(cases()[0].request, lm_options(), model.context());
  CHECK(model.calls.size() == 2);
  CHECK(p.fell_back);
  CHECK_THAT(p.fallback_reason, Catch::Contains("model exploded"));
  CHECK(check_plan(p.code).ok);
}

TEST_CASE("lm planner: a plan cut off mid-line by max_tokens loses only that line") {
  FakeModel model;
  model.answers = {"def solve():\n    apples = 3\n    total = f(apples,"};
  const Plan p = make_plan(cases()[0].request, lm_options(), model.context());
  CHECK_FALSE(p.fell_back);
  CHECK(p.code == "def solve():\n    apples = 3");
}

TEST_CASE("lm planner: a plan over the budget is cut to whole lines") {
  FakeModel model;
  std::string long_plan = "def solve():\n";
  for (int i = 0; i < 30; ++i)
    long_plan += "    step_" + std::to_string(i) + " = do(" + std::to_string(i) + ")\n";
  model.answers = {long_plan};
  PlanOptions o = lm_options();
  o.budget_tokens = 40;
  const Plan p = make_plan(cases()[0].request, o, model.context());
  CHECK_FALSE(p.fell_back);
  CHECK(p.tokens <= 40);
  CHECK(check_plan(p.code).ok);
  CHECK_THAT(long_plan, Catch::StartsWith(p.code));
}

TEST_CASE("lm planner needs a generate callback; bad options name the field") {
  CHECK_THROWS_WITH(make_plan("hi", lm_options()), Catch::Contains("generate"));
  PlanOptions o;
  o.planner = PlannerKind::none;  // make_plan needs template or lm
  CHECK_THROWS_WITH(make_plan("hi", o), Catch::Contains("planner"));
  o = PlanOptions{};
  o.budget_tokens = 0;
  CHECK_THROWS_WITH(make_plan("hi", o), Catch::Contains("budget_tokens"));
  o = PlanOptions{};
  o.placement = "footer";
  CHECK_THROWS_WITH(make_plan("hi", o), Catch::Contains("placement"));
  o = PlanOptions{};
  o.temperature = -1;
  CHECK_THROWS_WITH(make_plan("hi", o), Catch::Contains("temperature"));
}

// "small": a random model with room in its context window for the few-shot prompt.
precis::engine::EngineOptions small_random_model() {
  precis::engine::EngineOptions eo;
  eo.model_dir = precis::test::cached_model("small", 5, precis::engine::DType::F32);
  eo.kv_cache_mb = 32;
  return eo;
}

TEST_CASE("lm planner on the embedded engine with a random model falls back cleanly") {
  // "small" has room in its context window for the few-shot prompt, so the model really
  // writes (noise), and the grammar turns it away.
  precis::engine::Engine engine(small_random_model());
  const PlanContext ctx = precis::engine_plan_context(engine);
  PlanOptions o = lm_options();
  o.budget_tokens = 40;
  o.lm_grammar = false;  // free text: what the grammar-constrained planner never sees
  const Plan p = make_plan(cases()[0].request, o, ctx);
  INFO(p.fallback_reason << "\n" << p.code);
  CHECK(p.fell_back);
  CHECK(p.attempts == 2);
  CHECK(p.planner_used == PlannerKind::templated);
  CHECK_THAT(p.fallback_reason, Catch::Contains("attempt 1: line"));
  CHECK_THAT(p.fallback_reason, !Catch::Contains("generation failed"));
  CHECK(p.tokens <= 40);
  CHECK(p.tokens == ctx.count_tokens(p.code));
  if (!p.code.empty()) CHECK(check_plan(p.code).ok);
  // The engine is still usable afterwards, its KV cache all returned.
  CHECK(engine.kv_stats().blocks_used == 0);
  precis::engine::SamplingParams sp;
  sp.max_tokens = 4;
  sp.temperature = 0;
  CHECK(engine.generate("In the beginning", sp).completions.size() == 1);
}

TEST_CASE("lm planner on a model whose context cannot hold the prompt falls back") {
  // "tiny" has a 512-token window; the few-shot prompt alone is longer with its 512-piece
  // vocabulary. The error is reported, not thrown.
  precis::engine::EngineOptions eo;
  eo.model_dir = tiny_model();
  eo.kv_cache_mb = 16;
  precis::engine::Engine engine(eo);
  const PlanContext ctx = precis::engine_plan_context(engine);
  const Plan p = make_plan(cases()[5].request, lm_options(), ctx);
  CHECK(p.fell_back);
  CHECK_THAT(p.fallback_reason, Catch::Contains("context window"));
  CHECK(p.task_kind == TaskKind::code_change);
  CHECK(check_plan(p.code).ok);
}

TEST_CASE("render_prompt places the plan as configured") {
  Plan plan;
  plan.code = "def f():\n    return 1";
  const std::string q = "What is 1?";
  const auto before = precis::render_plan(q, plan, "before_question");
  CHECK(before.system.empty());
  CHECK(before.answer_prefix.empty());
  CHECK(before.user.find(plan.code) < before.user.find(q));
  CHECK(before.text() == before.user);

  const auto sys = precis::render_plan(q, plan, "system");
  CHECK_THAT(sys.system, Catch::Contains(plan.code));
  CHECK(sys.user == q);
  CHECK(sys.text() == sys.system + "\n\n" + q);

  const auto pre = precis::render_plan(q, plan, "answer_prefix");
  CHECK(pre.user == q);
  CHECK_THAT(pre.answer_prefix, Catch::Contains(plan.code));
  CHECK(precis::render_prompt(q, plan, "answer_prefix") == q + "\n\n" + pre.answer_prefix);

  // Custom templates; substitution is single-pass, so a plan that mentions {prompt} stays as is.
  precis::PlanTemplates t;
  t.before_question = "<plan>{plan}</plan>\n{prompt}";
  plan.code = "x = \"{prompt}\"";
  CHECK(precis::render_prompt(q, plan, "before_question", t) ==
        "<plan>x = \"{prompt}\"</plan>\nWhat is 1?");
  t.system = "no placeholder";
  CHECK_THROWS_WITH(precis::render_prompt(q, plan, "system", t), Catch::Contains("{plan}"));
  CHECK_THROWS_WITH(precis::render_prompt(q, plan, "sidebar"), Catch::Contains("sidebar"));
  // No plan: the prompt goes through untouched, whatever the placement.
  for (const char* where : {"before_question", "system", "answer_prefix"})
    CHECK(precis::render_prompt(q, Plan{}, where) == q);
}

TEST_CASE("precis plan: the CLI prints the plan and its JSON") {
  using precis::test::run_command;
  std::string out;
  REQUIRE(run_command(std::string(PRECIS_BINARY) +
                          " plan --json --prompt 'Tom has 3 apples and buys 5 more. How many "
                          "apples does he have?' 2>&1",
                      &out) == 0);
  const auto j = nlohmann::json::parse(out);
  CHECK(j["planner"] == "template");
  CHECK(j["task_kind"] == "arithmetic");
  CHECK(j["fell_back"] == false);
  CHECK(j["fallback_reason"] == "");
  CHECK(j["tokens"].get<int>() > 0);
  CHECK_THAT(j["plan"].get<std::string>(), Catch::Contains("apples = 3"));
  CHECK(check_plan(j["plan"].get<std::string>()).ok);

  // The lm planner on a random model falls back, and says so.
  const std::string dir = precis::test::scratch_dir("plan-cli");
  { std::ofstream(dir + "/req.txt") << "Who is the spouse of the director of Titanic?"; }
  out.clear();
  REQUIRE(run_command(std::string(PRECIS_BINARY) +
                          " plan --json --planner lm --budget-tokens 40 --model " + tiny_model() +
                          " --prompt-file " + dir + "/req.txt 2>&1",
                      &out) == 0);
  const auto k = nlohmann::json::parse(out);
  CHECK(k["fell_back"] == true);
  CHECK(k["planner"] == "template");
  CHECK(k["task_kind"] == "multi_hop");
  CHECK(k["fallback_reason"].get<std::string>().size() > 0);
  CHECK(k["tokens"].get<int>() <= 40);

  // Plain output, with the prompt rendered.
  out.clear();
  REQUIRE(run_command(std::string(PRECIS_BINARY) +
                          " plan --render system --prompt 'Why is the sky blue?' 2>/dev/null",
                      &out) == 0);
  CHECK_THAT(out, Catch::StartsWith("def answer(question):"));
  CHECK_THAT(out, Catch::Contains("--- prompt (system)"));
}

TEST_CASE("precis plan: bad arguments name the problem") {
  using precis::test::run_command;
  struct Bad {
    std::string args, needle;
  };
  std::vector<Bad> bad = {
      {"plan", "--prompt"},
      {"plan --prompt hi --planner oracle", "planner"},
      {"plan --prompt hi --budget-tokens 0", "budget_tokens"},
      {"plan --prompt hi --budget-tokens abc", "budget-tokens"},
      {"plan --prompt hi --render footer", "placement"},
      {"plan --prompt hi --model /nonexistent/model", "/nonexistent/model"},
  };
  // Without a shipped default model, --planner lm must be told which model to use.
  if (!std::filesystem::exists(std::string(PRECIS_SOURCE_DIR) + "/models/default/config.json"))
    bad.push_back({"plan --prompt hi --planner lm", "--model"});
  for (const auto& b : bad) {
    std::string out;
    const int rc =
        precis::test::run_command(std::string(PRECIS_BINARY) + " " + b.args + " 2>&1", &out);
    INFO("precis " << b.args << "\n" << out);
    CHECK(rc != 0);
    CHECK_THAT(out, Catch::Contains(b.needle));
  }
  std::string out;
  CHECK(run_command(std::string(PRECIS_BINARY) + " plan --help", &out) == 0);
  CHECK_THAT(out, Catch::Contains("--planner"));
}

TEST_CASE("lm planner under the plan grammar: even a random model's plans parse") {
  // The same random "small" model that writes noise above writes, under the grammar, plans that
  // check_plan accepts on the first attempt, over many seeds at temperature 1.
  precis::engine::Engine engine(small_random_model());
  const PlanContext ctx = precis::engine_plan_context(engine);
  PlanOptions o = lm_options();
  o.temperature = 1.0f;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    o.seed = seed * 7;
    const Plan p = make_plan(cases()[seed % cases().size()].request, o, ctx);
    INFO("seed " << o.seed << ": " << p.fallback_reason << "\n" << p.code);
    CHECK(p.planner_used == PlannerKind::lm);
    CHECK(p.attempts == 1);
    CHECK(check_plan(p.code, o.max_lines).ok);
    CHECK(p.tokens <= o.budget_tokens);
  }
  CHECK(engine.kv_stats().blocks_used == 0);
}

TEST_CASE("the plan grammar parses, and its sentences are plans check_plan accepts") {
  const auto g = precis::engine::GbnfGrammar::parse(precis::planner::lm_plan_grammar());
  const precis::engine::GbnfRecognizer r(g);
  // Hand-written plans in the grammar's subset.
  const std::string plans[] = {
      "def solve(apples, bought):\n    total = apples + bought\n    return total\n",
      "def f():\n    for item in items:\n        if item > 3:\n            keep = item\n"
      "    return keep\n",
      "def answer():\n    film = find_film(\"Leonardo\", actor)\n    return film[0]\n"};
  for (const std::string& plan : plans) {
    precis::engine::GbnfState s = r.start();
    INFO(plan);
    CHECK(r.feed(s, plan));
    CHECK(r.complete(s));
    CHECK(check_plan(plan).ok);
  }
  // Keywords are not names, and prose is not a plan.
  for (const std::string bad : {"def if():\n", "def f():\n    return = 3\n",
                                "def f():\n    the total is 3\n", "First, add the apples.\n"}) {
    precis::engine::GbnfState s = r.start();
    INFO(bad);
    CHECK(!r.feed(s, bad));
  }
}
