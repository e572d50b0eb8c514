#include "cuda/device_weights.hpp"

#include <cstring>
#include <initializer_list>
#include <string>

namespace precis::cuda {

namespace {

void copy_to(std::byte* dst, const engine::TensorView& t) {
  check_cuda(cudaMemcpy(dst, t.data, t.nbytes, cudaMemcpyHostToDevice),
             ("uploading " + t.name).c_str());
}

// Several [rows_i, cols] tensors stacked into one [sum rows_i, cols] device matrix: row-major
// concatenation is byte concatenation.
DeviceBuffer<std::byte> stacked(std::initializer_list<const engine::TensorView*> parts,
                                size_t& bytes) {
  size_t total = 0;
  for (const auto* t : parts) total += t->nbytes;
  DeviceBuffer<std::byte> buf;
  try {
    buf.resize(total);
  } catch (const CudaError& e) {
    throw CudaError("device memory for " + (*parts.begin())->name + " (" +
                    std::to_string(total >> 20) + " MiB): " + e.what());
  }
  size_t at = 0;
  for (const auto* t : parts) {
    copy_to(buf.get() + at, *t);
    at += t->nbytes;
  }
  bytes += total;
  return buf;
}

DeviceBuffer<float> as_f32(const engine::TensorView& t, size_t& bytes) {
  std::vector<float> host(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < host.size(); ++i) {
    const std::byte* p = t.data + i * engine::dtype_size(t.dtype);
    uint16_t h = 0;
    switch (t.dtype) {
      case engine::DType::F32:
        std::memcpy(&host[i], p, 4);
        break;
      case engine::DType::F16:
        std::memcpy(&h, p, 2);
        host[i] = engine::f16_to_f32(h);
        break;
      case engine::DType::BF16:
        std::memcpy(&h, p, 2);
        host[i] = engine::bf16_to_f32(h);
        break;
    }
  }
  bytes += host.size() * sizeof(float);
  DeviceBuffer<float> buf(host);
  check_cuda(cudaDeviceSynchronize(), ("uploading " + t.name).c_str());
  return buf;
}

}  // namespace

DType device_dtype(engine::DType d) {
  switch (d) {
    case engine::DType::F16:
      return DType::f16;
    case engine::DType::BF16:
      return DType::bf16;
    case engine::DType::F32:
      break;
  }
  return DType::f32;
}

DeviceWeights upload_weights(const engine::ModelWeights& w) {
  DeviceWeights d;
  d.dtype = device_dtype(w.embed_tokens.dtype);
  d.embed = stacked({&w.embed_tokens}, d.bytes);
  // The loader has checked that every tensor shares one dtype; a tied head is the same view.
  if (w.lm_head.data != w.embed_tokens.data) d.lm_head_own = stacked({&w.lm_head}, d.bytes);
  for (const engine::LayerWeights& L : w.layers) {
    DeviceLayer dl;
    dl.qkv = stacked({&L.q_proj, &L.k_proj, &L.v_proj}, d.bytes);
    dl.o = stacked({&L.o_proj}, d.bytes);
    dl.gate_up = stacked({&L.gate_proj, &L.up_proj}, d.bytes);
    dl.down = stacked({&L.down_proj}, d.bytes);
    dl.input_norm = as_f32(L.input_norm, d.bytes);
    dl.post_norm = as_f32(L.post_norm, d.bytes);
    d.layers.push_back(std::move(dl));
  }
  d.final_norm = as_f32(w.final_norm, d.bytes);
  return d;
}

}  // namespace precis::cuda
