// engine_bench: prefill and decode throughput of the embedded engine on the CPU or CUDA
// (--device), KV blocks used against a contiguous max-length cache, batch-1 decode bandwidth as a
// fraction of a plain copy measured in the same run (memcpy on the CPU, device-to-device copy on
// the GPU), and optionally the same workload through Hugging Face transformers `generate`
// (--compare-transformers). Figures only; nothing here passes or fails.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/cpu_isa.hpp"
#include "engine/data_root.hpp"
#include "engine/engine.hpp"
#include "engine/gguf_model.hpp"
#include "middleware/device.hpp"
#ifdef PRECIS_WITH_CUDA
#include "cuda/device_bandwidth.hpp"
#endif

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

// Element type of the linear layers (the first layer's q_proj), as ggml names it for a
// block-quantized GGUF tensor ("q4_1"), else the plain dtype ("F16").
std::string weight_type(const ModelWeights& w) {
  const TensorView& t = w.layers.empty() ? w.embed_tokens : w.layers[0].q_proj;
  if (t.quant) return ggml_type_name(static_cast<uint32_t>(*t.quant));
  return std::string(dtype_name(t.dtype));
}

std::vector<int> random_prompt(int n, int vocab, int salt) {
  std::vector<int> p{1};
  for (int i = 1; i < n; ++i) p.push_back(3 + (i * 7919 + salt * 104729) % (vocab - 3));
  return p;
}

struct DecodeFigures {
  double decode_tokens_per_s = 0;  // decode-only steps
  double tokens_per_s = 0;         // generated tokens over the whole run, prefill included
  int peak_blocks = 0;
};

DecodeFigures run_decode(Engine& e, int batch, int prompt_len, int new_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = new_tokens;
  p.ignore_eos = true;
  for (int b = 0; b < batch; ++b)
    e.add_request(random_prompt(prompt_len, e.tokenizer().vocab_size(), b), p);
  double decode_s = 0;
  long decoded = 0;
  int peak = 0;
  const auto start = Clock::now();
  while (true) {
    auto t = Clock::now();
    const bool more = e.step();
    const double dt = seconds_since(t);
    const StepStats s = e.last_step();
    if (s.prefill_tokens == 0 && s.decode_sequences > 0) {
      decode_s += dt;
      decoded += s.decode_sequences;
    }
    peak = std::max(peak, e.kv_stats().blocks_used);
    if (!more) break;
  }
  const double total_s = seconds_since(start);
  e.take_finished();
  return {decode_s > 0 ? decoded / decode_s : 0.0,
          static_cast<double>(batch) * new_tokens / total_s, peak};
}

// Generated tokens/s of transformers' generate() on the same workload, per batch size, from
// bench/hf_generate_bench.py (run with python3; needs torch + transformers).
std::map<int, double> transformers_figures(const std::string& python, const std::string& model,
                                           const std::string& device,
                                           const std::vector<int>& batches, int prompt_len,
                                           int new_tokens) {
  std::string list;
  for (int b : batches) {
    if (!list.empty()) list.push_back(',');
    list.append(std::to_string(b));
  }
  const std::string cmd = python + " " + (precis::engine::data_root() / "bench").string() +
                          "/hf_generate_bench.py --model '" + model + "' --device " + device +
                          " --batches " + list + " --prompt-tokens " + std::to_string(prompt_len) +
                          " --decode-tokens " + std::to_string(new_tokens);
  std::map<int, double> out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + cmd);
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) {
    std::fputs(line, stdout);
    int b = 0;
    double tps = 0;
    if (std::sscanf(line, "transformers batch %d: %lf generated tokens/s", &b, &tps) == 2)
      out[b] = tps;
  }
  if (pclose(pipe) != 0) std::printf("(the transformers run failed; see its output above)\n");
  return out;
}

