// On-device sampling (sample_rows) against the engine's CPU sampler (sample_token without
// penalties), handed the uniform draw the CPU's generator makes for the same seed.
//
// Tolerances: the token must match exactly. Both sides compute the chosen token from the same
// double formulas; they only add in different orders (and the device's exp may differ from the
// host's by an ulp), which can change a token only when a cumulative sum lands within ~1e-15 of
// a boundary, never for these random inputs. Log-probs are float(double(logit) - lse) on both
// sides with lse agreeing to ~1e-15 relative, so they differ by at most one float ulp (~2e-6 at
// |logprob| ~ 30): 1e-5 absolute.
#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/kernels/kernels.hpp"
#include "engine/sampler.hpp"

namespace {

using precis::cuda::DeviceBuffer;
using precis::cuda::DeviceSampleResult;
using precis::cuda::DeviceSamplingParams;
using precis::engine::SamplingParams;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kLogprobTol = 1e-5;

struct Config {
  float temperature = 1.f;
  int top_k = 0;
  float top_p = 1.f;
  float min_p = 0.f;
  int num_top = 0;
};

std::string describe(const Config& c) {
  return "temperature=" + std::to_string(c.temperature) + " top_k=" + std::to_string(c.top_k) +
         " top_p=" + std::to_string(c.top_p) + " min_p=" + std::to_string(c.min_p) +
         " num_top=" + std::to_string(c.num_top);
}

// The parameter sets every random batch is sampled with; V-dependent top_k values (V - 1, V,
// beyond V) check the top-k enable boundary.
std::vector<Config> configs(int V) {
  return {
      {0.f, 0, 1.f, 0.f, 0},          // greedy
      {0.f, 0, 1.f, 0.f, 5},          // greedy with alternatives
      {1e-6f, 50, 0.5f, 0.f, 20},     // below kGreedyBelow: greedy, filters ignored
      {1e-5f, 0, 1.f, 0.f, 0},        // exactly kGreedyBelow: sampled
      {0.7f, 0, 1.f, 0.f, 0},         // temperature only
      {1.0f, 0, 1.f, 0.f, 5},         //
      {1.5f, 0, 1.f, 0.f, 20},        //
      {1.0f, 1, 1.f, 0.f, 0},         // top_k
      {1.0f, 5, 1.f, 0.f, 5},         //
      {1.0f, 50, 1.f, 0.f, 0},        //
      {1.0f, -1, 1.f, 0.f, 0},        // top_k disabled (-1)
      {1.0f, V - 1, 1.f, 0.f, 0},     // top_k just below V: active
      {1.0f, V, 1.f, 0.f, 0},         // top_k == V: disabled
      {1.0f, V + 7, 1.f, 0.f, 0},     // top_k > V: disabled
      {1.0f, 0, 0.5f, 0.f, 0},        // top_p
      {1.0f, 0, 0.9f, 0.f, 20},       //
      {1.5f, 0, 0.9f, 0.f, 0},        //
      {1.0f, 0, 1.f, 0.05f, 0},       // min_p
      {1.5f, 0, 1.f, 0.05f, 5},       //
      {0.7f, 50, 0.9f, 0.f, 5},       // combinations
      {1.5f, 5, 0.5f, 0.05f, 20},     //
      {1.0f, 0, 0.9f, 0.05f, 0},      //
      {1.5f, 50, 0.9f, 0.05f, 5},     //
      {1.0f, 1000, 0.99f, 0.01f, 0},  //
      {2.0f, 0, 0.95f, 0.f, 0},       //
      {1.0f, 0, 1e-6f, 0.f, 0},       // tiny nucleus: only the best token
      {1.0f, 0, 1.f, 1.f, 0},         // min_p 1: only tokens tied with the maximum
  };
}

// One row's expectations from the engine and the device's inputs for it.
struct Row {
  Config config;
  uint64_t seed = 0;
  precis::engine::SampleResult cpu;
  DeviceSamplingParams device;
};

Row make_row(std::span<const float> logits, const Config& c, uint64_t seed, uint64_t index) {
  Row r;
  r.config = c;
  r.seed = seed;
  SamplingParams sp;
  sp.temperature = c.temperature;
  sp.top_k = c.top_k;
  sp.top_p = c.top_p;
  sp.min_p = c.min_p;
  sp.logprobs = c.num_top;
  sp.seed = seed;
  std::mt19937_64 rng = precis::engine::make_rng(sp.seed, index);
  // The value sample_token's draw consumes (it draws nothing when greedy), as the engine hands
  // it to the device.
  std::mt19937_64 copy = rng;
  const double u =
      c.temperature >= precis::engine::kGreedyBelow ? precis::engine::uniform01(copy) : 0.0;
  r.cpu = precis::engine::sample_token(logits, sp, {}, {}, rng);
  r.device.temperature = c.temperature;
  r.device.top_k = c.top_k;
  r.device.top_p = c.top_p;
  r.device.min_p = c.min_p;
  r.device.uniform = u;
  r.device.num_top = c.num_top;
  return r;
}

// Equal within tolerance, or the same non-finite value (an all -inf row has NaN log-probs on
// both sides).
bool close(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::abs(a - b) <= kLogprobTol;
}

std::vector<DeviceSampleResult> run_device(const std::vector<float>& logits, int V,
                                           const std::vector<Row>& rows) {
  const int R = static_cast<int>(rows.size());
  std::vector<DeviceSamplingParams> params;
  for (const Row& r : rows) params.push_back(r.device);
  DeviceBuffer<float> d_logits(logits);
  DeviceBuffer<DeviceSamplingParams> d_params(params);
  DeviceBuffer<DeviceSampleResult> d_out(static_cast<size_t>(R));
  precis::cuda::sample_rows(d_logits.get(), R, V, d_params.get(), d_out.get(), nullptr);
  precis::cuda::check_cuda(cudaDeviceSynchronize(), "sample_rows");
  return d_out.download(static_cast<size_t>(R));
}

void check_rows(const std::vector<Row>& rows, const std::vector<DeviceSampleResult>& got) {
  REQUIRE(got.size() == rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const Row& row = rows[r];
    const DeviceSampleResult& g = got[r];
    INFO("row " << r << " seed " << row.seed << " " << describe(row.config));
    CHECK(g.token == row.cpu.token);
    INFO("cpu logprob " << row.cpu.logprob << " device " << g.logprob);
    CHECK(close(g.logprob, row.cpu.logprob));
    REQUIRE(row.cpu.top.size() <= static_cast<size_t>(precis::cuda::kMaxTopLogprobs));
    for (size_t j = 0; j < row.cpu.top.size(); ++j) {
      INFO("top " << j << " cpu " << row.cpu.top[j].token << " " << row.cpu.top[j].logprob
                  << " device " << g.top_tokens[j] << " " << g.top_logprobs[j]);
      CHECK(g.top_tokens[j] == row.cpu.top[j].token);
      CHECK(close(g.top_logprobs[j], row.cpu.top[j].logprob));
    }
  }
}

std::vector<float> normal_row(std::mt19937& gen, int V, float stddev) {
  std::normal_distribution<float> dist(0.f, stddev);
  std::vector<float> v(static_cast<size_t>(V));
  for (float& x : v) x = dist(gen);
  return v;
}

// Samples `rows_per_config` rows per parameter set in one batch (different parameters per row)
// and compares every row with the engine.
void check_random_batch(int V, int rows_per_config, uint32_t seed,
                        const std::function<std::vector<float>(std::mt19937&)>& make) {
  std::mt19937 gen(seed);
  const std::vector<Config> cs = configs(V);
  std::vector<float> logits;
  std::vector<Row> rows;
  for (size_t c = 0; c < cs.size(); ++c) {
    for (int k = 0; k < rows_per_config; ++k) {
      const std::vector<float> row = make(gen);
      REQUIRE(row.size() == static_cast<size_t>(V));
      const uint64_t sample_seed = seed * 1000003ull + c * 101 + static_cast<uint64_t>(k);
      rows.push_back(make_row(row, cs[c], sample_seed, static_cast<uint64_t>(rows.size())));
      logits.insert(logits.end(), row.begin(), row.end());
    }
  }
  check_rows(rows, run_device(logits, V, rows));
}

}  // namespace

