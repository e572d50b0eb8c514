// Template plans on the arithmetic word-problem set (data/eval/arithmetic.jsonl): for each item
// the plan is made as the pipeline makes it (template planner, default options), its executable
// part is run (planner/plan_eval.hpp), and the item counts as
//   right: the plan returns a computed value equal to the answer;
//   wrong: the plan returns a computed value that is not the answer (the goal is none);
//   open:  the plan computes no final value and leaves the step to the model.
// Prints the shares overall, by template and by step count, and the time per plan. No
// pass/fail: the test over the whole set is tests/test_plan_arithmetic.cpp.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "engine/data_root.hpp"
#include "planner/plan_eval.hpp"
#include "precis/plan.hpp"

namespace {

struct Tally {
  int right = 0, wrong = 0, open = 0;
  int n() const { return right + wrong + open; }
};

double pct(int k, int n) {
  return n ? 100.0 * k / n : 0.0;
}

void row(const std::string& label, const Tally& t) {
  std::printf("%-22s %5d %7.1f%% %7.1f%% %7.1f%%\n", label.c_str(), t.n(), pct(t.right, t.n()),
              pct(t.wrong, t.n()), pct(t.open, t.n()));
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = (precis::engine::data_root() / "data" / "eval" / "arithmetic.jsonl").string();
  bool show = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--show") {
      show = true;  // print each wrong or open item's plan
    } else {
      std::fprintf(stderr, "usage: plan_arith_eval [--data FILE] [--show]\n");
      return 2;
    }
  }
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "plan_arith_eval: cannot read %s\n", path.c_str());
    return 1;
  }
  Tally all;
  std::map<std::string, Tally> by_template;
  std::map<int, Tally> by_steps;
  double ms = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto item = nlohmann::json::parse(line);
    const std::string q = item["question"];
    const double answer = item["answer"];
    const auto t0 = std::chrono::steady_clock::now();
    const precis::Plan plan = precis::make_plan(q, precis::PlanOptions{});
    const auto ev = precis::planner::evaluate_plan(plan.code);
    ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const bool asserts = ev.asserts;
    const bool right = asserts && std::fabs(ev.value - answer) < 1e-6 * std::max(1.0, answer);
    for (Tally* t : {&all, &by_template[item["template"]], &by_steps[item["steps"]]}) {
      if (!asserts)
        ++t->open;
      else if (right)
        ++t->right;
      else
        ++t->wrong;
    }
    if (show && !right)
      std::printf("%s %s: %s\n%s\n\n", std::string(item["id"]).c_str(), asserts ? "WRONG" : "open",
                  q.c_str(), plan.code.c_str());
  }
  std::printf("arithmetic set: %s\n\n", path.c_str());
  std::printf("%-22s %5s %8s %8s %8s\n", "", "items", "right", "wrong", "open");
  row("all", all);
  std::printf("\n");
  for (const auto& [s, t] : by_steps) row(std::to_string(s) + " step" + (s == 1 ? "" : "s"), t);
  std::printf("\n");
  for (const auto& [name, t] : by_template) row(name, t);
  std::printf("\n%.3f ms per plan (analysis, plan and evaluation)\n", all.n() ? ms / all.n() : 0);
  return 0;
}
