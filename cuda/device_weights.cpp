#include "cuda/device_weights.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace precis::cuda {

namespace {

float element_f32(const engine::TensorView& t, size_t i) {
  const std::byte* p = t.data + i * engine::dtype_size(t.dtype);
  float f = 0;
  uint16_t h = 0;
  switch (t.dtype) {
    case engine::DType::F32:
      std::memcpy(&f, p, 4);
      return f;
    case engine::DType::F16:
      std::memcpy(&h, p, 2);
      return engine::f16_to_f32(h);
    case engine::DType::BF16:
      std::memcpy(&h, p, 2);
      return engine::bf16_to_f32(h);
  }
  return 0;
}

// The bytes of a dense tensor in `dtype`: its own when they match, else converted on the host
// (a GGUF file may hold f32 or bf16 matrices beside quantized ones).
std::vector<std::byte> converted(const engine::TensorView& t, DType dtype) {
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<std::byte> out(n * (dtype == DType::f32 ? 4 : 2));
  for (size_t i = 0; i < n; ++i) {
    const float v = element_f32(t, i);
    uint16_t h = 0;
    switch (dtype) {
      case DType::f32:
        std::memcpy(out.data() + 4 * i, &v, 4);
        continue;
      case DType::f16:
        h = engine::f32_to_f16(v);
        break;
      case DType::bf16:
        h = engine::f32_to_bf16(v);
        break;
    }
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

void upload(std::byte* dst, const void* src, size_t n, const std::string& name) {
  check_cuda(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice), ("uploading " + name).c_str());
}

// Tensors [rows_i, cols] stacked into [sum rows_i, cols]: row-major concatenation is byte
// concatenation, dense or in blocks, so each run of tensors with one storage is one part.
DeviceLinear stacked(std::initializer_list<const engine::TensorView*> tensors, DType dtype,
                     DeviceWeights& d) {
  DeviceLinear lin;
  lin.cols = static_cast<int>((*tensors.begin())->shape.at(1));
  std::vector<const engine::TensorView*> run;
  auto flush = [&] {
    if (run.empty()) return;
    DeviceMatrix m;
    if (run.front()->quant) {
      m.quant = cuda_quant_type(*run.front()->quant);
      // cuda_unsupported_reason turns such a model away before anything is uploaded.
      if (!m.quant) throw std::invalid_argument(run.front()->name + ": block type not on CUDA");
    }
    const size_t elem = dtype == DType::f32 ? 4 : 2;
    size_t total = 0;
    for (const auto* t : run) {
      total += m.quant ? t->nbytes : static_cast<size_t>(t->numel()) * elem;
      m.rows += static_cast<int>(t->shape.at(0));
    }
    try {
      m.data.resize(total);
    } catch (const CudaError& e) {
      throw CudaError("device memory for " + run.front()->name + " (" +
                      std::to_string(total >> 20) + " MiB): " + e.what());
    }
    size_t at = 0;
    for (const auto* t : run) {
      if (m.quant || device_dtype(t->dtype) == dtype) {
        upload(m.data.get() + at, t->data, t->nbytes, t->name);
        at += t->nbytes;
      } else {
        const std::vector<std::byte> host = converted(*t, dtype);
        upload(m.data.get() + at, host.data(), host.size(), t->name);
        at += host.size();
      }
    }
    if (m.quant)
      d.max_quant_elements = std::max(d.max_quant_elements, static_cast<size_t>(m.rows) * lin.cols);
    d.bytes += total;
    lin.rows += m.rows;
    lin.parts.push_back(std::move(m));
    run.clear();
  };
  for (const auto* t : tensors) {
    if (!run.empty() && run.front()->quant != t->quant) flush();
    run.push_back(t);
  }
  flush();
  return lin;
}

DeviceBuffer<float> as_f32(const engine::TensorView& t, size_t& bytes) {
  std::vector<float> host(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < host.size(); ++i) host[i] = element_f32(t, i);
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

std::optional<QuantType> cuda_quant_type(engine::GgmlType t) {
  switch (t) {
    case engine::GgmlType::Q8_0:
      return QuantType::q8_0;
    case engine::GgmlType::Q4_0:
      return QuantType::q4_0;
    case engine::GgmlType::Q4_1:
      return QuantType::q4_1;
    case engine::GgmlType::Q5_0:
      return QuantType::q5_0;
    case engine::GgmlType::Q5_1:
      return QuantType::q5_1;
    case engine::GgmlType::Q4_K:
      return QuantType::q4_k;
    case engine::GgmlType::Q5_K:
      return QuantType::q5_k;
    case engine::GgmlType::Q6_K:
      return QuantType::q6_k;
    default:
      return std::nullopt;
  }
}

DeviceWeights upload_weights(const engine::ModelWeights& w) {
  DeviceWeights d;
  bool any_quant = w.embed_tokens.quant || w.lm_head.quant;
  for (const engine::LayerWeights& L : w.layers)
    for (const engine::TensorView* t :
         {&L.q_proj, &L.k_proj, &L.v_proj, &L.o_proj, &L.gate_proj, &L.up_proj, &L.down_proj})
      any_quant = any_quant || t->quant.has_value();
  d.dtype = any_quant ? DType::f16 : device_dtype(w.embed_tokens.dtype);
  d.embed = stacked({&w.embed_tokens}, d.dtype, d);
  // A tied head is the same view as the embedding.
  if (w.lm_head.data != w.embed_tokens.data) d.lm_head_own = stacked({&w.lm_head}, d.dtype, d);
  for (const engine::LayerWeights& L : w.layers) {
    DeviceLayer dl;
    dl.qkv = stacked({&L.q_proj, &L.k_proj, &L.v_proj}, d.dtype, d);
    dl.o = stacked({&L.o_proj}, d.dtype, d);
    dl.gate_up = stacked({&L.gate_proj, &L.up_proj}, d.dtype, d);
    dl.down = stacked({&L.down_proj}, d.dtype, d);
    dl.input_norm = as_f32(L.input_norm, d.bytes);
    dl.post_norm = as_f32(L.post_norm, d.bytes);
    d.layers.push_back(std::move(dl));
  }
  d.final_norm = as_f32(w.final_norm, d.bytes);
  return d;
}

}  // namespace precis::cuda
