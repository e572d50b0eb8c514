#include "bench/eval_items.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <stdexcept>
#include <utility>

namespace precis::bench {

std::vector<EvalItem> load_eval_items(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<EvalItem> items;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(where + ": not JSON: " + e.what());
    }
    try {
      EvalItem it;
      it.id = j.at("id").get<std::string>();
      it.source = j.value("source", std::string("?"));
      it.question = j.at("question").get<std::string>();
      it.answer = j.at("answer").get<std::string>();
      if (j.contains("aliases")) it.aliases = j.at("aliases").get<std::vector<std::string>>();
      it.contexts = j.at("contexts").get<std::vector<std::string>>();
      if (it.contexts.empty()) throw std::runtime_error("no contexts");
      if (it.answer.empty()) throw std::runtime_error("empty answer");
      items.push_back(std::move(it));
    } catch (const std::exception& e) {
      throw std::runtime_error(where + ": bad item: " + e.what());
    }
  }
  if (items.empty()) throw std::runtime_error(path + ": no items");
  return items;
}

TokenizedItem tokenize_item(const engine::Tokenizer& tok, const EvalItem& it) {
  TokenizedItem t;
  for (const auto& c : it.contexts) {
    t.contexts.push_back(tok.encode(c, false));
    t.total += static_cast<int>(t.contexts.back().size());
  }
  t.question = static_cast<int>(tok.encode(it.question, false).size());
  t.total += t.question;
  return t;
}

namespace {

// Context tokens a baseline may keep: the budget (rate of contexts + question) less the
// question, which is always kept.
int context_budget(const TokenizedItem& t, double rate) {
  const int budget = static_cast<int>(std::lround(rate * t.total));
  return std::max(0, budget - t.question);
}

std::string join_contexts(const engine::Tokenizer& tok, const std::vector<std::vector<int>>& kept) {
  std::string out;
  for (const auto& ids : kept) {
    if (ids.empty()) continue;
    if (!out.empty()) out += "\n\n";
    out += tok.decode(ids);
  }
  return out;
}

}  // namespace

Shortened keep_first_tokens(const engine::Tokenizer& tok, const EvalItem& it, double rate) {
  const TokenizedItem t = tokenize_item(tok, it);
  int left = context_budget(t, rate);
  std::vector<std::vector<int>> kept;
  int n = 0;
  for (const auto& ids : t.contexts) {
    const int take = std::min<int>(left, static_cast<int>(ids.size()));
    kept.emplace_back(ids.begin(), ids.begin() + take);
    left -= take;
    n += take;
  }
  return {join_contexts(tok, kept), t.total, n + t.question};
}

Shortened keep_random_tokens(const engine::Tokenizer& tok, const EvalItem& it, double rate,
                             uint64_t seed) {
  const TokenizedItem t = tokenize_item(tok, it);
  const int budget = context_budget(t, rate);
  std::vector<std::pair<int, int>> all;  // (context, position)
  for (int c = 0; c < static_cast<int>(t.contexts.size()); ++c)
    for (int p = 0; p < static_cast<int>(t.contexts[c].size()); ++p) all.emplace_back(c, p);
  const int keep = std::min<int>(budget, static_cast<int>(all.size()));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < keep; ++i) {  // partial Fisher-Yates: the first `keep` are the sample
    std::uniform_int_distribution<size_t> pick(i, all.size() - 1);
    std::swap(all[i], all[pick(rng)]);
  }
  all.resize(keep);
  std::sort(all.begin(), all.end());
  std::vector<std::vector<int>> kept(t.contexts.size());
  for (const auto& [c, p] : all) kept[c].push_back(t.contexts[c][p]);
  return {join_contexts(tok, kept), t.total, keep + t.question};
}

}  // namespace precis::bench
