// Sampler properties, each checked against a reference computed here from first principles
// (softmax, sorting, counting) rather than against values taken from the sampler itself.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/sampler.hpp"

using precis::engine::apply_penalties;
using precis::engine::find_stop;
using precis::engine::log_softmax;
using precis::engine::make_rng;
using precis::engine::sample_token;
using precis::engine::SampleResult;
using precis::engine::SamplingParams;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Upper 99.9% points of the chi-square distribution, df = 1..9 (standard statistical tables,
// e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.4). A correct sampler fails one such check with
// probability 0.001; the seeds are fixed, so a pass is reproducible.
constexpr double kChiSquare999[] = {0.0,    10.828, 13.816, 16.266, 18.467,
                                    20.515, 22.458, 24.322, 26.124, 27.877};

std::vector<float> random_logits(std::mt19937_64& gen, size_t vocab, double scale) {
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<float> out(vocab);
  for (auto& x : out) x = static_cast<float>(normal(gen));
  return out;
}

// softmax(logits / temperature) in long double, the reference distribution.
std::vector<double> softmax(const std::vector<float>& logits, double temperature = 1.0) {
  long double m = -std::numeric_limits<long double>::infinity();
  for (float x : logits) m = std::max<long double>(m, x / static_cast<long double>(temperature));
  long double sum = 0;
  std::vector<long double> e(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    e[i] = std::exp(logits[i] / static_cast<long double>(temperature) - m);
    sum += e[i];
  }
  std::vector<double> p(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) p[i] = static_cast<double>(e[i] / sum);
  return p;
}

// Token ids ordered best first: higher value, then lower id.
std::vector<int> ranked(const std::vector<double>& value) {
  std::vector<int> ids(value.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return value[a] > value[b]; });
  return ids;
}

std::vector<double> as_double(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}

int reference_argmax(const std::vector<float>& logits) {
  int best = 0;
  for (size_t i = 0; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<int>(i);
  return best;
}

int sample(const std::vector<float>& logits, const SamplingParams& p, std::mt19937_64& rng,
           const std::vector<int>& prompt = {}, const std::vector<int>& output = {}) {
  return sample_token(logits, p, prompt, output, rng).token;
}

std::vector<int> histogram(const std::vector<float>& logits, const SamplingParams& p, int draws,
                           uint64_t seed, const std::vector<int>& prompt = {},
                           const std::vector<int>& output = {}) {
  auto rng = make_rng(seed, 0);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    const int t = sample(logits, p, rng, prompt, output);
    REQUIRE(t >= 0);
    REQUIRE(t < static_cast<int>(logits.size()));
    ++counts[t];
  }
  return counts;
}

// Pearson's statistic over the tokens with non-zero expected probability; any draw of a
// zero-probability token is a failure by itself. Returns the statistic and sets `df`.
double chi_square(const std::vector<int>& counts, const std::vector<double>& expected, int draws,
                  int& df) {
  double stat = 0.0;
  int cells = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      CHECK(counts[i] == 0);
      continue;
    }
    const double e = expected[i] * draws;
    REQUIRE(e >= 5.0);  // the chi-square approximation needs it
    stat += (counts[i] - e) * (counts[i] - e) / e;
    ++cells;
  }
  df = cells - 1;
  return stat;
}

// Reference filters, each taking a normalised distribution and returning the kept set
// (renormalised), applied in the documented order.
std::vector<double> keep_top_k(const std::vector<double>& p, int k) {
  std::vector<double> out(p.size(), 0.0);
  auto ids = ranked(p);
  double sum = 0.0;
  for (int j = 0; j < k && j < static_cast<int>(ids.size()); ++j) sum += p[ids[j]];
  for (int j = 0; j < k && j < static_cast<int>(ids.size()); ++j) out[ids[j]] = p[ids[j]] / sum;
  return out;
}

