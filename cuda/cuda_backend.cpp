#include "cuda/cuda_backend.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/device_weights.hpp"
#include "cuda/gemm.hpp"
#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

namespace {

// Device memory kept out of the KV cache when it is sized by --gpu-memory-fraction: activations,
// logits and cuBLAS workspaces grow with the batch and must still fit.
constexpr double kActivationReserveMiB = 1024;
constexpr double kMiB = 1024.0 * 1024.0;

size_t dtype_bytes(DType d) {
  return d == DType::f32 ? 4 : 2;
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
  // Runs the model over the batch and leaves the requested rows' logits in logits_ (device).
  // Returns the number of rows.
  int run(std::span<const engine::BatchSequence> batch);
  __half* k_layer(int l) { return k_cache_.get() + l * layer_stride_; }
  __half* v_layer(int l) { return v_cache_.get() + l * layer_stride_; }

  engine::ModelConfig cfg_;
  int device_, block_size_, num_blocks_ = 0;
  int head_dim_, n_heads_, n_kv_heads_, q_dim_, kv_dim_;
  int64_t block_elems_ = 0, layer_stride_ = 0;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  DeviceWeights dw_;
  DeviceBuffer<__half> k_cache_, v_cache_;
  DeviceBuffer<double> inv_freq_;
  // Workspace, grown to the largest batch seen.
  DeviceBuffer<int> ints_, copy_idx_, sample_idx_;
  DeviceBuffer<float> x_, delta_, qkv_, gate_up_, picked_, logits_, sample_logits_;
  DeviceBuffer<std::byte> xn_, attn_, act_;
  DeviceBuffer<DeviceSamplingParams> sample_params_;
  DeviceBuffer<DeviceSampleResult> sample_results_;
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

  std::vector<double> inv_freq;
  for (int i = 0; i < head_dim_ / 2; ++i)
    inv_freq.push_back(1.0 / std::pow(static_cast<double>(cfg_.rope_theta), 2.0 * i / head_dim_));
  inv_freq_.upload(inv_freq, stream_);

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
  num_blocks_ = static_cast<int>(std::min(budget / block_bytes, 1e9));
  if (num_blocks_ < 1)
    throw std::invalid_argument("--kv-cache-mb " + std::to_string(o.kv_cache_mb) +
                                " is too small for one KV block of this model");
  block_elems_ = static_cast<int64_t>(kv_dim_) * block_size_;
  layer_stride_ = block_elems_ * num_blocks_;
  const size_t cache_elems = static_cast<size_t>(layer_stride_) * cfg_.num_hidden_layers;
  try {
    k_cache_.resize(cache_elems);
    v_cache_.resize(cache_elems);
  } catch (const CudaError& e) {
    throw CudaError("KV cache of " + std::to_string(num_blocks_) + " blocks (" +
                    std::to_string(static_cast<long>(num_blocks_ * block_bytes / kMiB)) +
                    " MiB): " + e.what() + "; lower --kv-cache-mb or --gpu-memory-fraction");
  }
  check_cuda(cudaMemsetAsync(k_cache_.get(), 0, cache_elems * sizeof(__half), stream_),
             "cudaMemset(KV cache)");
  check_cuda(cudaMemsetAsync(v_cache_.get(), 0, cache_elems * sizeof(__half), stream_),
             "cudaMemset(KV cache)");
  check_cuda(cudaStreamSynchronize(stream_), "initialising the KV cache");
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_);
  cudaStreamSynchronize(stream_);
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
  copy_kv_blocks(k_cache_.get(), v_cache_.get(), copy_idx_.get(), copy_idx_.get() + n, n,
                 cfg_.num_hidden_layers, block_elems_, layer_stride_, stream_);
}

