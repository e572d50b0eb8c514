// e2e_eval: does the model still answer from a shortened prompt, and how much sooner? On the
// default real model (SmolLM2-135M-Instruct), for each item of data/eval/qa.jsonl (a question
// whose answer is in one of several passages, about 2,000 tokens in all) the model is asked,
// as a chat user message (passages, then the question, named explicitly as precis.question),
//   full            the whole message;
//   stat@R, lm@R    precis compression at rate R with the model-free and the LM scorer;
//   first@R         truncation: the first tokens of the passages up to the same budget;
//   random@R        a random subset of the passages' tokens (seeded), in order;
//   NAME            with --external NAME=FILE: documents another tool compressed (one JSON object
//                   per line: id, compressed_documents, seconds), asked in place of the passages;
// greedy, up to --max-tokens tokens, no plan. An answer is right when the item's answer occurs in
// it (case-insensitive). Prints accuracy, accuracy relative to the full prompt, mean time to
// first token and mean end-to-end time (compression included) and their ratio to the full
// prompt's; --json writes the same figures for bench/e2e_chart.py. A second table gives the
// compression alone for the methods that compress: input tokens (passages + blank line +
// question, in the model's tokens) per second of compression (stat, lm: the pipeline's compress
// stage, models already loaded; first, random: the cut; NAME: the file's seconds). The lm
// pipeline compresses one item untimed before the first. Figures only.
#include <nlohmann/json.hpp>
#include <precis/precis.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/eval_items.hpp"
#include "engine/data_root.hpp"
#include "engine/engine.hpp"
#include "middleware/device.hpp"

using Clock = std::chrono::steady_clock;
using precis::bench::EvalItem;