// Smallest most-probable prefix with cumulative probability >= top_p. Sets `margin` to how close
// any prefix sum came to top_p, so tests can avoid inputs where rounding could decide membership.
std::vector<double> keep_top_p(const std::vector<double>& p, double top_p, double* margin) {
  std::vector<double> out(p.size(), 0.0);
  auto ids = ranked(p);
  double cum = 0.0;
  size_t keep = ids.size();
  double closest = 1.0;
  for (size_t j = 0; j < ids.size(); ++j) {
    cum += p[ids[j]];
    closest = std::min(closest, std::abs(cum - top_p));
    if (cum >= top_p) {
      keep = j + 1;
      break;
    }
  }
  if (margin) *margin = closest;
  double sum = 0.0;
  for (size_t j = 0; j < keep; ++j) sum += p[ids[j]];
  for (size_t j = 0; j < keep; ++j) out[ids[j]] = p[ids[j]] / sum;
  return out;
}

std::vector<double> keep_min_p(const std::vector<double>& p, double min_p, double* margin) {
  const double pmax = *std::max_element(p.begin(), p.end());
  std::vector<double> out(p.size(), 0.0);
  double sum = 0.0, closest = 1.0;
  for (size_t i = 0; i < p.size(); ++i) {
    closest = std::min(closest, std::abs(p[i] - min_p * pmax));
    if (p[i] >= min_p * pmax) sum += p[i];
  }
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] >= min_p * pmax) out[i] = p[i] / sum;
  if (margin) *margin = closest;
  return out;
}

}  // namespace

TEST_CASE("greedy sampling returns the argmax of the logits", "[sampler]") {
  std::mt19937_64 gen(1);
  auto rng = make_rng(7, 0);
  std::uniform_int_distribution<size_t> vocab(1, 300);
  for (float temperature : {0.0f, 1e-6f}) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = 5;  // filters must not matter when greedy
    p.top_p = 0.5f;
    for (int trial = 0; trial < 500; ++trial) {
      const auto logits = random_logits(gen, vocab(gen), 3.0);
      REQUIRE(sample(logits, p, rng) == reference_argmax(logits));
    }
  }
}

TEST_CASE("greedy ties go to the lowest token id", "[sampler]") {
  std::mt19937_64 gen(2);
  auto rng = make_rng(1, 0);
  SamplingParams p;
  p.temperature = 0.0f;
  for (int trial = 0; trial < 200; ++trial) {
    auto logits = random_logits(gen, 64, 1.0);
    std::uniform_int_distribution<int> pos(0, 63);
    const int a = pos(gen), b = pos(gen), c = pos(gen);
    for (int i : {a, b, c}) logits[i] = 10.0f;
    REQUIRE(sample(logits, p, rng) == std::min({a, b, c}));
  }
  REQUIRE(sample(std::vector<float>(10, 0.5f), p, rng) == 0);
}

TEST_CASE("top-k emits only tokens among the k largest logits", "[sampler]") {
  std::mt19937_64 gen(3);
  auto rng = make_rng(11, 0);
  for (int k : {1, 2, 5, 10}) {
    for (float temperature : {1.0f, 3.0f}) {
      SamplingParams p;
      p.temperature = temperature;
      p.top_k = k;
      for (int trial = 0; trial < 100; ++trial) {
        const auto logits = random_logits(gen, 50, 1.0);
        const auto ids = ranked(as_double(logits));
        const std::set<int> allowed(ids.begin(), ids.begin() + k);
        for (int d = 0; d < 30; ++d) REQUIRE(allowed.count(sample(logits, p, rng)) == 1);
      }
    }
  }
}

TEST_CASE("top-k keeps exactly k tokens, ties at the boundary by lowest id", "[sampler]") {
  auto rng = make_rng(12, 0);
  SamplingParams p;
  p.top_k = 2;
  // Three tokens share the top logit; k = 2 keeps the two lowest ids of them.
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 3.0f, 0.0f};
  std::set<int> seen;
  for (int d = 0; d < 2000; ++d) seen.insert(sample(logits, p, rng));
  REQUIRE(seen == std::set<int>{1, 2});

  p.top_k = 4;  // flat logits: every one of the k kept tokens must actually be drawn
  std::set<int> seen4;
  for (int d = 0; d < 2000; ++d) seen4.insert(sample(std::vector<float>(9, 0.0f), p, rng));
  REQUIRE(seen4 == std::set<int>{0, 1, 2, 3});
}

