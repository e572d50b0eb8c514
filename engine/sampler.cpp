#include "engine/sampler.hpp"

#include "engine/cpu_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace precis::engine {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// splitmix64's output function: a bijection that spreads nearby inputs (seed 1, 2, ...; sample
// index 0, 1, ...) over the whole 64-bit range before they reach mt19937_64.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Per-thread buffers: sample_token runs once per token per sequence, and reallocating vocab-sized
// arrays each time would dominate the cost for small models.
struct Scratch {
  std::vector<float> work;     // penalised logits
  std::vector<double> weight;  // scaled logits, then exp(scaled - max), indexed by token id
  std::vector<int> idx;        // candidate token ids
  std::vector<uint8_t> seen;   // repetition-penalty membership, all zero between calls
  std::vector<int> count;      // output counts, all zero between calls
  std::vector<int> touched;    // entries of seen/count to reset
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// NaN logits (a broken backend row) are treated as impossible tokens rather than poisoning sums.
// log sum_i e^x[i], given x's largest element (cpu::argmax's, NaN skipped).
double log_sum_exp_from_max(std::span<const float> x, float max_value) {
  const double m = max_value;
  if (!std::isfinite(m)) return m;  // all -inf (or some +inf): nothing finite to normalise
  // Vectorised (cpu_kernels.hpp): the terms within 2 ulp of expf, summed to ~1e-7 relative.
  const double sum =
      cpu::exp_sum(x.data(), static_cast<int>(x.size()), static_cast<float>(m), nullptr);
  return m + std::log(sum);
}

double log_sum_exp(std::span<const float> x) {
  float m;
  cpu::argmax(x.data(), static_cast<int>(x.size()), &m);
  return log_sum_exp_from_max(x, m);
}

// Strict: ties keep the lowest id; NaN never wins (vectorised, cpu_kernels.hpp).
int argmax(std::span<const float> x) {
  return cpu::argmax(x.data(), static_cast<int>(x.size()), nullptr);
}

bool repetition_penalised(const SamplingParams& p) {
  return p.repetition_penalty != 1.0f && p.repetition_penalty > 0.0f;
}

bool count_penalised(const SamplingParams& p) {
  return p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
}

int draw(std::span<const float> work, const SamplingParams& p, double uniform, Scratch& s) {
  const size_t vocab = work.size();
  auto& w = s.weight;
  auto& idx = s.idx;
  w.resize(vocab);
  idx.resize(vocab);
  std::iota(idx.begin(), idx.end(), 0);
  const double temperature = p.temperature;
  for (size_t i = 0; i < vocab; ++i) w[i] = static_cast<double>(work[i]) / temperature;

  // A total order (value, then lower id first) makes ties at the top-k / top-p boundary resolve
  // the same way on every run and every standard library.
  auto better = [&w](int a, int b) { return w[a] > w[b] || (w[a] == w[b] && a < b); };

  size_t n = vocab;
  bool in_id_order = true;
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < vocab) {
    n = static_cast<size_t>(p.top_k);
    std::nth_element(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n - 1), idx.end(),
                     better);
    in_id_order = false;
  }

  double m = kNegInf;
  for (size_t j = 0; j < n; ++j) m = std::max(m, w[idx[j]]);
  // All candidates at -inf leave nothing to draw from, and a +inf logit would make every weight
  // NaN; in both cases the argmax is the only sensible answer.
  if (!std::isfinite(m)) return argmax(work);
  double total = 0.0;
  for (size_t j = 0; j < n; ++j) {
    double& x = w[idx[j]];
    x = std::exp(x - m);
    total += x;
  }

  if (p.top_p < 1.0f && p.top_p > 0.0f) {
    // The nucleus is usually a small part of the vocabulary, so rather than sorting all of it,
    // select and sort growing blocks of the best remaining tokens until the mass is reached.
    const double threshold = static_cast<double>(p.top_p) * total;
    const auto at = [&idx](size_t j) { return idx.begin() + static_cast<std::ptrdiff_t>(j); };
    double cum = 0.0;
    size_t keep = n, done = 0, block = 64;
    while (keep == n && done < n) {
      const size_t end = std::min(n, done + block);
      if (end < n) std::nth_element(at(done), at(end - 1), at(n), better);
      std::sort(at(done), at(end), better);
      for (size_t j = done; j < end; ++j) {
        cum += w[idx[j]];
        if (cum >= threshold) {
          keep = j + 1;
          break;
        }
      }
      done = end;
      block *= 4;
    }
    n = keep;
    in_id_order = false;
  }

  if (p.min_p > 0.0f) {
    // Weights are relative to the maximum (which has weight exactly 1 and is never dropped by
    // top-k or top-p), so "prob < min_p * max_prob" is "weight < min_p"; the cap keeps the maximum
    // when an unvalidated min_p exceeds 1.
    const double threshold = std::min(static_cast<double>(p.min_p), 1.0);
    size_t out = 0;
    for (size_t j = 0; j < n; ++j)
      if (w[idx[j]] >= threshold) idx[out++] = idx[j];
    n = out;
  }

  if (!in_id_order) std::sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n));

  double kept = 0.0;
  for (size_t j = 0; j < n; ++j) kept += w[idx[j]];
  const double target = uniform * kept;
  double cum = 0.0;
  int last_positive = idx[0];
  for (size_t j = 0; j < n; ++j) {
    const double x = w[idx[j]];
    if (x <= 0.0) continue;
    cum += x;
    last_positive = idx[j];
    if (cum > target) return idx[j];
  }
  // Rounding can leave target == cum after the last token; it still belongs to a kept token.
  return last_positive;
}

}  // namespace