namespace {

struct Args {
  std::string data = (precis::engine::data_root() / "data" / "eval" / "qa_lookup.jsonl").string();
  // The arithmetic set, asked with and without a plan ("" = skip).
  std::string arithmetic;
  int arithmetic_limit = 0;  // 0 = all
  int arithmetic_max_tokens = 48;
  std::string plan_placement = "before_question";  // PlanOptions::placement
  bool show = false;
  // Off: every request is timed cold. On, truncation's prompt (the full prompt's first tokens)
  // would reuse the full prompt's cached KV blocks and look faster than it is.
  bool prefix_caching = false;
  bool int8_activations = false;  // ModelOptions::int8_activations
  std::string model;
  std::string json_out;
  std::vector<double> rates{0.5, 0.33, 0.2};
  std::vector<std::string> methods{"full", "stat", "lm", "first", "random"};
  int limit = 100;
  int max_tokens = 12;
  double context_rate_spread = precis::CompressOptions{}.context_rate_spread;
  std::vector<std::pair<std::string, std::string>> external;  // NAME, FILE
};

[[noreturn]] void usage(int code) {
  std::fprintf(
      code ? stderr : stdout,
      "usage: e2e_eval [--model FILE|DIR] [--data FILE] [--limit N] [--rates 0.5,0.33,0.2]\n"
      "                [--methods full,stat,lm,first,random] [--max-tokens N] [--json OUT]\n"
      "                [--arithmetic FILE] [--arithmetic-limit N] [--arithmetic-max-tokens N]\n"
      "                [--plan-placement before_question|system|answer_prefix]\n"
      "                [--show] [--prefix-caching] [--activations int8|f32]\n"
      "                [--context-rate-spread S] [--external NAME=FILE.jsonl ...]\n"
      "  --model       default: the default model (SmolLM2-135M-Instruct when fetched)\n"
      "  --data        question set (default data/eval/qa_lookup.jsonl); --limit 0 with\n"
      "                --methods none skips it\n"
      "  --limit       items, spread over the sources (default 100; 0 = all)\n"
      "  --arithmetic  also ask this word-problem set (data/eval/arithmetic.jsonl) without and\n"
      "                with a plan (template planner, plan.when always, no compression)\n"
      "  --show        print every answer to stderr (id, method, expected, got)\n"
      "  --prefix-caching  reuse cached KV blocks across requests (default off: every request\n"
      "                is timed cold; truncation shares the full prompt's first tokens)\n"
      "  --activations  what quantized weights meet: f32 (default) or int8 "
      "(model.int8_activations)\n"
      "  --context-rate-spread  stat@R and lm@R: compress.context_rate_spread (default 0.3;\n"
      "                better-ranked contexts keep more of their tokens; 0: all alike)\n"
      "  --external    documents compressed by another tool (bench/peer_llmlingua.sh), asked\n"
      "                and scored as row NAME; FILE has a JSON object per line with id,\n"
      "                compressed_documents, seconds (its compression time), and optionally\n"
      "                original_tokens (checked against this tokenizer's count); repeatable\n");
  std::exit(code);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = std::min(s.find(',', start), s.size());
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// A whole-string number for a flag, or exit 2 naming the flag: atoi/atof would take "0.3x" as
// 0.3 and "abc" as 0, and run a long evaluation with a setting nobody asked for.
double number_arg(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE || !std::isfinite(d)) {
    std::fprintf(stderr, "e2e_eval: %s wants a number, got '%s'\n", flag.c_str(), v.c_str());
    std::exit(2);
  }
  return d;
}

int int_arg(const std::string& flag, const std::string& v) {
  const double d = number_arg(flag, v);
  if (d != std::floor(d) || d < INT_MIN || d > INT_MAX) {
    std::fprintf(stderr, "e2e_eval: %s wants an integer, got '%s'\n", flag.c_str(), v.c_str());
    std::exit(2);
  }
  return static_cast<int>(d);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") usage(0);
    if (k == "--show") {
      a.show = true;
      continue;
    }
    if (k == "--prefix-caching") {
      a.prefix_caching = true;
      continue;
    }
    if (i + 1 >= argc) usage(2);
    const std::string v = argv[++i];
    if (k == "--model")
      a.model = v;
    else if (k == "--activations")
      a.int8_activations = precis::int8_activations_option(v, "--activations");
    else if (k == "--data")
      a.data = v;
    else if (k == "--json")
      a.json_out = v;
    else if (k == "--limit")
      a.limit = int_arg(k, v);
    else if (k == "--arithmetic")
      a.arithmetic = v;
    else if (k == "--arithmetic-limit")
      a.arithmetic_limit = int_arg(k, v);
    else if (k == "--plan-placement")
      a.plan_placement = v;
    else if (k == "--arithmetic-max-tokens")
      a.arithmetic_max_tokens = std::max(1, int_arg(k, v));
    else if (k == "--max-tokens")
      a.max_tokens = std::max(1, int_arg(k, v));
    else if (k == "--context-rate-spread")
      a.context_rate_spread = number_arg(k, v);
    else if (k == "--methods")
      a.methods = split(v);
    else if (k == "--external") {
      const size_t eq = v.find('=');
      if (eq == 0 || eq == std::string::npos || eq + 1 == v.size()) usage(2);
      a.external.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (k == "--rates") {
      a.rates.clear();
      for (const auto& r : split(v)) a.rates.push_back(number_arg(k, r));
    } else
      usage(2);
  }
  return a;
}

// Every source represented: items taken round-robin over the sources, in file order.
std::vector<EvalItem> pick(std::vector<EvalItem> all, int limit) {
  if (limit <= 0 || limit >= static_cast<int>(all.size())) return all;
  std::map<std::string, std::vector<EvalItem>> by_source;
  for (auto& it : all) by_source[it.source].push_back(std::move(it));
  std::vector<EvalItem> out;
  for (size_t round = 0; static_cast<int>(out.size()) < limit; ++round)
    for (auto& [source, items] : by_source)
      if (round < items.size() && static_cast<int>(out.size()) < limit) out.push_back(items[round]);
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "\n\n") + p;
  return out;
}

void print_answer(const std::string& id, const std::string& method, const std::string& expected,
                  std::string got, bool right) {
  for (char& c : got)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "%s %-10s %s expected %s | got %s\n", id.c_str(), method.c_str(),
               right ? "RIGHT" : "wrong", expected.c_str(), got.c_str());
}