TEST_CASE("top-k on a Llama-sized vocabulary", "[sampler]") {
  std::mt19937_64 gen(4);
  auto rng = make_rng(13, 0);
  SamplingParams p;
  p.top_k = 40;
  p.temperature = 2.0f;
  const auto logits = random_logits(gen, 32000, 1.0);
  const auto ids = ranked(as_double(logits));
  const std::set<int> allowed(ids.begin(), ids.begin() + 40);
  for (int d = 0; d < 300; ++d) REQUIRE(allowed.count(sample(logits, p, rng)) == 1);
}

TEST_CASE("top-p emits only tokens from the nucleus", "[sampler]") {
  std::mt19937_64 gen(5);
  auto rng = make_rng(14, 0);
  int checked = 0;
  for (float top_p : {0.01f, 0.5f, 0.9f, 0.95f}) {
    for (float temperature : {0.8f, 1.0f, 1.5f}) {
      SamplingParams p;
      p.temperature = temperature;
      p.top_p = top_p;
      for (int trial = 0; trial < 60; ++trial) {
        const auto logits = random_logits(gen, 30, 2.0);
        double margin = 0.0;
        const auto nucleus = keep_top_p(softmax(logits, temperature), top_p, &margin);
        if (margin < 1e-6) continue;  // too close to call in floating point
        ++checked;
        for (int d = 0; d < 30; ++d) REQUIRE(nucleus[sample(logits, p, rng)] > 0.0);
      }
    }
  }
  REQUIRE(checked > 600);
}

TEST_CASE("top-p on a large vocabulary with a wide nucleus", "[sampler]") {
  std::mt19937_64 gen(18);
  auto rng = make_rng(19, 0);
  int checked = 0;
  for (float top_p : {0.5f, 0.9f, 0.99f}) {
    SamplingParams p;
    p.top_p = top_p;
    for (int trial = 0; trial < 5; ++trial) {
      const auto logits = random_logits(gen, 4000, 1.0);
      double margin = 0.0;
      const auto nucleus = keep_top_p(softmax(logits), top_p, &margin);
      if (margin < 1e-7) continue;
      ++checked;
      const auto size =
          std::count_if(nucleus.begin(), nucleus.end(), [](double x) { return x > 0; });
      INFO("nucleus size " << size);
      REQUIRE(size > 400);  // many times any first block a partial sort might start with
      for (int d = 0; d < 300; ++d) REQUIRE(nucleus[sample(logits, p, rng)] > 0.0);
    }
  }
  REQUIRE(checked >= 12);
}

TEST_CASE("min-p emits only tokens with probability >= min_p * max probability", "[sampler]") {
  std::mt19937_64 gen(6);
  auto rng = make_rng(15, 0);
  int checked = 0;
  for (float min_p : {0.05f, 0.2f, 0.5f, 0.9f}) {
    for (float temperature : {0.7f, 1.0f, 2.0f}) {
      SamplingParams p;
      p.temperature = temperature;
      p.min_p = min_p;
      for (int trial = 0; trial < 60; ++trial) {
        const auto logits = random_logits(gen, 30, 2.0);
        double margin = 0.0;
        const auto kept = keep_min_p(softmax(logits, temperature), min_p, &margin);
        if (margin < 1e-9) continue;
        ++checked;
        for (int d = 0; d < 30; ++d) REQUIRE(kept[sample(logits, p, rng)] > 0.0);
      }
    }
  }
  REQUIRE(checked > 600);
}

