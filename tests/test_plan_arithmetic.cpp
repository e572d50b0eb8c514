// Plans that never mislead: a template plan computes a value only when it derived the
// computation from the text with certainty, and otherwise leaves the step open as solve(...).
// Checked by running each plan's executable part (planner/plan_eval.hpp) against answers
// worked out independently: the arithmetic set's answers (checked by
// scripts/check_arithmetic_set.py) and hand-worked examples below.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/data_root.hpp"
#include "planner/plan_eval.hpp"
#include "precis/plan.hpp"

using precis::check_plan;
using precis::make_plan;
using precis::PlanOptions;
using precis::TaskKind;
using precis::planner::evaluate_plan;

namespace {

bool same(double a, double b) {
  return std::fabs(a - b) <= 1e-6 * std::max(1.0, std::fabs(b));
}

}  // namespace

TEST_CASE("plan evaluator: arithmetic assignments give values, anything else is open") {
  auto e = evaluate_plan(
      "def solve():\n    a = 3\n    b = 1.50\n    c = 2 * a\n"
      "    total = a * b + c * (b - 1)  # comment * 9\n    return total\n");
  REQUIRE(e.asserts);
  CHECK(same(e.value, 3 * 1.5 + 6 * 0.5));
  CHECK(e.open_calls.empty());

  e = evaluate_plan("def solve():\n    a = 3\n    r = solve(\"q?\", a)\n    return r\n");
  CHECK_FALSE(e.asserts);
  CHECK(e.open_calls == std::vector<std::string>{"solve"});
  CHECK(e.known.at("a") == 3);

  // A name never given a value, a string, a list, division by zero: no value.
  CHECK_FALSE(evaluate_plan("def f():\n    return x + 1\n").asserts);
  CHECK_FALSE(evaluate_plan("def f():\n    x = \"3\"\n    return x\n").asserts);
  CHECK_FALSE(evaluate_plan("def f():\n    x = [3]\n    return x\n").asserts);
  CHECK_FALSE(evaluate_plan("def f():\n    x = 0\n    return 3 / x\n").asserts);
  CHECK_FALSE(evaluate_plan("def f():\n    return 2 ** 3\n").asserts);

  // An if on known values runs or skips its block; a loop makes what it assigns unknown.
  e = evaluate_plan("def f():\n    x = 5\n    if x < 0:\n        x = recheck(x)\n    return x\n");
  REQUIRE(e.asserts);
  CHECK(e.value == 5);
  e = evaluate_plan("def f():\n    x = -5\n    if x < 0:\n        x = 0 - x\n    return x\n");
  REQUIRE(e.asserts);
  CHECK(e.value == 5);
  e = evaluate_plan("def f():\n    x = 1\n    for i in items:\n        x = x + 1\n    return x\n");
  CHECK_FALSE(e.asserts);
  e = evaluate_plan("def f():\n    x = 1\n    x += 2\n    x *= 4\n    return x\n");
  REQUIRE(e.asserts);
  CHECK(e.value == 12);
}

TEST_CASE("the bakery: the plan computes Monday's revenue, 240, from every quantity") {
  const std::string q =
      "A bakery sells muffins for $3 each and cookies for $1.50 each. On Monday it sold 40 "
      "muffins and twice as many cookies. What was Monday's revenue?";
  const auto p = make_plan(q, PlanOptions{});
  INFO(p.code);
  CHECK(p.task_kind == TaskKind::arithmetic);
  CHECK(check_plan(p.code).ok);
  const auto e = evaluate_plan(p.code);
  REQUIRE(e.asserts);
  CHECK(same(e.value, 240));  // 40 * 3 + 80 * 1.50
  CHECK_THAT(p.code, Catch::Contains("2 * muffins"));
  // The value is also written out, for a model that copies better than it multiplies.
  CHECK_THAT(p.code, Catch::Contains("# = 240\n"));
}

TEST_CASE("arithmetic plans on the whole arithmetic set never assert a wrong value") {
  std::ifstream in(precis::engine::data_root() / "data" / "eval" / "arithmetic.jsonl");
  REQUIRE(in);
  int items = 0, right = 0, open = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto item = nlohmann::json::parse(line);
    const std::string q = item["question"];
    const double answer = item["answer"];
    const auto p = make_plan(q, PlanOptions{});
    INFO(item["id"] << ": " << q << "\n---\n" << p.code);
    CHECK(check_plan(p.code).ok);
    const auto e = evaluate_plan(p.code);
    ++items;
    if (e.asserts) {
      CHECK(same(e.value, answer));
      right += same(e.value, answer);
      // The stated value is the set's answer (checked by scripts/check_arithmetic_set.py),
      // written with at most two decimals.
      char stated[48];
      std::snprintf(stated, sizeof stated, "%.2f", answer);
      std::string v = stated;
      while (v.back() == '0') v.pop_back();
      if (v.back() == '.') v.pop_back();
      CHECK_THAT(p.code, Catch::Contains("= " + v + "\n"));
    } else {
      // Left open as a named sub-goal.
      ++open;
      CHECK_THAT(p.code, Catch::Contains("solve("));
    }
  }
  CHECK(items >= 150);
  // Nor when the budget forces statements out: a plan cut short leaves its result open.
  in.clear();
  in.seekg(0);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto item = nlohmann::json::parse(line);
    for (int budget : {20, 32, 48, 64, 96}) {
      PlanOptions o;
      o.budget_tokens = budget;
      const auto p = make_plan(item["question"].get<std::string>(), o);
      const auto e = evaluate_plan(p.code);
      INFO(item["id"] << " at budget " << budget << "\n" << p.code);
      if (e.asserts) CHECK(same(e.value, item["answer"].get<double>()));
    }
  }
  // Both behaviours occur: some plans compute, the rest leave the step open.
  CHECK(right > 0);
  CHECK(open > 0);
}

