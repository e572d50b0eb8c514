// engine_bench: prefill and decode throughput of the embedded engine, KV blocks used against a
// contiguous max-length cache, and batch-1 decode bandwidth as a fraction of a plain memory copy
// measured in the same run. Figures only; nothing here passes or fails.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/engine.hpp"

using namespace precis::engine;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Bytes moved per second (read + write) by a memcpy split over all threads, best of 5.
double copy_bandwidth(size_t bytes) {
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    auto t = Clock::now();
#pragma omp parallel
    {
      const int nt = omp_get_num_threads(), id = omp_get_thread_num();
      const size_t chunk = bytes / nt, begin = chunk * id;
      const size_t len = (id == nt - 1) ? bytes - begin : chunk;
      std::memcpy(dst.data() + begin, src.data() + begin, len);
    }
    best = std::max(best, 2.0 * static_cast<double>(bytes) / seconds_since(t));
  }
  if (dst[bytes / 2] != 1) throw std::logic_error("copy failed");
  return best;
}

std::vector<int> random_prompt(int n, int vocab, int salt) {
  std::vector<int> p{1};
  for (int i = 1; i < n; ++i) p.push_back(3 + (i * 7919 + salt * 104729) % (vocab - 3));
  return p;
}

struct DecodeFigures {
  double tokens_per_s = 0;
  int peak_blocks = 0;
};

DecodeFigures run_decode(const EngineOptions& opts, int batch, int prompt_len, int new_tokens) {
  Engine e(opts);
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = new_tokens;
  p.ignore_eos = true;
  for (int b = 0; b < batch; ++b)
    e.add_request(random_prompt(prompt_len, e.tokenizer().vocab_size(), b), p);
  double decode_s = 0;
  long decoded = 0;
  while (true) {
    auto t = Clock::now();
    const bool more = e.step();
    const double dt = seconds_since(t);
    const StepStats s = e.last_step();
    if (s.prefill_tokens == 0 && s.decode_sequences > 0) {
      decode_s += dt;
      decoded += s.decode_sequences;
    }
    if (!more) break;
  }
  return {decode_s > 0 ? decoded / decode_s : 0.0, e.kv_stats().peak_blocks_used};
}

void usage() {
  std::fprintf(stderr,
               "usage: engine_bench --model DIR [--prompt-tokens 128] [--decode-tokens 32]\n"
               "                    [--batches 1,8,32] [--kv-cache-mb 2048]\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  int prompt_tokens = 128, decode_tokens = 32;
  double kv_mb = 2048;
  std::vector<int> batches{1, 8, 32};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--model")
        model = next();
      else if (a == "--prompt-tokens")
        prompt_tokens = std::stoi(next());
      else if (a == "--decode-tokens")
        decode_tokens = std::stoi(next());
      else if (a == "--kv-cache-mb")
        kv_mb = std::stod(next());
      else if (a == "--batches") {
        batches.clear();
        std::string s = next();
        for (size_t pos = 0; pos < s.size();) {
          size_t comma = s.find(',', pos);
          batches.push_back(std::stoi(s.substr(pos, comma - pos)));
          pos = comma == std::string::npos ? s.size() : comma + 1;
        }
      } else if (a == "--help" || a == "-h") {
        usage();
        return 0;
      } else {
        throw std::invalid_argument("unknown option " + a);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "engine_bench: %s\n", e.what());
      usage();
      return 2;
    }
  }
  if (model.empty()) {
    usage();
    return 2;
  }
  try {
    EngineOptions opts;
    opts.model_dir = model;
    opts.kv_cache_mb = kv_mb;
    Engine probe(opts);
    const ModelConfig& c = probe.config();
    const ModelWeights& w = load_model_weights(model);
    std::printf("model %s: %d layers, hidden %d, vocab %d, weights %.1f MiB (%s), threads %d\n",
                model.c_str(), c.num_hidden_layers, c.hidden_size, c.vocab_size,
                w.total_bytes() / 1048576.0, std::string(dtype_name(w.embed_tokens.dtype)).c_str(),
                omp_get_max_threads());

    // Prefill: one prompt, logits of the last position only (as generation does).
    {
      auto prompt = random_prompt(prompt_tokens, probe.tokenizer().vocab_size(), 99);
      SamplingParams p;
      p.temperature = 0;
      p.max_tokens = 1;
      probe.generate_tokens(prompt, p);  // warm-up: page in the weights
      auto t = Clock::now();
      probe.generate_tokens(prompt, p);
      const double s = seconds_since(t);
      std::printf("prefill  %d tokens: %.1f tokens/s\n", prompt_tokens, prompt_tokens / s);
    }

    const size_t block_bytes =
        2ull * c.num_hidden_layers * c.kv_dim() * probe.kv_stats().block_size * sizeof(float);
    double tps1 = 0;
    std::printf("%-8s %14s %12s %18s\n", "batch", "decode tok/s", "KV blocks", "contiguous blocks");
    for (int b : batches) {
      DecodeFigures f = run_decode(opts, b, prompt_tokens, decode_tokens);
      if (b == 1) tps1 = f.tokens_per_s;
      // A contiguous cache reserves max_position_embeddings tokens per sequence.
      const long contiguous =
          static_cast<long>(b) * c.max_position_embeddings / probe.kv_stats().block_size;
      std::printf("%-8d %14.1f %12d %18ld   (%.1f vs %.1f MiB)\n", b, f.tokens_per_s, f.peak_blocks,
                  contiguous, f.peak_blocks * block_bytes / 1048576.0,
                  contiguous * block_bytes / 1048576.0);
    }

    if (tps1 > 0) {
      // Per decoded token every weight is streamed once, except the embedding table (one row).
      double bytes = static_cast<double>(w.total_bytes());
      if (w.lm_head.data != w.embed_tokens.data)
        bytes -= static_cast<double>(w.embed_tokens.nbytes);
      bytes += static_cast<double>(prompt_tokens + decode_tokens / 2) * c.num_hidden_layers * 2 *
               c.kv_dim() * 4;
      const double bw = copy_bandwidth(512ull << 20);
      std::printf("memcpy bandwidth (read+write, all threads): %.2f GB/s\n", bw / 1e9);
      std::printf(
          "batch-1 decode reads %.1f MiB/token x %.2f tokens/s = %.2f GB/s = %.0f%% of memcpy\n",
          bytes / 1048576.0, tps1, bytes * tps1 / 1e9, 100.0 * bytes * tps1 / bw);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
