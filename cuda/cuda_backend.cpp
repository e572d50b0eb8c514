#include "cuda/cuda_backend.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <vector>

#include "cuda/batch_inputs.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/device_weights.hpp"
#include "cuda/gemm.hpp"
#include "cuda/kernels/kernels.hpp"
#include "cuda/linear.hpp"

namespace precis::cuda {

namespace {

// Device memory kept out of the KV cache when it is sized by --gpu-memory-fraction: activations,
// logits and cuBLAS workspaces grow with the batch and must still fit.
constexpr double kActivationReserveMiB = 1024;
constexpr double kMiB = 1024.0 * 1024.0;
// Decode batches up to this many sequences run as captured CUDA graphs; larger ones run eagerly
// (their launch overhead is small next to the work).
constexpr int kMaxGraphRows = 256;

size_t dtype_bytes(DType d) {
  return d == DType::f32 ? 4 : 2;
}

// Whether dense_gemv_silu can run this gate/up weight on x: one dense part (gate and up stacked
// in one storage) that the dense GEMV takes.
bool gate_silu_fusable(const DeviceLinear& gate_up, DType dtype, const void* x) {
  if (gate_up.parts.size() != 1) return false;
  const DeviceMatrix& m = gate_up.parts.front();
  return !m.quant && m.rows == gate_up.rows &&
         dense_gemv_supported(dtype, gate_up.cols, m.data.get(), x);
}

class CudaBackend final : public engine::Backend {
 public:
  CudaBackend(const engine::ModelWeights& w, int block_size, const CudaBackendOptions& o);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  const engine::ModelConfig& config() const override { return cfg_; }
  int num_blocks() const override { return num_blocks_; }
  int block_size() const override { return block_size_; }
  void copy_blocks(std::span<const engine::BlockCopy> copies) override;
  void forward(std::span<const engine::BatchSequence> batch, std::vector<float>& logits) override;
  bool samples_on_device() const override { return true; }
  void forward_sample(std::span<const engine::BatchSequence> batch,
                      std::span<const engine::RowSampling> rows,
                      std::vector<engine::SampleResult>& results) override;

 private:
  // Activations of one forward pass. The eager workspace grows with the largest batch; the one
  // decode graphs were captured with is sized once for kMaxGraphRows and never moves.
  struct Workspace {
    DeviceBuffer<int> ints;
    DeviceBuffer<float> x, delta, qkv, gate_up, picked, logits;
    DeviceBuffer<std::byte> xn, attn, act;
  };
  struct Graph {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
  };

  // Runs the model over the batch; returns the device logits, `R` rows of vocab_size floats in
  // output order.
  const float* run(std::span<const engine::BatchSequence> batch, int& R);
  void reserve(Workspace& ws, int T, int R, size_t ints);
  // Enqueues the whole model on stream_ (no host synchronisation, so it can be captured).
  void enqueue_model(Workspace& ws, const BatchInputs& in);
  const float* run_graph(const BatchInputs& in);
  // K of every layer, then V of every layer, in one allocation.
  __half* k_layer(int l) { return kv_cache_.get() + l * layer_stride_; }
  __half* v_layer(int l) { return k_layer(cfg_.num_hidden_layers + l); }

