// compress_eval: how often the answer to a question survives prompt compression, at several
// rates, for the compressor's scorers and two baselines run in the same process on the same
// budgets (in tokens of the same tokenizer):
//   first   keep the first tokens of the contexts, in order, up to the budget;
//   random  keep a uniformly random subset of the contexts' tokens (seeded), in order;
//   stat    precis::compress with the model-free scorer;
//   lm      precis::compress with the LM scorer on the --model's engine (only with --model).
// The budget covers contexts + question; the question is always kept whole, so the baselines
// spend (budget - question tokens) on the contexts. An item's answer "survives" when it occurs
// verbatim in the compressed contexts (the question removed from the compressed text); the
// whitespace-normalised figure collapses runs of whitespace first. Figures only.
#include <nlohmann/json.hpp>
#include <precis/compress.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "bench/eval_items.hpp"
#include "engine/data_root.hpp"
#include "engine/engine.hpp"
#include "engine/tokenizer.hpp"

using precis::engine::Engine;
using precis::engine::EngineOptions;
using precis::engine::Tokenizer;
using Clock = std::chrono::steady_clock;

namespace {

using precis::bench::EvalItem;
using Item = EvalItem;

struct Args {
  std::string data = (precis::engine::data_root() / "data" / "eval" / "qa.jsonl").string();
  std::string model, tokenizer;
  std::vector<double> rates{0.5, 0.33, 0.2};
  int limit = 0;
  bool by_source = false;
  std::vector<std::string> methods;  // empty: all that apply
};

void usage() {
  std::fprintf(stderr,
               "usage: compress_eval [--data FILE] [--model DIR] [--tokenizer FILE]\n"
               "                     [--rates 0.5,0.33,0.2] [--limit N] [--methods LIST]\n"
               "                     [--by-source]\n"
               "  --data       evaluation set, JSON lines (default data/eval/qa.jsonl)\n"
               "  --model      model directory: enables the lm scorer; its tokenizer counts\n"
               "  --tokenizer  tokenizer.model to count tokens with when no --model is given\n"
               "               (default: models/default/tokenizer.model in the source tree)\n"
               "  --limit N    evaluate N items spread evenly over the set\n"
               "  --methods    comma list of first,random,stat,lm (default: all that apply)\n"
               "  --by-source  also print the figures per source\n");
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep))
    if (!part.empty()) out.push_back(part);
  return out;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      return argv[++i];
    };
    if (k == "--data") {
      a.data = value();
    } else if (k == "--model") {
      a.model = value();
    } else if (k == "--tokenizer") {
      a.tokenizer = value();
    } else if (k == "--rates") {
      a.rates.clear();
      for (const auto& r : split(value(), ',')) {
        size_t used = 0;
        const double v = std::stod(r, &used);
        if (used != r.size() || !(v > 0.0 && v <= 1.0))
          throw std::invalid_argument("--rates: '" + r + "' is not a rate in (0, 1]");
        a.rates.push_back(v);
      }
      if (a.rates.empty()) throw std::invalid_argument("--rates: no rate given");
    } else if (k == "--limit") {
      a.limit = std::stoi(value());
      if (a.limit < 1) throw std::invalid_argument("--limit must be at least 1");
    } else if (k == "--methods") {
      a.methods = split(value(), ',');
      for (const auto& m : a.methods)
        if (m != "first" && m != "random" && m != "stat" && m != "lm")
          throw std::invalid_argument("--methods: unknown method '" + m + "'");
    } else if (k == "--by-source") {
      a.by_source = true;
    } else if (k == "-h" || k == "--help") {
      usage();
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown argument '" + k + "'");
    }
  }
  if (!a.model.empty() && !a.tokenizer.empty())
    throw std::invalid_argument(
        "give --model or --tokenizer, not both (with --model, its tokenizer counts)");
  return a;
}