struct Tally {
  int items = 0, right = 0, errors = 0;
  double ttft = 0, total = 0;
  long prompt_tokens = 0;
  // Compression alone, over the items that were compressed (by the pipeline or before it).
  int compressed = 0;
  double compress_s = 0;
  long input_tokens = 0;
};

// Documents compressed by another tool, by item id.
struct ExternalPrompt {
  std::string documents;
  double seconds = 0;
  int original_tokens = -1;  // -1: not given
};
using ExternalFile = std::map<std::string, ExternalPrompt>;

ExternalFile load_external(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  ExternalFile out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      ExternalPrompt p;
      p.documents = j.at("compressed_documents").get<std::string>();
      p.seconds = j.at("seconds").get<double>();
      if (!(p.seconds >= 0)) throw std::runtime_error("seconds must be >= 0");
      if (j.contains("original_tokens")) p.original_tokens = j.at("original_tokens").get<int>();
      if (!out.emplace(j.at("id").get<std::string>(), std::move(p)).second)
        throw std::runtime_error("id repeated");
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": " + e.what());
    }
  }
  return out;
}

// One question through `pipeline`: the user message is `documents` then the question.
// `extra_seconds` is compression done before the pipeline (> 0 counts the item as compressed);
// `input_tokens` the uncompressed passages and question, for the compression's tokens/s.
void ask(precis::Pipeline& pipeline, const EvalItem& it, const std::string& documents,
         std::optional<double> rate, double extra_seconds, int input_tokens, Tally& t,
         const char* show) {
  precis::Request r;
  r.messages = {{"user", documents + "\n\n" + it.question}};
  r.question = it.question;
  if (rate)
    r.rate = *rate;
  else
    r.compress = false;
  const auto t0 = Clock::now();
  std::optional<Clock::time_point> first;
  try {
    const precis::Result res = pipeline.run(r, [&](const std::string&) {
      if (!first) first = Clock::now();
    });
    const auto t1 = Clock::now();
    ++t.items;
    bool right = lower(res.text).find(lower(it.answer)) != std::string::npos;
    for (const auto& alias : it.aliases)
      right = right || lower(res.text).find(lower(alias)) != std::string::npos;
    t.right += right;
    if (show) print_answer(it.id, show, it.answer, res.text, right);
    t.ttft += extra_seconds + std::chrono::duration<double>(first.value_or(t1) - t0).count();
    t.total += extra_seconds + std::chrono::duration<double>(t1 - t0).count();
    t.prompt_tokens += res.final_prompt_tokens;
    double compress_s = extra_seconds;
    bool compressed = extra_seconds > 0;
    for (const auto& st : res.timings)
      if (st.stage == "compress") compress_s += st.ms / 1000, compressed = true;
    if (compressed) {
      ++t.compressed;
      t.compress_s += compress_s;
      t.input_tokens += input_tokens;
    }
  } catch (const std::exception& e) {
    ++t.errors;
    std::fprintf(stderr, "%s: %s\n", it.id.c_str(), e.what());
  }
}

precis::PipelineConfig config(const std::string& model, const std::string& scorer, int max_tokens,
                              const Args& args) {
  precis::PipelineConfig c;
  c.model.path = model;
  c.model.prefix_caching = args.prefix_caching;
  c.model.int8_activations = args.int8_activations;
  c.model.kv_cache_mb = 256;
  c.compress.scorer = precis::parse_scorer_kind(scorer).value();  // "stat" or "lm"
  c.compress.context_rate_spread = args.context_rate_spread;
  c.plan_enabled = false;
  c.generate.max_tokens = max_tokens;
  c.generate.temperature = 0;
  return c;
}

// The last number written in `text` ("$240.00" -> 240, "1,250" -> 1250), if any.
std::optional<double> last_number(const std::string& text) {
  std::optional<double> out;
  for (size_t i = 0; i < text.size();) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    std::string digits;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) ||
                               ((text[i] == ',' || text[i] == '.') && i + 1 < text.size() &&
                                std::isdigit(static_cast<unsigned char>(text[i + 1]))))) {
      if (text[i] != ',') digits += text[i];
      ++i;
    }
    out = std::atof(digits.c_str());
  }
  return out;
}