TEST_CASE("tokens with -inf logits are never emitted", "[sampler]") {
  std::mt19937_64 gen(7);
  auto rng = make_rng(16, 0);
  SamplingParams p;
  p.temperature = 50.0f;  // flattens everything finite, so only the mask can exclude
  auto logits = random_logits(gen, 40, 1.0);
  for (size_t i = 0; i < logits.size(); i += 2) logits[i] = -kInf;
  for (int d = 0; d < 5000; ++d) REQUIRE(sample(logits, p, rng) % 2 == 1);

  std::vector<float> one(100, -kInf);
  one[37] = -1e30f;
  for (int d = 0; d < 100; ++d) REQUIRE(sample(one, p, rng) == 37);
}

TEST_CASE("seeded generators repeat exactly, different seeds differ", "[sampler]") {
  std::mt19937_64 gen(8);
  const auto logits = random_logits(gen, 100, 0.5);
  SamplingParams p;
  p.top_p = 0.95f;
  auto run = [&](std::optional<uint64_t> seed, uint64_t index) {
    auto rng = make_rng(seed, index);
    std::vector<int> out;
    for (int d = 0; d < 200; ++d) out.push_back(sample(logits, p, rng));
    return out;
  };
  REQUIRE(run(42, 0) == run(42, 0));
  REQUIRE(run(42, 3) == run(42, 3));
  REQUIRE(run(42, 0) != run(43, 0));
  REQUIRE(run(42, 0) != run(42, 1));  // n > 1 samples of one request must not be copies
  REQUIRE(run(0, 1) != run(1, 0));
  REQUIRE(run(std::nullopt, 0) != run(std::nullopt, 0));
}

TEST_CASE("chi-square: temperature sampling follows softmax(logits / T)", "[sampler]") {
  const std::vector<float> logits = {1.2f, 0.3f, -0.5f, 2.0f, 0.0f, -1.0f, 0.8f, 1.5f, -0.2f, 0.5f};
  constexpr int kDraws = 20000;
  for (float temperature : {0.7f, 1.0f}) {
    SamplingParams p;
    p.temperature = temperature;
    const auto counts = histogram(logits, p, kDraws, 100 + static_cast<uint64_t>(temperature * 10));
    int df = 0;
    const double stat = chi_square(counts, softmax(logits, temperature), kDraws, df);
    INFO("T = " << temperature << ", chi2 = " << stat << ", df = " << df);
    REQUIRE(df == 9);
    REQUIRE(stat < kChiSquare999[df]);
  }
}

TEST_CASE("chi-square: top-p samples the renormalised nucleus", "[sampler]") {
  const std::vector<float> logits = {1.2f, 0.3f, -0.5f, 2.0f, 0.0f, -1.0f, 0.8f, 1.5f, -0.2f, 0.5f};
  constexpr int kDraws = 20000;
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.8f;
  double margin = 0.0;
  const auto expected = keep_top_p(softmax(logits), p.top_p, &margin);
  REQUIRE(margin > 1e-3);
  const auto counts = histogram(logits, p, kDraws, 200);
  int df = 0;
  const double stat = chi_square(counts, expected, kDraws, df);
  INFO("chi2 = " << stat << ", df = " << df);
  REQUIRE(df >= 2);
  REQUIRE(df <= 8);  // the nucleus really dropped tokens
  REQUIRE(stat < kChiSquare999[df]);
}

TEST_CASE("chi-square: top-k, then top-p, then min-p, renormalised", "[sampler]") {
  const std::vector<float> logits = {1.2f, 0.3f, -0.5f, 2.0f, 0.0f, -1.0f, 0.8f, 1.5f, -0.2f, 0.5f};
  constexpr int kDraws = 20000;
  SamplingParams p;
  p.temperature = 1.3f;
  p.top_k = 7;
  p.top_p = 0.9f;
  p.min_p = 0.3f;
  double m1 = 0.0, m2 = 0.0;
  const auto expected = keep_min_p(
      keep_top_p(keep_top_k(softmax(logits, p.temperature), p.top_k), p.top_p, &m1), p.min_p, &m2);
  REQUIRE(m1 > 1e-3);
  REQUIRE(m2 > 1e-3);
  const auto counts = histogram(logits, p, kDraws, 300);
  int df = 0;
  const double stat = chi_square(counts, expected, kDraws, df);
  INFO("chi2 = " << stat << ", df = " << df);
  REQUIRE(df >= 2);
  REQUIRE(stat < kChiSquare999[df]);
}