int CudaBackend::run(std::span<const engine::BatchSequence> batch) {
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size, V = cfg_.vocab_size;
  const DType dt = dw_.dtype;
  const size_t eb = dtype_bytes(dt);

  // Flatten the batch into rows, as the CPU backend does, plus what the kernels need: each
  // row's cache slot, the rows whose logits are wanted and the prefill tiles.
  std::vector<int> tokens, pos, row_seq, slots, out_rows, tiles;
  size_t max_blocks = 1;
  bool all_single = true;
  for (size_t s = 0; s < batch.size(); ++s) {
    const engine::BatchSequence& b = batch[s];
    const size_t n = b.tokens.size();
    const size_t need_blocks = (b.start_pos + n + block_size_ - 1) / block_size_;
    if (b.block_table.size() < need_blocks)
      throw std::logic_error("block table too short for the batch");
    max_blocks = std::max(max_blocks, b.block_table.size());
    if (n != 1) all_single = false;
    for (size_t i = 0; i < n; ++i) {
      const int tok = b.tokens[i];
      if (tok < 0 || tok >= V)
        throw std::out_of_range("token id " + std::to_string(tok) + " outside the vocabulary");
      const int row = static_cast<int>(tokens.size());
      if (i % kPrefillTileRows == 0) tiles.push_back(row);
      if (b.all_logits || i + 1 == n) out_rows.push_back(row);
      const int p = b.start_pos + static_cast<int>(i);
      tokens.push_back(tok);
      pos.push_back(p);
      row_seq.push_back(static_cast<int>(s));
      slots.push_back(b.block_table[p / block_size_] * block_size_ + p % block_size_);
    }
  }
  const int T = static_cast<int>(tokens.size());
  const int R = static_cast<int>(out_rows.size());
  if (T == 0) return 0;

  // One upload for every index array.
  std::vector<int> packed;
  packed.reserve(4 * T + R + tiles.size() + batch.size() * max_blocks);
  const auto append = [&packed](const std::vector<int>& v) {
    const size_t at = packed.size();
    packed.insert(packed.end(), v.begin(), v.end());
    return at;
  };
  const size_t o_tokens = append(tokens), o_pos = append(pos), o_seq = append(row_seq),
               o_slots = append(slots), o_out = append(out_rows), o_tiles = append(tiles);
  const size_t o_tables = packed.size();
  packed.resize(o_tables + batch.size() * max_blocks, 0);
  for (size_t s = 0; s < batch.size(); ++s)
    std::copy(batch[s].block_table.begin(), batch[s].block_table.end(),
              packed.begin() + static_cast<std::ptrdiff_t>(o_tables + s * max_blocks));
  ints_.upload(packed, stream_);
  const int* d = ints_.get();

  const int qkv_dim = q_dim_ + 2 * kv_dim_;
  x_.resize(static_cast<size_t>(T) * H);
  delta_.resize(static_cast<size_t>(T) * H);
  xn_.resize(static_cast<size_t>(T) * H * eb);
  qkv_.resize(static_cast<size_t>(T) * qkv_dim);
  attn_.resize(static_cast<size_t>(T) * q_dim_ * eb);
  gate_up_.resize(static_cast<size_t>(T) * 2 * I);
  act_.resize(static_cast<size_t>(T) * I * eb);
  picked_.resize(static_cast<size_t>(R) * H);
  logits_.resize(static_cast<size_t>(R) * V);

  AttentionArgs a;
  a.q = qkv_.get();
  a.q_stride = qkv_dim;
  a.block_tables = d + o_tables;
  a.max_blocks_per_seq = static_cast<int>(max_blocks);
  a.row_seq = d + o_seq;
  a.pos = d + o_pos;
  a.T = T;
  a.n_heads = n_heads_;
  a.n_kv_heads = n_kv_heads_;
  a.head_dim = head_dim_;
  a.block_size = block_size_;
  a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  a.out = attn_.get();
  a.out_dtype = dt;

  const float eps = cfg_.rms_norm_eps;
  embedding_gather(dw_.embed.get(), dt, d + o_tokens, T, H, x_.get(), stream_);
  for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
    const DeviceLayer& L = dw_.layers[l];
    // The previous layer's MLP output joins the residual stream here, fused with the norm.
    add_rms_norm(x_.get(), l == 0 ? nullptr : delta_.get(), L.input_norm.get(), T, H, eps,
                 xn_.get(), dt, stream_);
    gemm_->linear(xn_.get(), dt, T, H, L.qkv.get(), qkv_dim, qkv_.get());
    rope_and_store_kv(qkv_.get(), d + o_pos, d + o_slots, T, n_heads_, n_kv_heads_, head_dim_,
                      inv_freq_.get(), k_layer(l), v_layer(l), block_size_, stream_);
    a.k_cache = k_layer(l);
    a.v_cache = v_layer(l);
    if (all_single)
      paged_attention_decode(a, stream_);
    else
      prefill_attention(a, d + o_tiles, static_cast<int>(tiles.size()), stream_);
    gemm_->linear(attn_.get(), dt, T, q_dim_, L.o.get(), H, delta_.get());
    add_rms_norm(x_.get(), delta_.get(), L.post_norm.get(), T, H, eps, xn_.get(), dt, stream_);
    gemm_->linear(xn_.get(), dt, T, H, L.gate_up.get(), 2 * I, gate_up_.get());
    silu_mul(gate_up_.get(), T, I, act_.get(), dt, stream_);
    gemm_->linear(act_.get(), dt, T, I, L.down.get(), H, delta_.get());
  }
  add_inplace(x_.get(), delta_.get(), static_cast<int64_t>(T) * H, stream_);
  // Final norm and LM head only for the rows whose logits were asked for.
  gather_rows(x_.get(), d + o_out, R, H, picked_.get(), stream_);
  add_rms_norm(picked_.get(), nullptr, dw_.final_norm.get(), R, H, eps, xn_.get(), dt, stream_);
  gemm_->linear(xn_.get(), dt, R, H, dw_.lm_head(), V, logits_.get());
  return R;
}

void CudaBackend::forward(std::span<const engine::BatchSequence> batch,
                          std::vector<float>& logits) {
  const int R = run(batch);
  logits = logits_.download(static_cast<size_t>(R) * cfg_.vocab_size, stream_);
}

void CudaBackend::forward_sample(std::span<const engine::BatchSequence> batch,
                                 std::span<const engine::RowSampling> rows,
                                 std::vector<engine::SampleResult>& results) {
  const int R = run(batch);
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
  // Several samples of one request share a row; give each draw its own copy.
  sample_idx_.upload(idx, stream_);
  sample_logits_.resize(static_cast<size_t>(n) * V);
  gather_rows(logits_.get(), sample_idx_.get(), n, V, sample_logits_.get(), stream_);
  sample_params_.upload(params, stream_);
  sample_results_.resize(n);
  sample_rows(sample_logits_.get(), n, V, sample_params_.get(), sample_results_.get(), stream_);
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