TEST_CASE("sample_rows matches sample_token on random rows", "[gpu][sampling]") {
  for (int V : {1000, 32000, 32003}) {
    INFO("V = " << V);
    const int rows_per_config = V == 1000 ? 12 : 4;
    check_random_batch(V, rows_per_config, 17u + static_cast<uint32_t>(V),
                       [V](std::mt19937& g) { return normal_row(g, V, 3.f); });
  }
}

TEST_CASE("sample_rows matches sample_token on a large vocabulary", "[gpu][sampling]") {
  const int V = 256000;
  check_random_batch(V, 1, 5u, [V](std::mt19937& g) { return normal_row(g, V, 3.f); });
}

TEST_CASE("sample_rows breaks ties like sample_token", "[gpu][sampling]") {
  // Logits on a coarse grid, so the top-k and top-p boundaries and the top list fall inside
  // groups of equal values, which the CPU orders by lower id.
  for (int V : {1000, 32003}) {
    INFO("V = " << V);
    check_random_batch(V, 3, 99u + static_cast<uint32_t>(V), [V](std::mt19937& g) {
      std::vector<float> v = normal_row(g, V, 3.f);
      for (float& x : v) x = std::round(x * 2.f) / 2.f;
      return v;
    });
  }
  // Few distinct values: whole top-k and nucleus sets are ties. -0 and +0 compare equal.
  check_random_batch(4097, 3, 7u, [](std::mt19937& g) {
    std::uniform_int_distribution<int> level(0, 3);
    std::vector<float> v(4097);
    for (float& x : v) x = static_cast<float>(level(g));
    for (size_t i = 0; i < v.size(); i += 13) v[i] = v[i] == 0.f ? -0.f : v[i];
    return v;
  });
  // All equal: every token ties.
  check_random_batch(3001, 2, 8u, [](std::mt19937&) { return std::vector<float>(3001, 1.25f); });
  // All zero with mixed signs: top-k and top-p must take the lowest ids whatever their sign.
  check_random_batch(4097, 2, 9u, [](std::mt19937&) {
    std::vector<float> v(4097);
    for (size_t i = 0; i < v.size(); ++i) v[i] = i % 3 == 0 ? -0.f : 0.f;
    return v;
  });
}