TEST_CASE("arithmetic plans do not guess: tricky wordings stay open or are right") {
  // Each answer worked out by hand.
  const std::vector<std::pair<std::string, double>> cases = {
      {"Tom and Anna each have 5 apples. How many apples do they have altogether?", 10},
      {"Sara has 12 pencils. She buys 3 boxes of pencils. How many pencils does she have now?",
       -1},  // unknowable: the boxes' size is not given
      {"Ava has 10 apples. One of them is rotten. How many apples does she have left?", 10},
      {"Liam had 20 cards. He gave 5 cards to Mia. How many cards does Mia have now?", -1},
      {"Ben has 5 more marbles than Ava. Ava has 10 marbles. How many marbles do they have "
       "together?",
       25},
      {"Ava had $50. She bought 3 books for $12 each. How much money does she have left?", 14},
      {"Tom has 20 apples. He gives 2 apples to each of his 3 friends. How many apples are "
       "left?",
       14},
      {"A farm has 12 cows and 3 times as many sheep. How many animals are on the farm?", 48},
      {"Sam walks 3 km a day. How many km does he walk in 4 days?", 12},
      {"Ava buys 3 pens for $2 each. Ben buys 4 pens for $2 each. How much does Ava spend?", 6},
      {"A shirt costs $25 and is on sale for 20% off. Maria buys 3 shirts. How much does she "
       "pay in total?",
       60},
      {"A class has 20 students. Half of them are girls. How many students are there in "
       "total?",
       20},
      {"Ava has 3 packs of cards. Ben has 2 packs of cards. Each pack has 10 cards. How many "
       "cards do they have together?",
       50},
      {"Ava is 30 years old. Ben is 5 years older than Ava. How much older is Ben than Ava?", 5},
      {"Sam has 24 apples. He gives 4 to Tom and shares the rest equally among 5 friends. How "
       "many apples does each friend get?",
       4},
      {"Ava had 20 cookies. She ate 4 and gave half of them to Ben. How many cookies does she "
       "have left?",
       8},
      {"A car travels at 60 km/h for 2 hours and then at 40 km/h for 3 hours. How far does it "
       "travel?",
       240},
      {"A train travels at 60 miles per hour for 2 hours. How many kilometers does it travel?",
       -1},  // needs a conversion the text does not give
      {"Ava is 30 years old and Ben is 42 years old. How many years older is Ben than Ava?", 12},
      // Certain ones: the plan must compute them, and right.
      {"Ava works 6 hours a day for 5 days and earns $10 per hour. How much does she earn?", 300},
      {"Kim has 5 boxes with 12 pencils in each box. She gives away 9 pencils. How many pencils "
       "does she have left?",
       51},
      {"Ava buys 3 notebooks at $2.50 each and 2 pens at $1.25 each. She pays with a $20 bill. "
       "How much change does she get?",
       10},
      {"Ava had $40. She spent $7 on a ticket and $4 on snacks. How much money is left?", 29},
  };
  for (const auto& [q, answer] : cases) {
    const auto p = make_plan(q, PlanOptions{});
    const auto e = evaluate_plan(p.code);
    INFO(q << "\n---\n" << p.code);
    if (e.asserts) CHECK(same(e.value, answer));
  }
  for (size_t i = cases.size() - 4; i < cases.size(); ++i) {
    INFO(cases[i].first);
    CHECK(evaluate_plan(make_plan(cases[i].first, PlanOptions{}).code).asserts);
  }
}