  engine::ModelConfig cfg_;
  int device_, block_size_, num_blocks_ = 0;
  int head_dim_, n_heads_, n_kv_heads_, q_dim_, kv_dim_;
  int64_t block_elems_ = 0, layer_stride_ = 0;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  std::unique_ptr<Linear> linear_;  // uses gemm_
  DeviceWeights dw_;
  DeviceBuffer<__half> kv_cache_;
  DeviceBuffer<double> inv_freq_;
  Workspace eager_;
  // Split-K decode attention's partials, shared by both workspaces (one stream); sized once so
  // captured graphs keep a valid pointer.
  DeviceBuffer<float> split_scratch_;
  // Its per-item arrival counters (zero between launches), so that the last partition of an item
  // merges it in the same kernel.
  DeviceBuffer<unsigned> split_counters_;
  DeviceBuffer<int> copy_idx_, sample_idx_;
  DeviceBuffer<float> sample_logits_;
  DeviceBuffer<DeviceSamplingParams> sample_params_;
  DeviceBuffer<DeviceSampleResult> sample_results_;
  // Decode steps as CUDA graphs, one per batch-size bucket (graph_bucket): one launch replaces
  // ~10 per layer. Padding rows write their K/V to scratch_block_, which the engine never sees.
  bool use_graphs_ = false;
  bool fused_decode_rope_ = false;  // CudaBackendOptions::fused_decode_rope
  bool fused_gate_silu_ = false;    // CudaBackendOptions::fused_gate_silu
  int scratch_block_ = -1;
  int graph_table_stride_ = 0;  // blocks of a max_position_embeddings sequence
  Workspace graph_ws_;
  bool graph_ws_ready_ = false;
  std::map<int, Graph> graphs_;
  int* pinned_inputs_ = nullptr;  // page-locked staging for graph inputs (async copy)
  size_t pinned_ints_ = 0;
};

CudaBackend::CudaBackend(const engine::ModelWeights& w, int block_size, const CudaBackendOptions& o)
    : cfg_(w.config), device_(o.device), block_size_(block_size) {
  std::string why;
  const int devices = cuda_device_count(&why);
  if (devices == 0) throw CudaError("no CUDA device: " + why);
  if (o.device < 0 || o.device >= devices)
    throw std::invalid_argument("CUDA device " + std::to_string(o.device) + " does not exist (" +
                                std::to_string(devices) + " found)");
  if (block_size <= 0) throw std::invalid_argument("block size must be positive");
  if (const std::string why = cuda_unsupported_reason(w); !why.empty())
    throw std::invalid_argument("--device cuda: " + why + "; use --device cpu");
  head_dim_ = cfg_.head_dim();
  n_heads_ = cfg_.num_attention_heads;
  n_kv_heads_ = cfg_.num_key_value_heads;
  q_dim_ = n_heads_ * head_dim_;
  kv_dim_ = n_kv_heads_ * head_dim_;
  if (head_dim_ % 32 != 0 || head_dim_ > 256)
    throw std::invalid_argument(
        "the CUDA backend needs head_dim a multiple of 32 and <= 256; "
        "this model has " +
        std::to_string(head_dim_));
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  gemm_ = std::make_unique<Gemm>(stream_);
  dw_ = upload_weights(w);
  // Before the KV cache is sized, so the prefill dequantization scratch counts as in use.
  linear_ = std::make_unique<Linear>(*gemm_, dw_, stream_);

  // The CPU backend's frequencies (Llama 3.1 scaling and GGUF rope_freqs included), in double.
  inv_freq_.upload(engine::rope_inv_freq(cfg_), stream_);

  const double block_bytes =
      2.0 * cfg_.num_hidden_layers * kv_dim_ * static_cast<double>(block_size) * sizeof(__half);
  double budget = o.kv_cache_mb * kMiB;
  if (o.kv_cache_mb <= 0) {
    if (!(o.gpu_memory_fraction > 0 && o.gpu_memory_fraction <= 1))
      throw std::invalid_argument("--gpu-memory-fraction must be in (0, 1], got " +
                                  std::to_string(o.gpu_memory_fraction));
    size_t free = 0, total = 0;
    check_cuda(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
    const double in_use = static_cast<double>(total - free);
    budget = o.gpu_memory_fraction * total - in_use - kActivationReserveMiB * kMiB;
    if (budget < block_bytes)
      throw std::invalid_argument("--gpu-memory-fraction " + std::to_string(o.gpu_memory_fraction) +
                                  " leaves no room for the KV cache: the device has " +
                                  std::to_string(static_cast<int>(total / kMiB)) + " MiB, " +
                                  std::to_string(static_cast<int>(in_use / kMiB)) +
                                  " MiB are in use after loading the weights (" +
                                  std::to_string(static_cast<int>(dw_.bytes / kMiB)) +
                                  " MiB) and " +
                                  std::to_string(static_cast<int>(kActivationReserveMiB)) +
                                  " MiB are kept for activations");
  }
  use_graphs_ = o.cuda_graphs;
  fused_decode_rope_ = o.fused_decode_rope;
  fused_gate_silu_ = o.fused_gate_silu;
  const int allocated = static_cast<int>(std::min(budget / block_bytes, 1e9));
  num_blocks_ = allocated - (use_graphs_ ? 1 : 0);  // the last one is the graphs' scratch block
  if (num_blocks_ < 1)
    throw std::invalid_argument("--kv-cache-mb " + std::to_string(o.kv_cache_mb) +
                                " is too small for one KV block of this model");
  if (use_graphs_) {
    scratch_block_ = num_blocks_;
    graph_table_stride_ = (cfg_.max_position_embeddings + block_size_ - 1) / block_size_;
  }
  block_elems_ = static_cast<int64_t>(kv_dim_) * block_size_;
  layer_stride_ = block_elems_ * allocated;
  const size_t cache_elems = static_cast<size_t>(layer_stride_) * cfg_.num_hidden_layers;
  try {
    kv_cache_.resize(2 * cache_elems);
  } catch (const CudaError& e) {
    throw CudaError("KV cache of " + std::to_string(num_blocks_) + " blocks (" +
                    std::to_string(static_cast<long>(num_blocks_ * block_bytes / kMiB)) +
                    " MiB): " + e.what() + "; lower --kv-cache-mb or --gpu-memory-fraction");
  }
  check_cuda(cudaMemsetAsync(kv_cache_.get(), 0, 2 * cache_elems * sizeof(__half), stream_),
             "cudaMemset(KV cache)");
  check_cuda(cudaStreamSynchronize(stream_), "initialising the KV cache");
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_);
  cudaStreamSynchronize(stream_);
  for (auto& [rows, g] : graphs_) {
    if (g.exec) cudaGraphExecDestroy(g.exec);
    if (g.graph) cudaGraphDestroy(g.graph);
  }
  if (pinned_inputs_) cudaFreeHost(pinned_inputs_);
  linear_.reset();
  gemm_.reset();  // its handle is bound to the stream
  cudaStreamDestroy(stream_);
}

void CudaBackend::copy_blocks(std::span<const engine::BlockCopy> copies) {
  if (copies.empty()) return;
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  const int n = static_cast<int>(copies.size());
  std::vector<int> idx(2 * copies.size());
  for (int i = 0; i < n; ++i) {
    idx[i] = copies[i].src;
    idx[n + i] = copies[i].dst;
  }
  copy_idx_.upload(idx, stream_);
  copy_kv_blocks(k_layer(0), v_layer(0), copy_idx_.get(), copy_idx_.get() + n, n,
                 cfg_.num_hidden_layers, block_elems_, layer_stride_, stream_);
}

void CudaBackend::reserve(Workspace& ws, int T, int R, size_t ints) {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size, V = cfg_.vocab_size;
  const size_t eb = dtype_bytes(dw_.dtype), t = static_cast<size_t>(T);
  ws.ints.resize(ints);
  ws.x.resize(t * H);
  ws.delta.resize(t * H);
  ws.xn.resize(t * H * eb);
  ws.qkv.resize(t * (q_dim_ + 2 * kv_dim_));
  ws.attn.resize(t * q_dim_ * eb);
  ws.gate_up.resize(t * 2 * I);
  ws.act.resize(t * I * eb);
  ws.picked.resize(static_cast<size_t>(R) * H);
  ws.logits.resize(static_cast<size_t>(R) * V);
  // Enough for every graph-sized decode batch at the longest context, at most 64 MiB (larger
  // batches hardly split; if one needs more, paged_attention_decode runs it unsplit). A constant
  // size, so only the first call allocates.
  constexpr int64_t kMaxSplitScratchFloats = (int64_t{64} << 20) / int64_t{sizeof(float)};
  if (!split_scratch_.get()) {
    const int64_t floats = decode_split_scratch_floats(kMaxGraphRows, n_heads_, head_dim_,
                                                       cfg_.max_position_embeddings);
    split_scratch_.resize(static_cast<size_t>(std::min(floats, kMaxSplitScratchFloats)));
    split_counters_.resize(static_cast<size_t>(kMaxGraphRows) * n_heads_);
    check_cuda(cudaMemsetAsync(split_counters_.get(), 0, split_counters_.size() * sizeof(unsigned),
                               stream_),
               "zeroing the split-K counters");
  }
}

void CudaBackend::enqueue_model(Workspace& ws, const BatchInputs& in) {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const int T = in.T, R = in.R;
  const DType dt = dw_.dtype;
  const int* d = ws.ints.get();
  const int qkv_dim = q_dim_ + 2 * kv_dim_;

  AttentionArgs a;
  a.q = ws.qkv.get();
  a.q_stride = qkv_dim;
  a.block_tables = d + in.tables;
  a.max_blocks_per_seq = in.table_stride;
  a.row_seq = d + in.row_seq;
  a.pos = d + in.pos;
  a.T = T;
  a.n_heads = n_heads_;
  a.n_kv_heads = n_kv_heads_;
  a.head_dim = head_dim_;
  a.block_size = block_size_;
  a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  a.out = ws.attn.get();
  a.out_dtype = dt;
  // Split-K decode: the hint picks the split count. A captured graph replays its launch
  // parameters for every later step of its batch size, whatever the contexts, so graphs are
  // captured with the longest possible context (run_graph only takes batches whose tables fit
  // max_position_embeddings): the split count then depends on the padded batch size alone, and
  // the kernel sizes each row's partitions from the row's own position, so short rows just
  // leave partitions empty. Eager batches use the longest context they actually have.
  if (&ws == &graph_ws_) {
    a.max_context = cfg_.max_position_embeddings;
  } else {
    for (int t = 0; t < T; ++t)
      a.max_context = std::max(a.max_context, in.packed[in.pos + static_cast<size_t>(t)] + 1);
  }
  a.split_scratch = split_scratch_.get();
  a.split_scratch_floats = static_cast<int64_t>(split_scratch_.size());
  a.split_counters = split_counters_.get();
  a.split_counters_len = static_cast<int64_t>(split_counters_.size());

  const float eps = cfg_.rms_norm_eps;
  const DeviceMatrix& embed = dw_.embed.parts.front();
  if (embed.quant)
    quant_embedding_gather(embed.data.get(), *embed.quant, d + in.tokens, T, H, ws.x.get(),
                           stream_);
  else
    embedding_gather(embed.data.get(), dt, d + in.tokens, T, H, ws.x.get(), stream_);
  for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
    const DeviceLayer& L = dw_.layers[l];
    // The previous layer's MLP output joins the residual stream here, fused with the norm.
    add_rms_norm(ws.x.get(), l == 0 ? nullptr : ws.delta.get(), L.input_norm.get(), T, H, eps,
                 ws.xn.get(), dt, stream_);
    (*linear_)(ws.xn.get(), dt, T, L.qkv, ws.qkv.get());
    a.k_cache = k_layer(l);
    a.v_cache = v_layer(l);
    // A decode step (one row per sequence) may rotate and store inside the attention kernel;
    // prefill chunks always take rope_and_store_kv first.
    if (in.all_single && fused_decode_rope_) {
      a.rope.inv_freq = inv_freq_.get();
      a.rope.slot_mapping = d + in.slots;
      a.rope.k_store = k_layer(l);
      a.rope.v_store = v_layer(l);
      a.rope.interleaved = cfg_.rope_interleaved;
      paged_attention_decode(a, stream_);
    } else {
      rope_and_store_kv(ws.qkv.get(), d + in.pos, d + in.slots, T, n_heads_, n_kv_heads_, head_dim_,
                        inv_freq_.get(), k_layer(l), v_layer(l), block_size_, stream_,
                        cfg_.rope_interleaved);
      if (in.all_single)
        paged_attention_decode(a, stream_);
      else
        prefill_attention(a, d + in.tiles, in.num_tiles, stream_);
    }
    (*linear_)(ws.attn.get(), dt, T, L.o, ws.delta.get());
    add_rms_norm(ws.x.get(), ws.delta.get(), L.post_norm.get(), T, H, eps, ws.xn.get(), dt,
                 stream_);
    if (T == 1 && fused_gate_silu_ && gate_silu_fusable(L.gate_up, dt, ws.xn.get())) {
      dense_gemv_silu(L.gate_up.parts.front().data.get(), dt, I, H, ws.xn.get(), ws.act.get(),
                      stream_);
    } else {
      (*linear_)(ws.xn.get(), dt, T, L.gate_up, ws.gate_up.get());
      silu_mul(ws.gate_up.get(), T, I, ws.act.get(), dt, stream_);
    }
    (*linear_)(ws.act.get(), dt, T, L.down, ws.delta.get());
  }
  add_inplace(ws.x.get(), ws.delta.get(), static_cast<int64_t>(T) * H, stream_);
  // Final norm and LM head only for the rows whose logits were asked for.
  gather_rows(ws.x.get(), d + in.out_rows, R, H, ws.picked.get(), stream_);
  add_rms_norm(ws.picked.get(), nullptr, dw_.final_norm.get(), R, H, eps, ws.xn.get(), dt, stream_);
  (*linear_)(ws.xn.get(), dt, R, dw_.lm_head(), ws.logits.get());
}

const float* CudaBackend::run_graph(const BatchInputs& in) {
  const int rows = graph_bucket(in.T);
  size_t used = 0;
  const BatchInputs g = pad_for_graph(in, rows, kMaxGraphRows, graph_table_stride_, scratch_block_,
                                      block_size_, &used);
  if (!graph_ws_ready_) {
    const size_t ints = 5 * static_cast<size_t>(kMaxGraphRows) +
                        static_cast<size_t>(kMaxGraphRows) * graph_table_stride_;
    reserve(graph_ws_, kMaxGraphRows, kMaxGraphRows, ints);
    check_cuda(cudaMallocHost(reinterpret_cast<void**>(&pinned_inputs_), ints * sizeof(int)),
               "cudaMallocHost");
    pinned_ints_ = ints;
    graph_ws_ready_ = true;
  }
  // The previous step ended with a synchronising download, so the staging buffer is free.
  std::copy(g.packed.begin(), g.packed.begin() + static_cast<std::ptrdiff_t>(used), pinned_inputs_);
  check_cuda(cudaMemcpyAsync(graph_ws_.ints.get(), pinned_inputs_, used * sizeof(int),
                             cudaMemcpyHostToDevice, stream_),
             "cudaMemcpyAsync(graph inputs)");
  Graph& graph = graphs_[rows];
  if (!graph.exec) {
    check_cuda(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal),
               "cudaStreamBeginCapture");
    try {
      enqueue_model(graph_ws_, g);
    } catch (...) {
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(stream_, &broken);  // leave the stream usable
      if (broken) cudaGraphDestroy(broken);
      throw;
    }
    check_cuda(cudaStreamEndCapture(stream_, &graph.graph), "cudaStreamEndCapture");
    check_cuda(cudaGraphInstantiate(&graph.exec, graph.graph, 0), "cudaGraphInstantiate");
  }
  check_cuda(cudaGraphLaunch(graph.exec, stream_), "cudaGraphLaunch");
  // Rows 0..T-1 of the padded batch are the real sequences, in order.
  return graph_ws_.logits.get();
}