TEST_CASE("sample_rows treats NaN as -inf and handles -inf rows", "[gpu][sampling]") {
  // Rows with scattered -inf and NaN entries (one NaN at id 0, where a raw read would leak it).
  check_random_batch(32003, 2, 23u, [](std::mt19937& g) {
    std::vector<float> v = normal_row(g, 32003, 3.f);
    std::uniform_int_distribution<int> pos(1, 32002);
    for (int k = 0; k < 500; ++k) v[static_cast<size_t>(pos(g))] = -kInf;
    v[static_cast<size_t>(pos(g))] = kNaN;
    v[0] = kNaN;
    return v;
  });
  // All but one -inf (plus a NaN): every parameter set must pick the survivor with log-prob 0.
  check_random_batch(1000, 1, 24u, [](std::mt19937&) {
    std::vector<float> v(1000, -kInf);
    v[737] = -3.5f;
    v[12] = kNaN;
    return v;
  });
  {
    std::vector<float> v(1000, -kInf);
    v[737] = -3.5f;
    std::vector<Row> rows;
    for (const Config& c : configs(1000))
      rows.push_back(make_row(v, c, 1, static_cast<uint64_t>(rows.size())));
    std::vector<float> logits;
    for (size_t r = 0; r < rows.size(); ++r) logits.insert(logits.end(), v.begin(), v.end());
    const auto got = run_device(logits, 1000, rows);
    for (const DeviceSampleResult& g : got) {
      CHECK(g.token == 737);
      CHECK(g.logprob == 0.f);
    }
    check_rows(rows, got);
  }
  // Nothing finite (all -inf, all NaN) and a +inf: the CPU falls back to the argmax.
  check_random_batch(777, 1, 25u, [](std::mt19937&) { return std::vector<float>(777, -kInf); });
  check_random_batch(777, 1, 26u, [](std::mt19937&) { return std::vector<float>(777, kNaN); });
  check_random_batch(777, 1, 27u, [](std::mt19937& g) {
    std::vector<float> v = normal_row(g, 777, 3.f);
    v[300] = kInf;
    v[500] = kInf;
    return v;
  });
  // A single-token vocabulary.
  check_random_batch(1, 2, 28u, [](std::mt19937& g) { return normal_row(g, 1, 3.f); });
}

