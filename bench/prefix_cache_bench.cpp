// prefix_cache_bench: what prefix caching saves. Time to first token (one request, max_tokens 1:
// its prefill plus one sampled token) for a prompt whose long prefix was seen before (warm)
// against one whose prefix is new (cold), on the same engine, alternating, several rounds.
// Prints the median of each and their ratio (issue 12's goal: warm >= 5x faster at a
// 2,000-token prefix). A figure, never a pass/fail.
//
//   prefix_cache_bench [--model PATH] [--prefix-tokens 2000] [--suffix-tokens 16] [--rounds 3]
//                      [--kv-cache-mb 512] [--no-prefix-caching]
//
// Prompts are token ids drawn at random from the vocabulary (seeded, end tokens left out): the
// prefill's cost does not depend on the text, and random ids make each round's prefix new.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "precis/precis.hpp"

using namespace precis::engine;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<int> random_tokens(const Engine& e, int n, std::mt19937_64& rng) {
  const auto& ends = e.tokenizer().eos_ids();
  std::uniform_int_distribution<int> pick(3, e.tokenizer().vocab_size() - 1);
  std::vector<int> out;
  while (static_cast<int>(out.size()) < n) {
    const int t = pick(rng);
    if (std::find(ends.begin(), ends.end(), t) == ends.end()) out.push_back(t);
  }
  return out;
}

// Seconds to the first token of `prompt`.
double ttft(Engine& e, const std::vector<int>& prompt) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 1;
  p.ignore_eos = true;
  const auto t = Clock::now();
  e.generate_tokens(prompt, p);
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  int prefix_tokens = 2000, suffix_tokens = 16, rounds = 3;
  double kv_cache_mb = 512;
  bool prefix_caching = true;
  try {
    // Options with a value, by name; --no-prefix-caching is the one switch.
    const std::map<std::string, std::function<void(const std::string&)>> set = {
        {"--model", [&](const std::string& v) { model = v; }},
        {"--prefix-tokens", [&](const std::string& v) { prefix_tokens = std::stoi(v); }},
        {"--suffix-tokens", [&](const std::string& v) { suffix_tokens = std::stoi(v); }},
        {"--rounds", [&](const std::string& v) { rounds = std::stoi(v); }},
        {"--kv-cache-mb", [&](const std::string& v) { kv_cache_mb = std::stod(v); }}};
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto it = set.find(a);
      if (a == "--no-prefix-caching")
        prefix_caching = false;
      else if (it == set.end())
        throw std::invalid_argument("unknown option " + a);
      else if (i + 1 >= argc)
        throw std::invalid_argument(a + " needs a value");
      else
        it->second(argv[++i]);
    }
    if (model.empty()) model = precis::default_model_path();
    if (prefix_tokens < 1 || suffix_tokens < 1 || rounds < 1)
      throw std::invalid_argument("--prefix-tokens, --suffix-tokens and --rounds must be >= 1");
    EngineOptions o;
    o.model_dir = model;
    o.kv_cache_mb = kv_cache_mb;
    o.prefix_caching = prefix_caching;
    Engine e(o);
    const int context = e.config().max_position_embeddings;
    if (prefix_tokens + suffix_tokens + 1 >= context)
      throw std::invalid_argument("prefix + suffix must fit the model's context window of " +
                                  std::to_string(context) + " tokens");
    std::printf("model %s, prefix %d tokens + suffix %d, prefix caching %s, %d rounds\n",
                model.c_str(), prefix_tokens, suffix_tokens, prefix_caching ? "on" : "off", rounds);
    std::mt19937_64 rng(12);
    std::vector<double> cold, warm;
    for (int r = 0; r < rounds; ++r) {
      const auto prefix = random_tokens(e, prefix_tokens, rng);
      auto first = prefix, second = prefix;
      for (int t : random_tokens(e, suffix_tokens, rng)) first.push_back(t);
      for (int t : random_tokens(e, suffix_tokens, rng)) second.push_back(t);
      cold.push_back(ttft(e, first));   // the prefix is new: all of it is computed
      warm.push_back(ttft(e, second));  // the same prefix again, another suffix
      std::printf("round %d: cold %.3f s, warm %.3f s\n", r + 1, cold.back(), warm.back());
    }
    const KvStats kv = e.kv_stats();
    const double c = median(cold), w = median(warm);
    std::printf("time to first token (median): cold %.3f s, warm %.3f s, ratio %.1fx\n", c, w,
                c / w);
    std::printf("prefix cache: %llu of %llu prompt tokens found cached\n",
                static_cast<unsigned long long>(kv.prefix_hit_tokens),
                static_cast<unsigned long long>(kv.prefix_queried_tokens));
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "prefix_cache_bench: %s\n", ex.what());
    return 1;
  }
  return 0;
}