// The word-problem set asked as a chat message, without and with a template plan: right when
// the reply's last number is the answer (GSM8K's rule).
nlohmann::json run_arithmetic(const std::string& model, const Args& args) {
  std::vector<std::pair<std::string, std::pair<std::string, double>>>
      items;  // id, question, answer
  {
    std::ifstream in(args.arithmetic);
    if (!in) throw std::runtime_error("cannot read " + args.arithmetic);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.empty()) continue;
      try {
        const auto j = nlohmann::json::parse(line);
        items.push_back({j.at("id").get<std::string>(),
                         {j.at("question").get<std::string>(), j.at("answer").get<double>()}});
      } catch (const std::exception& e) {
        throw std::runtime_error(args.arithmetic + ":" + std::to_string(n) + ": " + e.what());
      }
    }
  }
  if (args.arithmetic_limit > 0 && static_cast<int>(items.size()) > args.arithmetic_limit) {
    std::vector<decltype(items)::value_type> spread;  // evenly over the file: every template
    for (int k = 0; k < args.arithmetic_limit; ++k)
      spread.push_back(items[k * items.size() / args.arithmetic_limit]);
    items = std::move(spread);
  }
  precis::PipelineConfig c = config(model, "stat", args.arithmetic_max_tokens, args);
  c.compress_enabled = false;
  precis::Pipeline no_plan(c);
  c.plan_enabled = true;
  c.plan.when = "always";
  c.plan.placement = args.plan_placement;
  precis::Pipeline with_plan(c);

  struct Row {
    const char* name;
    precis::Pipeline* pipeline;
    Tally t;
    long plan_tokens = 0;
  } rows[] = {{"no_plan", &no_plan, {}, 0}, {"template_plan", &with_plan, {}, 0}};
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& [id, qa] = items[i];
    int no_plan_tokens = 0;
    for (Row& row : rows) {
      precis::Request r;
      r.messages = {{"user", qa.first}};
      r.question = qa.first;
      r.compress = false;
      const auto t0 = Clock::now();
      try {
        const precis::Result res = row.pipeline->run(r);
        const auto n = last_number(res.text);
        const bool right = n && std::fabs(*n - qa.second) < 0.005;
        ++row.t.items;
        row.t.right += right;
        row.t.total += std::chrono::duration<double>(Clock::now() - t0).count();
        row.t.prompt_tokens += res.final_prompt_tokens;
        // The plan's share: the same question's prompt without a plan (rows[0]) is asked first.
        if (&row == &rows[0])
          no_plan_tokens = res.final_prompt_tokens;
        else
          row.plan_tokens += res.final_prompt_tokens - no_plan_tokens;
        if (args.show) {
          char want[32];
          std::snprintf(want, sizeof want, "%g", qa.second);
          print_answer(id, row.name, want, res.text, right);
        }
      } catch (const std::exception& e) {
        ++row.t.errors;
        std::fprintf(stderr, "%s: %s\n", id.c_str(), e.what());
      }
    }
    std::fprintf(stderr, "\r%zu/%zu word problems", i + 1, items.size());
  }
  std::fprintf(stderr, "\n");
  std::printf("\narithmetic: %zu word problems, up to %d tokens each, greedy\n", items.size(),
              args.arithmetic_max_tokens);
  std::printf("%-14s %6s %9s %11s %11s %10s %7s\n", "method", "items", "accuracy", "prompt_tok",
              "plan_tok", "total_s", "errors");
  nlohmann::json out = nlohmann::json::array();
  for (const Row& row : rows) {
    const double n = std::max(1, row.t.items);
    std::printf("%-14s %6d %9.3f %11.0f %11.0f %10.3f %7d\n", row.name, row.t.items,
                row.t.right / n, row.t.prompt_tokens / n, row.plan_tokens / n, row.t.total / n,
                row.t.errors);
    out.push_back({{"method", row.name},
                   {"items", row.t.items},
                   {"accuracy", row.t.right / n},
                   {"prompt_tokens", row.t.prompt_tokens / n},
                   {"plan_tokens", row.plan_tokens / n},
                   {"total_s", row.t.total / n},
                   {"errors", row.t.errors}});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    const std::string model = args.model.empty() ? precis::default_model_path() : args.model;
    if (model.empty()) throw std::runtime_error("no model: pass --model or fetch the default");
    const auto items = pick(precis::bench::load_eval_items(args.data), args.limit);
    auto has = [&](const char* m) {
      return std::find(args.methods.begin(), args.methods.end(), m) != args.methods.end();
    };
    // Pipelines per scorer (the scorer is a pipeline setting); the baselines' own tokenizer.
    precis::Pipeline plain(config(model, "stat", args.max_tokens, args));
    std::unique_ptr<precis::Pipeline> lm;
    if (has("lm"))
      lm = std::make_unique<precis::Pipeline>(config(model, "lm", args.max_tokens, args));
    precis::engine::EngineOptions eo;
    eo.model_dir = model;
    eo.kv_cache_mb = 16;
    precis::engine::Engine tok_engine(eo);
    const auto& tok = tok_engine.tokenizer();
    std::vector<std::pair<std::string, ExternalFile>> external;
    for (const auto& [name, path] : args.external) {
      external.emplace_back(name, load_external(path));
      for (const EvalItem& it : items)
        if (!external.back().second.count(it.id))
          throw std::runtime_error(path + ": no compressed documents for item " + it.id);
    }
    std::map<std::string, int> token_count_mismatches;  // by external name
    if (lm && !items.empty()) {  // untimed: the scorer's first call pays one-off costs
      precis::Request warm;
      warm.messages = {{"user", join(items[0].contexts) + "\n\n" + items[0].question}};
      warm.question = items[0].question;
      warm.rate = args.rates.empty() ? 0.5 : args.rates.front();
      precis::GenerateOptions g = lm->config().generate;
      g.max_tokens = 1;
      warm.generate = g;
      lm->run(warm);
    }

    std::map<std::string, Tally> tallies;  // "method@rate"
    std::vector<std::string> order;
    auto tally = [&](const std::string& key) -> Tally& {
      if (!tallies.count(key)) order.push_back(key);
      return tallies[key];
    };
    std::printf("model %s, %zu items, up to %d tokens each, greedy\n", model.c_str(), items.size(),
                args.max_tokens);
    for (size_t i = 0; i < items.size(); ++i) {
      const EvalItem& it = items[i];
      const std::string docs = join(it.contexts);
      const int input_tokens =
          static_cast<int>(tok.encode(docs + "\n\n" + it.question, false).size());
      auto shown = [&](const std::string& key) { return args.show ? key.c_str() : nullptr; };
      if (has("full"))
        ask(plain, it, docs, std::nullopt, 0, input_tokens, tally("full"), shown("full"));
      for (double rate : args.rates) {
        char r[16];
        std::snprintf(r, sizeof r, "@%.2f", rate);
        const std::string stat_key = std::string("stat") + r, lm_key = std::string("lm") + r;
        if (has("stat"))
          ask(plain, it, docs, rate, 0, input_tokens, tally(stat_key), shown(stat_key));
        if (lm) ask(*lm, it, docs, rate, 0, input_tokens, tally(lm_key), shown(lm_key));
        for (const char* base : {"first", "random"}) {
          if (!has(base)) continue;
          const auto t0 = Clock::now();
          const auto sh = std::string(base) == "first"
                              ? precis::bench::keep_first_tokens(tok, it, rate)
                              : precis::bench::keep_random_tokens(tok, it, rate, 1000 + i);
          const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
          const std::string key = std::string(base) + r;
          ask(plain, it, sh.contexts_text, std::nullopt, secs, input_tokens, tally(key),
              shown(key));
        }
      }
      for (const auto& [name, file] : external) {
        const ExternalPrompt& p = file.at(it.id);
        if (p.original_tokens >= 0 && p.original_tokens != input_tokens)
          ++token_count_mismatches[name];
        // A compressor that took no measurable time still compressed.
        ask(plain, it, p.documents, std::nullopt, std::max(p.seconds, 1e-9), input_tokens,
            tally(name), shown(name));
      }
      std::fprintf(stderr, "\r%zu/%zu items", i + 1, items.size());
    }
    std::fprintf(stderr, "\n");

    if (order.empty()) tally("full");  // --methods none: an empty table
    const Tally& full = tallies.count("full") ? tallies["full"] : tallies[order.front()];
    auto acc = [](const Tally& t) {
      return t.items ? static_cast<double>(t.right) / t.items : 0.0;
    };
    auto mean = [](double v, const Tally& t) { return t.items ? v / t.items : 0.0; };
    int width = 12;  // the method column: as wide as the longest name (--external NAME)
    for (const auto& key : order) width = std::max(width, static_cast<int>(key.size()));
    std::printf("%-*s %6s %9s %9s %11s %9s %11s %10s %7s\n", width, "method", "items", "accuracy",
                "vs_full", "prompt_tok", "ttft_s", "ttft/full", "total_s", "errors");
    nlohmann::json out = {
        {"model", model}, {"items", items.size()}, {"rows", nlohmann::json::array()}};
    for (const auto& key : order) {
      const Tally& t = tallies[key];
      const double rel = acc(full) > 0 ? acc(t) / acc(full) : 0.0;
      const double ttft = mean(t.ttft, t), ttft_full = mean(full.ttft, full);
      const double total = mean(t.total, t), total_full = mean(full.total, full);
      std::printf("%-*s %6d %9.3f %9.2f %11.0f %9.3f %11.2f %10.3f %7d   (total/full %.2f)\n",
                  width, key.c_str(), t.items, acc(t), rel,
                  mean(static_cast<double>(t.prompt_tokens), t), ttft,
                  ttft_full > 0 ? ttft / ttft_full : 0.0, total, t.errors,
                  total_full > 0 ? total / total_full : 0.0);
      out["rows"].push_back({{"method", key},
                             {"items", t.items},
                             {"accuracy", acc(t)},
                             {"accuracy_vs_full", rel},
                             {"prompt_tokens", mean(static_cast<double>(t.prompt_tokens), t)},
                             {"ttft_s", ttft},
                             {"total_s", total},
                             {"errors", t.errors}});
      if (t.compressed) {
        out["rows"].back()["input_tokens"] = static_cast<double>(t.input_tokens) / t.compressed;
        out["rows"].back()["compress_s"] = t.compress_s / t.compressed;
        out["rows"].back()["compress_tok_s"] = t.compress_s > 0 ? t.input_tokens / t.compress_s : 0;
      }
    }
    bool compression_table = false;
    for (const auto& key : order) {
      const Tally& t = tallies[key];
      if (!t.compressed) continue;
      if (!compression_table)
        std::printf(
            "\ncompression alone: input = passages + question (model's tokens), seconds "
            "per item, tokens/s = input tokens / seconds\n%-*s %6s %10s %11s %11s\n",
            width, "method", "items", "input_tok", "compress_s", "tok/s");
      compression_table = true;
      std::printf("%-*s %6d %10.0f %11.4f %11.1f\n", width, key.c_str(), t.compressed,
                  static_cast<double>(t.input_tokens) / t.compressed, t.compress_s / t.compressed,
                  t.compress_s > 0 ? t.input_tokens / t.compress_s : 0.0);
    }
    for (const auto& [name, n] : token_count_mismatches)
      std::printf("%s: %d of %zu items give original_tokens other than this tokenizer's count\n",
                  name.c_str(), n, items.size());
    if (!args.arithmetic.empty()) out["arithmetic"] = run_arithmetic(model, args);
    if (!args.json_out.empty()) std::ofstream(args.json_out) << out.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "e2e_eval: %s\n", e.what());
    return 1;
  }
  return 0;
}