TEST_CASE("repetition penalty on a 3-token example, by hand", "[sampler]") {
  // Token 1 (logit 2.0) is in the prompt, token 2 (logit -0.5) in the output; penalty 2 divides
  // the positive logit and multiplies the negative one: {1.0, 2.0, -0.5} -> {1.0, 1.0, -1.0}.
  const std::vector<float> logits = {1.0f, 2.0f, -0.5f};
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  const std::vector<int> prompt = {1, 1};
  const std::vector<int> output = {2};

  std::vector<float> penalised = logits;
  apply_penalties(penalised, p, prompt, output);
  REQUIRE(penalised == std::vector<float>{1.0f, 1.0f, -1.0f});

  const double e = std::exp(1.0), z = 2 * e + std::exp(-1.0);
  const std::vector<double> expected = {e / z, e / z, std::exp(-1.0) / z};
  REQUIRE(expected[1] < softmax(logits)[1]);  // the repeated token did lose probability

  constexpr int kDraws = 20000;
  const auto counts = histogram(logits, p, kDraws, 400, prompt, output);
  int df = 0;
  const double stat = chi_square(counts, expected, kDraws, df);
  INFO("chi2 = " << stat);
  REQUIRE(df == 2);
  REQUIRE(stat < kChiSquare999[df]);
}

TEST_CASE("frequency and presence penalties subtract exactly, over output tokens only",
          "[sampler]") {
  std::mt19937_64 gen(9);
  const auto logits = random_logits(gen, 6, 1.0);
  SamplingParams p;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<int> prompt = {2, 2, 4, 1};          // the prompt does not count
  const std::vector<int> output = {1, 3, 1, 1, -1, 99};  // out-of-range ids are ignored
  std::vector<float> got = logits;
  apply_penalties(got, p, prompt, output);
  const std::vector<double> want = {logits[0], logits[1] - 3 * 0.5 - 0.25,
                                    logits[2], logits[3] - 1 * 0.5 - 0.25,
                                    logits[4], logits[5]};
  for (size_t i = 0; i < want.size(); ++i) REQUIRE(got[i] == Approx(want[i]).margin(1e-6));

  p.frequency_penalty = -1.0f;  // negative values encourage repetition
  p.presence_penalty = -2.0f;
  got = logits;
  apply_penalties(got, p, prompt, output);
  REQUIRE(got[1] == Approx(logits[1] + 3.0 + 2.0).margin(1e-6));
  REQUIRE(got[3] == Approx(logits[3] + 1.0 + 2.0).margin(1e-6));
  REQUIRE(got[0] == logits[0]);
}

TEST_CASE("repetition penalty counts each distinct prompt or output token once", "[sampler]") {
  SamplingParams p;
  p.repetition_penalty = 1.5f;
  const std::vector<float> logits = {3.0f, -3.0f, 3.0f, 3.0f};
  std::vector<float> got = logits;
  apply_penalties(got, p, std::vector<int>{0, 0, 0, 1}, std::vector<int>{1, 3, 3});
  REQUIRE(got[0] == Approx(2.0));
  REQUIRE(got[1] == Approx(-4.5));
  REQUIRE(got[2] == 3.0f);
  REQUIRE(got[3] == Approx(2.0));
}