std::string collapse_ws(const std::string& s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// What one method made of one item.
struct Outcome {
  std::string contexts_text;  // compressed contexts only (no question)
  int original_tokens = 0;
  int compressed_tokens = 0;
  double seconds = 0.0;
  bool missed_target = false;  // compress() said it could not meet the target
  bool question_missing = false;
};

Outcome from_shortened(const precis::bench::Shortened& sh, Clock::time_point t0) {
  Outcome o;
  o.contexts_text = sh.contexts_text;
  o.seconds = seconds_since(t0);
  o.original_tokens = sh.original_tokens;
  o.compressed_tokens = sh.kept_tokens;
  return o;
}

Outcome run_first(const Tokenizer& tok, const Item& it, double rate) {
  const auto t0 = Clock::now();
  return from_shortened(precis::bench::keep_first_tokens(tok, it, rate), t0);
}

Outcome run_random(const Tokenizer& tok, const Item& it, double rate, uint64_t seed) {
  const auto t0 = Clock::now();
  return from_shortened(precis::bench::keep_random_tokens(tok, it, rate, seed), t0);
}

Outcome run_compress(const Tokenizer& tok, Engine* engine, const Item& it, double rate,
                     const std::string& scorer) {
  precis::CompressOptions opt;
  opt.rate = rate;
  opt.question = it.question;
  opt.contexts = it.contexts;
  opt.scorer = precis::parse_scorer_kind(scorer).value();  // "stat" or "lm", from this file
  const auto t0 = Clock::now();
  const precis::CompressResult r = precis::compress("", opt, tok, engine);
  Outcome o;
  o.seconds = seconds_since(t0);
  o.original_tokens = r.original_tokens;
  o.compressed_tokens = r.compressed_tokens;
  o.missed_target = !r.note.empty();
  o.contexts_text = r.text;
  // The question is kept verbatim and comes last; take it out so that only the contexts can
  // show the answer.
  const size_t q = o.contexts_text.rfind(it.question);
  if (q != std::string::npos)
    o.contexts_text.erase(q, it.question.size());
  else
    o.question_missing = true;
  return o;
}

struct Tally {
  int items = 0, survived = 0, survived_ws = 0, missed = 0, errors = 0, question_missing = 0;
  double ratio_sum = 0.0, seconds = 0.0;
  long original_tokens = 0, compressed_tokens = 0;

  void add(const Item& it, const Outcome& o) {
    ++items;
    if (o.contexts_text.find(it.answer) != std::string::npos) ++survived;
    if (collapse_ws(o.contexts_text).find(collapse_ws(it.answer)) != std::string::npos)
      ++survived_ws;
    missed += o.missed_target;
    question_missing += o.question_missing;
    if (o.original_tokens > 0)
      ratio_sum += static_cast<double>(o.compressed_tokens) / o.original_tokens;
    seconds += o.seconds;
    original_tokens += o.original_tokens;
    compressed_tokens += o.compressed_tokens;
  }
};

void print_header() {
  std::printf("%-8s %-12s %5s %6s %9s %9s %9s %10s %7s %6s\n", "method", "source", "rate", "items",
              "survived", "surv_ws", "achieved", "ms/1k_tok", "missed", "errors");
}

void print_row(const std::string& method, const std::string& source, double rate, const Tally& t) {
  const int n = std::max(1, t.items);
  const double ms_per_k =
      t.original_tokens > 0 ? 1e6 * t.seconds / static_cast<double>(t.original_tokens) : 0.0;
  std::printf("%-8s %-12s %5.2f %6d %9.3f %9.3f %9.3f %10.3f %7d %6d\n", method.c_str(),
              source.c_str(), rate, t.items, static_cast<double>(t.survived) / n,
              static_cast<double>(t.survived_ws) / n, t.ratio_sum / n, ms_per_k, t.missed,
              t.errors);
}

int run(const Args& args) {
  std::vector<Item> items = precis::bench::load_eval_items(args.data);
  if (args.limit > 0 && args.limit < static_cast<int>(items.size())) {
    // Spread over the whole set, so that every source is represented.
    std::vector<Item> picked;
    const size_t total = items.size();
    for (int i = 0; i < args.limit; ++i) picked.push_back(items[i * total / args.limit]);
    items = std::move(picked);
  }

  std::unique_ptr<Engine> engine;
  std::unique_ptr<Tokenizer> own_tokenizer;
  const Tokenizer* tok = nullptr;
  std::string tok_name;
  if (!args.model.empty()) {
    EngineOptions eo;
    eo.model_dir = args.model;
    engine = std::make_unique<Engine>(eo);
    tok = &engine->tokenizer();
    tok_name = args.model + "/tokenizer.model";
  } else {
    std::string path = args.tokenizer;
    if (path.empty()) {
      path = (precis::engine::data_root() / "models" / "default" / "tokenizer.model").string();
      if (!std::filesystem::exists(path))
        throw std::invalid_argument("no tokenizer: give --model DIR or --tokenizer FILE (" + path +
                                    " does not exist)");
    }
    own_tokenizer = Tokenizer::load(path);
    tok = own_tokenizer.get();
    tok_name = path;
  }

  std::vector<std::string> methods = args.methods;
  if (methods.empty()) {
    methods = {"first", "random", "stat"};
    if (engine) methods.push_back("lm");
  }
  for (const auto& m : methods)
    if (m == "lm" && !engine) throw std::invalid_argument("method lm needs --model");

  // The set, in this tokenizer.
  std::vector<int> lengths;
  std::map<std::string, int> per_source;
  for (const auto& it : items) {
    lengths.push_back(precis::bench::tokenize_item(*tok, it).total);
    ++per_source[it.source];
  }
  std::vector<int> sorted = lengths;
  std::sort(sorted.begin(), sorted.end());
  const double mean =
      std::accumulate(lengths.begin(), lengths.end(), 0.0) / static_cast<double>(lengths.size());
  std::printf("compress_eval: %zu items from %s\n", items.size(), args.data.c_str());
  std::printf("tokenizer: %s (vocab %d)\n", tok_name.c_str(), tok->vocab_size());
  std::printf("tokens per item (contexts + question): mean %.0f, min %d, median %d, max %d\n", mean,
              sorted.front(), sorted[sorted.size() / 2], sorted.back());
  for (const auto& [s, n] : per_source) std::printf("  source %-12s %d items\n", s.c_str(), n);
  std::printf("\n");
  std::fflush(stdout);

  // (method, rate) -> overall tally and per-source tallies.
  struct Row {
    std::string method;
    double rate;
    Tally all;
    std::map<std::string, Tally> by_source;
  };
  std::vector<Row> rows;
  std::map<std::string, std::string> first_error;
  const bool tty = isatty(fileno(stderr)) != 0;
  for (double rate : args.rates) {
    for (const auto& method : methods) {
      Row row{method, rate, {}, {}};
      const auto t0 = Clock::now();
      for (size_t i = 0; i < items.size(); ++i) {
        const Item& it = items[i];
        try {
          Outcome o;
          if (method == "first")
            o = run_first(*tok, it, rate);
          else if (method == "random")
            o = run_random(*tok, it, rate,
                           (0x9E3779B97F4A7C15ULL * (i + 1)) ^ static_cast<uint64_t>(rate * 1e6));
          else
            o = run_compress(*tok, engine.get(), it, rate, method);
          row.all.add(it, o);
          row.by_source[it.source].add(it, o);
        } catch (const std::exception& e) {
          ++row.all.items;
          ++row.all.errors;
          ++row.by_source[it.source].items;
          ++row.by_source[it.source].errors;
          if (!first_error.count(method)) first_error[method] = it.id + ": " + e.what();
        }
        if (tty && ((i + 1) % 5 == 0 || i + 1 == items.size()))
          std::fprintf(stderr, "\r%-6s rate %.2f: %zu/%zu items, %.1f s", method.c_str(), rate,
                       i + 1, items.size(), seconds_since(t0));
        else if (!tty && ((i + 1) % 10 == 0 || i + 1 == items.size()))
          std::fprintf(stderr, "%-6s rate %.2f: %zu/%zu items, %.1f s\n", method.c_str(), rate,
                       i + 1, items.size(), seconds_since(t0));
      }
      if (tty) std::fprintf(stderr, "\n");
      rows.push_back(std::move(row));
    }
  }

  print_header();
  for (const auto& r : rows) print_row(r.method, "all", r.rate, r.all);
  if (args.by_source) {
    std::printf("\n");
    print_header();
    for (const auto& [s, n] : per_source) {
      (void)n;
      for (const auto& r : rows) {
        auto f = r.by_source.find(s);
        if (f != r.by_source.end()) print_row(r.method, s, r.rate, f->second);
      }
    }
  }
  std::printf(
      "\nsurvived: answer verbatim in the compressed contexts; surv_ws: after collapsing "
      "whitespace;\nachieved: mean compressed/original tokens (contexts + question); missed: "
      "items where\ncompress() reported it could not meet the target; errors: items that threw.\n");
  for (const auto& r : rows)
    if (r.all.question_missing > 0)
      std::printf("note: %s at %.2f: question not found verbatim in %d outputs\n", r.method.c_str(),
                  r.rate, r.all.question_missing);
  for (const auto& [m, e] : first_error)
    std::printf("first error (%s): %s\n", m.c_str(), e.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compress_eval: %s\n", e.what());
    if (dynamic_cast<const std::invalid_argument*>(&e)) usage();
    return 2;
  }
}