TEST_CASE("a request for new code gets a code plan: signature, steps, edge cases, a test") {
  const auto p =
      make_plan("Write a function that returns the k most frequent words in a text, ignoring case.",
                PlanOptions{});
  INFO(p.code);
  CHECK(p.task_kind == TaskKind::code);
  CHECK(precis::plan_helps(p.task_kind.value()));
  CHECK(check_plan(p.code).ok);
  CHECK_THAT(p.code, Catch::Contains("signature = \"def most_frequent_words(text, k)\""));
  CHECK_THAT(p.code, Catch::Contains("steps = ["));
  CHECK_THAT(p.code, Catch::Contains("\"count each\""));
  CHECK_THAT(p.code, Catch::Contains("\"take the first k\""));
  CHECK_THAT(p.code, Catch::Contains("edge_cases = ["));
  CHECK_THAT(p.code, Catch::Contains("\"k <= 0\""));
  CHECK_THAT(p.code, Catch::Contains("test = write_test("));
  // A code plan states no value.
  CHECK_FALSE(evaluate_plan(p.code).asserts);

  // Changing code that is given stays a code change; "make the function faster" is not new code.
  CHECK(make_plan("Fix the bug in parse_config in config.py.", PlanOptions{}).task_kind ==
        TaskKind::code_change);
  CHECK(make_plan("Make the sort function in utils.py faster.", PlanOptions{}).task_kind ==
        TaskKind::code_change);
  CHECK(make_plan("Write me a Python class for a bank account with deposit and withdraw.",
                  PlanOptions{})
            .task_kind == TaskKind::code);
}

TEST_CASE("questions written apart from the set's templates: no wrong value either") {
  // GSM8K-like questions written by hand without looking at planner/word_problem.cpp's
  // patterns; answers worked by hand (-1: not answerable from the text alone).
  const std::vector<std::pair<std::string, double>> cases = {
      {"Janet has 16 eggs. She eats 3 for breakfast and bakes muffins with 4. She sells the rest "
       "at $2 each. How much does she make?",
       18},
      {"A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total "
       "does it take?",
       3},
      {"James runs 3 sprints 3 times a week. He runs 60 meters each sprint. How many meters does "
       "he run a week?",
       540},
      {"Tom bought 5 pencils and 3 erasers. How many items did he buy in total?", 8},
      {"Mia had 45 stickers. She gave 12 stickers to Leo and 8 stickers to Zoe. How many stickers "
       "does Mia have left?",
       25},
      {"Leo has 7 marbles. Zoe has 3 times as many marbles as Leo. How many marbles does Zoe have?",
       21},
      {"A store sold 120 apples on Monday and 85 apples on Tuesday. How many apples did it sell in "
       "total?",
       205},
      {"Sara buys 4 notebooks at $3 each and a pen for $2. How much does she spend?", 14},
      {"Ben earns $12 an hour. He works 5 hours on Saturday and 3 hours on Sunday. How much does "
       "he earn?",
       96},
      {"A farmer has 50 chickens. He sells 20 chickens and buys 15 chickens. How many chickens "
       "does he have now?",
       45},
      {"Lucy read 30 pages on Monday and 20 more pages on Tuesday than on Monday. How many pages "
       "did she read in total?",
       80},
      {"Each box holds 8 crayons. Max has 6 boxes. How many crayons does Max have?", 48},
      {"Ann has 10 apples. Bob has 2 apples. Ann gives Bob 3 apples. How many apples does Bob have "
       "now?",
       5},
      {"Ann has 10 apples. She gives Bob 3 apples. How many apples does Bob have now?", -1},
      {"A pizza costs $12. Tom buys 3 pizzas and pays with a $50 bill. How much change does he "
       "get?",
       14},
      {"Tom had 30 cards. He lost 5 cards and then found 8 cards. How many cards does he have now?",
       33},
      {"Kate bought 3 shirts for $15 each. She returned 1 shirt. How much did she spend?", 30},
      {"Jake has 12 apples. He buys 2 bags with 6 apples in each bag. How many apples does he have "
       "now?",
       24},
      {"There are 24 students in a class. Each student has 3 pencils. How many pencils are there?",
       72},
      {"Amy has 5 dollars. She earns 10 dollars and spends 4 dollars. How many dollars does she "
       "have now?",
       11},
      {"A baker sold 40 muffins for $2 each and 30 cookies for $1 each. He spent $20 on "
       "ingredients. How much money did he make?",
       80},
      {"Sam walked 3 miles on Monday and twice as far on Tuesday. How many miles did he walk "
       "altogether?",
       9},
      {"Lily has 20 candies. She gives 2 candies to each of her 4 friends. How many candies does "
       "she have left?",
       12},
      {"Ryan sold 10 tickets at $5 each and 4 tickets at $8 each. How much money did he collect?",
       82},
      {"A shop had 100 toys. It sold 35 toys in the morning and 25 toys in the afternoon. How many "
       "toys were left?",
       40},
  };
  int asserted = 0;
  for (const auto& [q, answer] : cases) {
    const auto p = make_plan(q, PlanOptions{});
    const auto e = evaluate_plan(p.code);
    INFO(q << "\n---\n" << p.code);
    CHECK(check_plan(p.code).ok);
    if (e.asserts) {
      ++asserted;
      CHECK(same(e.value, answer));
    }
  }
  CHECK(asserted > 0);
}