TEST_CASE("penalties flip greedy choices exactly at the expected margin", "[sampler]") {
  auto rng = make_rng(5, 0);
  SamplingParams p;
  p.temperature = 0.0f;
  p.frequency_penalty = 0.3f;
  p.presence_penalty = 0.1f;
  const std::vector<int> output = {0, 0};  // token 0 loses 2 * 0.3 + 0.1 = 0.7
  for (float base : {-2.0f, 0.0f, 5.0f}) {
    REQUIRE(sample({base, base - 0.69f}, p, rng, {}, output) == 1);
    REQUIRE(sample({base, base - 0.71f}, p, rng, {}, output) == 0);
  }
  // The prompt alone never triggers presence or frequency penalties.
  REQUIRE(sample({1.0f, 0.5f}, p, rng, {0, 0, 0}, {}) == 0);

  SamplingParams r;
  r.temperature = 0.0f;
  r.repetition_penalty = 2.0f;  // 3.0 -> 1.5 and -1.0 -> -2.0
  REQUIRE(sample({3.0f, 1.49f}, r, rng, {0}, {}) == 0);
  REQUIRE(sample({3.0f, 1.51f}, r, rng, {0}, {}) == 1);
  REQUIRE(sample({-1.0f, -1.99f}, r, rng, {}, {0}) == 1);
  REQUIRE(sample({-1.0f, -2.01f}, r, rng, {}, {0}) == 0);
}

TEST_CASE("logprob is log-softmax of the raw logits; top alternatives are sorted and right",
          "[sampler]") {
  std::mt19937_64 gen(10);
  auto rng = make_rng(17, 0);
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 20;
  p.repetition_penalty = 1.3f;
  p.frequency_penalty = 0.7f;
  p.logprobs = 5;
  for (int trial = 0; trial < 200; ++trial) {
    const auto logits = random_logits(gen, 200, 3.0);
    const auto prob = softmax(logits);  // raw: no penalties, no temperature
    const std::vector<int> output = {1, 2, 3, 3};
    const SampleResult r = sample_token(logits, p, std::vector<int>{4, 5}, output, rng);
    REQUIRE(r.logprob == Approx(std::log(prob[r.token])).margin(1e-5));

    const auto best = ranked(prob);
    REQUIRE(r.top.size() == 5);
    for (size_t j = 0; j < r.top.size(); ++j) {
      REQUIRE(r.top[j].token == best[j]);
      REQUIRE(r.top[j].logprob == Approx(std::log(prob[best[j]])).margin(1e-5));
      if (j > 0) REQUIRE(r.top[j].logprob <= r.top[j - 1].logprob);
    }
  }

  p.logprobs = 0;
  REQUIRE(sample_token(random_logits(gen, 10, 1.0), p, {}, {}, rng).top.empty());
  p.logprobs = 20;  // more alternatives asked for than the vocabulary holds
  REQUIRE(sample_token(random_logits(gen, 3, 1.0), p, {}, {}, rng).top.size() == 3);
}

TEST_CASE("log_softmax is normalised and stable for large logits", "[sampler]") {
  std::mt19937_64 gen(11);
  const auto logits = random_logits(gen, 1000, 5.0);
  const auto ls = log_softmax(logits);
  const auto prob = softmax(logits);
  double total = 0.0;
  for (size_t i = 0; i < ls.size(); ++i) {
    REQUIRE(ls[i] == Approx(std::log(prob[i])).margin(1e-5));
    total += std::exp(static_cast<double>(ls[i]));
  }
  REQUIRE(total == Approx(1.0).margin(1e-5));

  // exp(1000) overflows; a stable implementation shifts by the maximum first.
  const auto big = log_softmax(std::vector<float>{1000.0f, 1001.0f, 1002.0f});
  const auto small = log_softmax(std::vector<float>{0.0f, 1.0f, 2.0f});
  for (int i = 0; i < 3; ++i) {
    REQUIRE(std::isfinite(big[i]));
    REQUIRE(big[i] == Approx(small[i]).margin(1e-5));
  }
  REQUIRE(small[2] == Approx(-std::log(1 + std::exp(-1.0) + std::exp(-2.0))).margin(1e-6));

  const auto masked = log_softmax(std::vector<float>{-kInf, 0.0f, 0.0f});
  REQUIRE(masked[0] == -kInf);
  REQUIRE(masked[1] == Approx(std::log(0.5)).margin(1e-6));
}