const float* CudaBackend::run(std::span<const engine::BatchSequence> batch, int& R) {
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  const BatchInputs in = flatten_batch(batch, block_size_, cfg_.vocab_size);
  R = in.R;
  if (in.T == 0) return nullptr;
  if (use_graphs_ && in.all_single && in.T <= kMaxGraphRows &&
      in.table_stride <= graph_table_stride_)
    return run_graph(in);
  reserve(eager_, in.T, in.R, in.packed.size());
  eager_.ints.upload(in.packed, stream_);
  enqueue_model(eager_, in);
  return eager_.logits.get();
}

void CudaBackend::forward(std::span<const engine::BatchSequence> batch,
                          std::vector<float>& logits) {
  int R = 0;
  const float* d_logits = run(batch, R);
  logits.assign(static_cast<size_t>(R) * cfg_.vocab_size, 0.f);
  if (R == 0) return;
  check_cuda(cudaMemcpyAsync(logits.data(), d_logits, logits.size() * sizeof(float),
                             cudaMemcpyDeviceToHost, stream_),
             "cudaMemcpyAsync(logits)");
  check_cuda(cudaStreamSynchronize(stream_), "forward");
}

void CudaBackend::forward_sample(std::span<const engine::BatchSequence> batch,
                                 std::span<const engine::RowSampling> rows,
                                 std::vector<engine::SampleResult>& results) {
  int R = 0;
  const float* d_logits = run(batch, R);
  const int V = cfg_.vocab_size;
  const int n = static_cast<int>(rows.size());
  results.clear();
  if (n == 0) return;
  std::vector<int> idx;
  std::vector<DeviceSamplingParams> params;
  for (const engine::RowSampling& r : rows) {
    if (r.logits_row < 0 || r.logits_row >= R)
      throw std::logic_error("sampling row outside the forward's logits");
    const engine::SamplingParams& p = *r.params;
    if (engine::has_penalties(p)) throw std::logic_error("penalised rows are sampled on the host");
    DeviceSamplingParams dp;
    dp.temperature = p.temperature;
    dp.top_k = p.top_k;
    dp.top_p = p.top_p;
    dp.min_p = p.min_p;
    dp.uniform = r.uniform;
    dp.num_top = std::min(p.logprobs, kMaxTopLogprobs);
    idx.push_back(r.logits_row);
    params.push_back(dp);
  }
  // Usually draw i samples row i (decode); when samples of one request share a row (the step
  // its prompt completes), each draw gets its own copy.
  bool in_order = true;
  for (int i = 0; i < n; ++i) in_order = in_order && idx[i] == i;
  const float* sample_logits = d_logits;
  if (!in_order) {
    sample_idx_.upload(idx, stream_);
    sample_logits_.resize(static_cast<size_t>(n) * V);
    gather_rows(d_logits, sample_idx_.get(), n, V, sample_logits_.get(), stream_);
    sample_logits = sample_logits_.get();
  }
  sample_params_.upload(params, stream_);
  sample_results_.resize(n);
  sample_rows(sample_logits, n, V, sample_params_.get(), sample_results_.get(), stream_);
  const std::vector<DeviceSampleResult> out = sample_results_.download(n, stream_);
  for (int i = 0; i < n; ++i) {
    engine::SampleResult r;
    r.token = out[i].token;
    r.logprob = out[i].logprob;
    for (int k = 0; k < params[i].num_top; ++k)
      r.top.push_back({out[i].top_tokens[k], out[i].top_logprobs[k]});
    results.push_back(std::move(r));
  }
}

}  // namespace

int cuda_device_count(std::string* why) {
  int n = 0;
  const cudaError_t status = cudaGetDeviceCount(&n);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear it, so later calls do not report it again
    if (why) {
      // The runtime's own wording ("driver version is insufficient") hides the usual cause.
      const char* plain = status == cudaErrorInsufficientDriver
                              ? "no NVIDIA driver new enough for this CUDA runtime; "
                          : status == cudaErrorNoDevice ? "no CUDA-capable GPU; "
                                                        : "";
      *why = std::string(plain) + cudaGetErrorName(status) + ": " + cudaGetErrorString(status);
    }
    return 0;
  }
  if (n == 0 && why) *why = "the CUDA runtime found 0 devices";
  return n;
}

std::unique_ptr<engine::Backend> make_cuda_backend(const engine::ModelWeights& weights,
                                                   int block_size,
                                                   const CudaBackendOptions& options) {
  return std::make_unique<CudaBackend>(weights, block_size, options);
}

}  // namespace precis::cuda