TEST_CASE("sample_rows draws the first and last kept token at the extreme draws",
          "[gpu][sampling]") {
  // With uniform 0 the draw takes the lowest kept id; with the largest draw below 1 it takes the
  // highest (the target lies in the last token's interval, or rounding hands it the last one).
  const int V = 5003;
  std::mt19937 gen(31);
  const std::vector<float> row = normal_row(gen, V, 3.f);
  std::vector<int> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&row](int a, int b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  const int k = 40;
  const std::vector<int> top(order.begin(), order.begin() + k);
  const int lowest = *std::min_element(top.begin(), top.end());
  const int highest = *std::max_element(top.begin(), top.end());

  std::vector<DeviceSamplingParams> params(2);
  params[0].top_k = k;
  params[0].uniform = 0.0;
  params[1].top_k = k;
  params[1].uniform = 1.0 - 0x1.0p-53;
  std::vector<float> logits = row;
  logits.insert(logits.end(), row.begin(), row.end());
  DeviceBuffer<float> d_logits(logits);
  DeviceBuffer<DeviceSamplingParams> d_params(params);
  DeviceBuffer<DeviceSampleResult> d_out(2);
  precis::cuda::sample_rows(d_logits.get(), 2, V, d_params.get(), d_out.get(), nullptr);
  const auto got = d_out.download(2);
  CHECK(got[0].token == lowest);
  CHECK(got[1].token == highest);
}

TEST_CASE("sample_rows is deterministic", "[gpu][sampling]") {
  const int V = 32003;
  std::mt19937 gen(41);
  std::vector<float> logits;
  std::vector<Row> rows;
  const std::vector<Config> cs = configs(V);
  for (size_t c = 0; c < cs.size(); ++c) {
    const std::vector<float> row = normal_row(gen, V, 3.f);
    rows.push_back(make_row(row, cs[c], 500 + c, c));
    logits.insert(logits.end(), row.begin(), row.end());
  }
  const auto a = run_device(logits, V, rows);
  const auto b = run_device(logits, V, rows);
  for (size_t r = 0; r < rows.size(); ++r) {
    INFO("row " << r);
    CHECK(a[r].token == b[r].token);
    CHECK(a[r].logprob == b[r].logprob);
    for (int j = 0; j < rows[r].device.num_top; ++j) {
      CHECK(a[r].top_tokens[j] == b[r].top_tokens[j]);
      CHECK(a[r].top_logprobs[j] == b[r].top_logprobs[j]);
    }
  }
}

TEST_CASE("sample_rows rejects bad arguments", "[gpu][sampling]") {
  DeviceBuffer<float> logits(std::vector<float>(64, 0.f));
  DeviceBuffer<DeviceSamplingParams> params(std::vector<DeviceSamplingParams>(2));
  DeviceBuffer<DeviceSampleResult> out(2);
  using precis::cuda::sample_rows;
  CHECK_THROWS_AS(sample_rows(logits.get(), -1, 32, params.get(), out.get(), nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(sample_rows(logits.get(), 2, 0, params.get(), out.get(), nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(sample_rows(logits.get(), 2, -5, params.get(), out.get(), nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(sample_rows(logits.get(), 2, std::numeric_limits<int>::max(), params.get(),
                              out.get(), nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(sample_rows(nullptr, 2, 32, params.get(), out.get(), nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(sample_rows(logits.get(), 2, 32, nullptr, out.get(), nullptr),
                  std::invalid_argument);
  CHECK_THROWS_AS(sample_rows(logits.get(), 2, 32, params.get(), nullptr, nullptr),
                  std::invalid_argument);
  // No rows: nothing to launch, nothing to check.
  CHECK_NOTHROW(sample_rows(nullptr, 0, 32, nullptr, nullptr, nullptr));
  precis::cuda::check_cuda(cudaDeviceSynchronize(), "sample_rows");
}