TEST_CASE("validate rejects each out-of-range parameter by name", "[sampler]") {
  REQUIRE_NOTHROW(SamplingParams{}.validate());

  auto check_bad = [](const std::string& name, auto mutate) {
    SamplingParams p;
    mutate(p);
    INFO("parameter " << name);
    REQUIRE_THROWS_AS(p.validate(), std::invalid_argument);
    REQUIRE_THROWS_WITH(p.validate(), Catch::StartsWith(name + " "));
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  check_bad("max_tokens", [](SamplingParams& p) { p.max_tokens = 0; });
  check_bad("temperature", [](SamplingParams& p) { p.temperature = -1.0f; });
  check_bad("temperature", [&](SamplingParams& p) { p.temperature = nan; });
  check_bad("temperature", [](SamplingParams& p) { p.temperature = kInf; });
  check_bad("top_k", [](SamplingParams& p) { p.top_k = -2; });
  check_bad("top_p", [](SamplingParams& p) { p.top_p = 0.0f; });
  check_bad("top_p", [](SamplingParams& p) { p.top_p = 1.01f; });
  check_bad("top_p", [&](SamplingParams& p) { p.top_p = nan; });
  check_bad("min_p", [](SamplingParams& p) { p.min_p = -0.1f; });
  check_bad("min_p", [](SamplingParams& p) { p.min_p = 1.5f; });
  check_bad("repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = 0.0f; });
  check_bad("repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = -1.0f; });
  check_bad("presence_penalty", [](SamplingParams& p) { p.presence_penalty = 2.5f; });
  check_bad("presence_penalty", [](SamplingParams& p) { p.presence_penalty = -2.5f; });
  check_bad("frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = 3.0f; });
  check_bad("frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = -3.0f; });
  check_bad("n", [](SamplingParams& p) { p.n = 0; });
  check_bad("best_of", [](SamplingParams& p) {
    p.n = 3;
    p.best_of = 2;
  });
  check_bad("beam_width", [](SamplingParams& p) { p.beam_width = -1; });
  check_bad("logprobs", [](SamplingParams& p) { p.logprobs = -1; });
  check_bad("logprobs", [](SamplingParams& p) { p.logprobs = 21; });

  SamplingParams t;
  t.temperature = -1.0f;
  REQUIRE_THROWS_WITH(t.validate(), "temperature must be >= 0, got -1");

  // The edges of every range are accepted.
  SamplingParams ok;
  ok.max_tokens = 1;
  ok.temperature = 0.0f;
  ok.top_k = -1;
  ok.top_p = 1.0f;
  ok.min_p = 1.0f;
  ok.presence_penalty = -2.0f;
  ok.frequency_penalty = 2.0f;
  ok.logprobs = 20;
  ok.n = 4;
  ok.best_of = 4;
  REQUIRE_NOTHROW(ok.validate());
  ok.top_k = 0;
  ok.min_p = 0.0f;
  ok.best_of = 0;
  ok.beam_width = 4;
  REQUIRE_NOTHROW(ok.validate());
}

TEST_CASE("find_stop returns the earliest stop string position", "[sampler]") {
  constexpr size_t npos = std::string::npos;
  REQUIRE(find_stop("hello world", {}) == npos);
  REQUIRE(find_stop("hello world", {""}) == npos);  // an empty stop would match everywhere
  REQUIRE(find_stop("hello world", {"", "world"}) == 6);
  REQUIRE(find_stop("hello world", {"xyz"}) == npos);
  REQUIRE(find_stop("hello world", {"world", "o"}) == 4);  // listed later, occurs earlier
  REQUIRE(find_stop("hello world", {"hello"}) == 0);
  REQUIRE(find_stop("hello world", {"d"}) == 10);
  REQUIRE(find_stop("abab", {"bab", "ab"}) == 0);
  REQUIRE(find_stop("ab", {"abc"}) == npos);
  REQUIRE(find_stop("", {"a"}) == npos);
  REQUIRE(find_stop("line1\n\nline2", {"\n\n"}) == 5);
  REQUIRE(find_stop("caf\xc3\xa9 ok", {"\xc3\xa9"}) == 3);
}