void usage() {
  std::fprintf(
      stderr,
      "usage: engine_bench --model DIR [--device cpu|cuda|auto] [--prompt-tokens 128]\n"
      "                    [--decode-tokens 32] [--batches 1,8,32] [--kv-cache-mb MB]\n"
      "                    [--gpu-memory-fraction 0.9] [--no-cuda-graphs]\n"
      "                    [--fused-decode-rope] [--fused-gate-silu]\n"
      "                    [--activations int8|f32] [--kv-cache-dtype f16|f32]\n"
      "                    [--compare-transformers [--python python3]]\n"
      "                    [--decode-prompt-tokens N] [--repeats 1]\n"
      "  --kv-cache-mb defaults to 2048 on the CPU and to the rest of\n"
      "  --gpu-memory-fraction on CUDA. --compare-transformers runs the same batches\n"
      "  through Hugging Face transformers generate() (python3, torch, transformers).\n"
      "  --decode-prompt-tokens: prompt length of the decode runs (default\n"
      "  --prompt-tokens); 1 with --decode-tokens 128 --batches 1 matches llama-bench's\n"
      "  tg128, --prompt-tokens 512 its pp512. --repeats N: mean of N timed prefill runs\n"
      "  (after the warm-up) and of N decode runs per batch size. --activations: what quantized\n"
      "  weights meet on the CPU (default f32, the reference; int8: "
      "EngineOptions::int8_activations).\n"
      "  --kv-cache-dtype: the CPU's KV cache storage (default f16; CUDA keeps f16).\n"
      "  --fused-decode-rope: CUDA decode steps rotate q, k and store the new K/V inside\n"
      "  the decode attention kernel (one launch per layer fewer; not yet the default).\n"
      "  --fused-gate-silu: one-row CUDA steps run the MLP's gate/up GEMV and SiLU gate\n"
      "  as one kernel (f16/bf16 weights; not yet the default).\n"
      "  The CPU kernels' instruction set is the best this CPU runs; PRECIS_CPU_ISA=scalar|avx2|\n"
      "  avx512 in the environment forces one (the header line names it).\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Line-buffered even into a pipe or file: a run stopped by a timeout keeps the rows it printed.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string model;
  int prompt_tokens = 128, decode_tokens = 32;
  int decode_prompt_tokens = -1;  // -1: prompt_tokens
  int repeats = 1;
  double kv_mb = 0;
  std::vector<int> batches{1, 8, 32};
  precis::DeviceOptions device{"auto", 0.9, true};
  bool compare_transformers = false;
  bool int8_activations = false;
  KvCacheDtype kv_dtype = KvCacheDtype::f16;
  std::string python = "python3";
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
      else if (a == "--device")
        device.device = next();
      else if (a == "--gpu-memory-fraction")
        device.gpu_memory_fraction = std::stod(next());
      else if (a == "--no-cuda-graphs")
        device.cuda_graphs = false;
      else if (a == "--fused-decode-rope")
        device.fused_decode_rope = true;
      else if (a == "--fused-gate-silu")
        device.fused_gate_silu = true;
      else if (a == "--kv-cache-dtype")
        kv_dtype = precis::kv_cache_dtype_option(next(), "--kv-cache-dtype");
      else if (a == "--activations")
        int8_activations = precis::int8_activations_option(next(), "--activations");
      else if (a == "--compare-transformers")
        compare_transformers = true;
      else if (a == "--python")
        python = next();
      else if (a == "--decode-prompt-tokens")
        decode_prompt_tokens = std::stoi(next());
      else if (a == "--repeats")
        repeats = std::stoi(next());
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
  if (decode_prompt_tokens < 0) decode_prompt_tokens = prompt_tokens;
  if (prompt_tokens < 1 || decode_prompt_tokens < 1 || decode_tokens < 1 || repeats < 1) {
    std::fprintf(stderr,
                 "engine_bench: --prompt-tokens, --decode-prompt-tokens, --decode-tokens and "
                 "--repeats must be at least 1\n");
    return 2;
  }
  try {
    EngineOptions opts;
    opts.model_dir = model;
    opts.kv_cache_mb = kv_mb;
    opts.int8_activations = int8_activations;
    opts.kv_cache_dtype = kv_dtype;
    // Every timed run repeats its warm-up's prompt: with prefix caching on, "prefill" would time
    // a cache hit (6.6k tok/s on SmolLM2 Q4_1 here, against 0.5k computed).
    opts.prefix_caching = false;
    const std::string dev = precis::apply_device(opts, device);
    if (dev == "cpu" && kv_mb <= 0) opts.kv_cache_mb = 2048;
    // One engine for every run: on a GPU, loading the weights and sizing the KV cache from the
    // free memory happens once.
    // Released before transformers runs (--compare-transformers): on CUDA the engine holds the
    // KV cache's share of the GPU, which would leave the other process no memory.
    auto engine = std::make_unique<Engine>(opts);
    Engine& probe = *engine;
    const ModelConfig& c = probe.config();
    // A GGUF file is mapped, so binding it a second time for the figures below costs no copy.
    const ModelWeights w =
        is_gguf_file(model) ? std::move(load_gguf_model(model).weights) : load_model_weights(model);
    std::printf(
        "model %s: %d layers, hidden %d, vocab %d, weights %.1f MiB (%s), device %s, "
        "KV blocks %d x %d tokens\n",
        model.c_str(), c.num_hidden_layers, c.hidden_size, c.vocab_size,
        w.total_bytes() / 1048576.0, weight_type(w).c_str(), probe.backend().name().c_str(),
        probe.kv_stats().blocks_total, probe.kv_stats().block_size);
    if (dev == "cpu")
      std::printf("threads %d, cpu kernels %s\n", omp_get_max_threads(),
                  cpu_isa_name(active_cpu_isa()));

    // Prefill: one prompt, logits of the last position only (as generation does).
    {
      auto prompt = random_prompt(prompt_tokens, probe.tokenizer().vocab_size(), 99);
      SamplingParams p;
      p.temperature = 0;
      p.max_tokens = 1;
      probe.generate_tokens(prompt, p);  // warm-up: page in the weights
      double sum_tps = 0;
      for (int r = 0; r < repeats; ++r) {
        auto t = Clock::now();
        probe.generate_tokens(prompt, p);
        sum_tps += prompt_tokens / seconds_since(t);
      }
      std::printf("prefill  %d tokens: %.1f tokens/s\n", prompt_tokens, sum_tps / repeats);
    }

    // The CPU backend keeps K/V as --kv-cache-dtype says, the CUDA backend in f16.
    const size_t kv_elem = dev == "cuda" ? 2 : kv_cache_dtype_bytes(kv_dtype);
    const size_t block_bytes =
        2ull * c.num_hidden_layers * c.kv_dim() * probe.kv_stats().block_size * kv_elem;
    double tps1 = 0;
    std::map<int, double> ours;
    std::printf("workload: %d prompt + %d generated tokens per sequence, greedy\n",
                decode_prompt_tokens, decode_tokens);
    if (repeats > 1)
      std::printf("figures: mean of %d timed runs (prefill after one warm-up)\n", repeats);
    std::printf("%-8s %14s %16s %12s %18s\n", "batch", "decode tok/s", "generated tok/s",
                "KV blocks", "contiguous blocks");
    for (int b : batches) {
      DecodeFigures f;
      for (int r = 0; r < repeats; ++r) {
        const DecodeFigures one = run_decode(probe, b, decode_prompt_tokens, decode_tokens);
        f.decode_tokens_per_s += one.decode_tokens_per_s / repeats;
        f.tokens_per_s += one.tokens_per_s / repeats;
        f.peak_blocks = std::max(f.peak_blocks, one.peak_blocks);
      }
      if (b == 1) tps1 = f.decode_tokens_per_s;
      ours[b] = f.tokens_per_s;
      // A contiguous cache reserves max_position_embeddings tokens per sequence.
      const long contiguous =
          static_cast<long>(b) * c.max_position_embeddings / probe.kv_stats().block_size;
      std::printf("%-8d %14.1f %16.1f %12d %18ld   (%.1f vs %.1f MiB)\n", b, f.decode_tokens_per_s,
                  f.tokens_per_s, f.peak_blocks, contiguous,
                  f.peak_blocks * block_bytes / 1048576.0, contiguous * block_bytes / 1048576.0);
    }

    if (tps1 > 0) {
      // Per decoded token every weight is streamed once, except the embedding table (one row),
      // plus the K/V of the context (on average prompt + half the generated tokens).
      double bytes = static_cast<double>(w.total_bytes());
      if (w.lm_head.data != w.embed_tokens.data)
        bytes -= static_cast<double>(w.embed_tokens.nbytes);
      bytes += static_cast<double>(decode_prompt_tokens + decode_tokens / 2) * c.num_hidden_layers *
               2 * c.kv_dim() * kv_elem;
      double bw = 0;
      const char* what = "memcpy (read+write, all threads)";
      if (dev == "cuda") {
#ifdef PRECIS_WITH_CUDA
        bw = precis::cuda::device_copy_bandwidth(1ull << 30);
        what = "device-to-device copy (read+write)";
#endif
      } else {
        bw = copy_bandwidth(512ull << 20);
      }
      std::printf("%s bandwidth: %.2f GB/s\n", what, bw / 1e9);
      std::printf(
          "batch-1 decode reads %.1f MiB/token x %.2f tokens/s = %.2f GB/s = %.0f%% of the copy\n",
          bytes / 1048576.0, tps1, bytes * tps1 / 1e9, 100.0 * bytes * tps1 / bw);
    }

    if (compare_transformers) {
      engine.reset();
      const auto theirs =
          transformers_figures(python, model, dev, batches, decode_prompt_tokens, decode_tokens);
      std::printf("%-8s %18s %18s %8s\n", "batch", "precis tok/s", "transformers tok/s", "ratio");
      for (int b : batches) {
        auto it = theirs.find(b);
        if (it == theirs.end()) {
          std::printf("%-8d %18.1f %18s %8s\n", b, ours[b], "-", "-");
          continue;
        }
        std::printf("%-8d %18.1f %18.1f %7.2fx\n", b, ours[b], it->second, ours[b] / it->second);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