double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

std::mt19937_64 make_rng(const std::optional<uint64_t>& seed, uint64_t sample_index) {
  uint64_t base;
  if (seed) {
    base = *seed;
  } else {
    std::random_device rd;
    base = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  // Mixing the seed before adding the index keeps (seed, i+1) and (seed+1, i) apart.
  return std::mt19937_64(mix64(mix64(base) + sample_index));
}

void apply_penalties(std::span<float> logits, const SamplingParams& params,
                     std::span<const int> prompt_tokens, std::span<const int> output_tokens) {
  const long vocab = static_cast<long>(logits.size());
  auto in_range = [vocab](int t) { return t >= 0 && t < vocab; };
  Scratch& s = scratch();

  const float rep = params.repetition_penalty;
  if (repetition_penalised(params)) {
    if (s.seen.size() < logits.size()) s.seen.resize(logits.size(), 0);
    s.touched.clear();
    auto visit = [&](int t) {
      if (in_range(t) && !s.seen[t]) {
        s.seen[t] = 1;
        s.touched.push_back(t);
      }
    };
    for (int t : prompt_tokens) visit(t);
    for (int t : output_tokens) visit(t);
    for (int t : s.touched) {
      float& l = logits[t];
      l = l > 0.0f ? l / rep : l * rep;
      s.seen[t] = 0;
    }
  }

  const float freq = params.frequency_penalty;
  const float pres = params.presence_penalty;
  if (count_penalised(params)) {
    if (s.count.size() < logits.size()) s.count.resize(logits.size(), 0);
    s.touched.clear();
    for (int t : output_tokens)
      if (in_range(t) && s.count[t]++ == 0) s.touched.push_back(t);
    // Two separate subtractions, as vLLM does, so float rounding matches it.
    for (int t : s.touched) {
      logits[t] -= freq * static_cast<float>(s.count[t]);
      logits[t] -= pres;
      s.count[t] = 0;
    }
  }
}

SampleResult sample_token(std::span<const float> logits, const SamplingParams& params,
                          std::span<const int> prompt_tokens, std::span<const int> output_tokens,
                          std::mt19937_64& rng) {
  const double uniform = params.temperature >= kGreedyBelow ? uniform01(rng) : 0.0;
  return sample_token_with_uniform(logits, params, prompt_tokens, output_tokens, uniform);
}

SampleResult sample_token_with_uniform(std::span<const float> logits, const SamplingParams& params,
                                       std::span<const int> prompt_tokens,
                                       std::span<const int> output_tokens, double uniform) {
  if (logits.empty()) throw std::invalid_argument("sample_token: empty logits row");
  Scratch& s = scratch();
  SampleResult result;
  float max_logit;
  const int best = cpu::argmax(logits.data(), static_cast<int>(logits.size()), &max_logit);
  if (params.temperature < kGreedyBelow && !repetition_penalised(params) &&
      !count_penalised(params)) {
    // Greedy on the raw row: the argmax skips NaN as the copy below would have made it -inf. Most
    // requests (and every engine_bench decode step) take this path, a vocabulary-sized copy fewer.
    result.token = best;
  } else {
    s.work.assign(logits.begin(), logits.end());
    for (float& l : s.work)
      if (std::isnan(l)) l = -std::numeric_limits<float>::infinity();
    apply_penalties(s.work, params, prompt_tokens, output_tokens);
    if (params.temperature >= kGreedyBelow)
      result.token = draw(s.work, params, uniform, s);
    else
      result.token = argmax(s.work);
  }

  const double lse = log_sum_exp_from_max(logits, max_logit);
  result.logprob = static_cast<float>(static_cast<double>(logits[result.token]) - lse);

  if (params.logprobs > 0) {
    const size_t k = std::min(static_cast<size_t>(params.logprobs), logits.size());
    auto& idx = s.idx;
    idx.resize(logits.size());
    std::iota(idx.begin(), idx.end(), 0);
    auto raw = [&logits](int t) {
      const float v = logits[t];
      return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v;
    };
    std::partial_sort(
        idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
        [&raw](int a, int b) { return raw(a) > raw(b) || (raw(a) == raw(b) && a < b); });
    result.top.reserve(k);
    for (size_t j = 0; j < k; ++j)
      result.top.push_back({idx[j], static_cast<float>(static_cast<double>(raw(idx[j])) - lse)});
  }
  return result;
}

float token_logprob(std::span<const float> logits, int token) {
  return static_cast<float>(static_cast<double>(logits[static_cast<size_t>(token)]) -
                            log_sum_exp(logits));
}

std::vector<float> log_softmax(std::span<const float> logits) {
  const double lse = log_sum_exp(logits);
  std::vector<float> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i)
    out[i] = static_cast<float>(static_cast<double>(logits[i]) - lse);
  return out;
}

size_t find_stop(const std::string& text, const std::vector<std::string>& stop) {
  size_t best = std::string::npos;
  for (const auto& s : stop) {
    if (s.empty()) continue;
    const size_t pos = text.find(s);
    if (pos < best) best = pos;
  }
  return best;
}

}  // namespace precis::engine
