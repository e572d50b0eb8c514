// An owning device allocation with typed upload/download, so host code (the backend, the tests)
// never pairs cudaMalloc with cudaFree by hand.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "cuda/cuda_check.hpp"

namespace precis::cuda {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) { resize(count); }
  explicit DeviceBuffer(const std::vector<T>& host) { upload(host); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }

  // Reallocates only when growing; contents are not preserved.
  void resize(size_t count) {
    if (count <= count_ && ptr_) return;
    release();
    if (count == 0) return;
    check_cuda(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(T)), "cudaMalloc");
    count_ = count;
  }
  void upload(const T* host, size_t count, cudaStream_t stream = nullptr) {
    resize(count);
    if (count == 0) return;
    check_cuda(cudaMemcpyAsync(ptr_, host, count * sizeof(T), cudaMemcpyHostToDevice, stream),
               "cudaMemcpyAsync(host to device)");
  }
  void upload(const std::vector<T>& host, cudaStream_t stream = nullptr) {
    upload(host.data(), host.size(), stream);
  }
  // Synchronous: waits for `stream` so the data is on the host when it returns.
  std::vector<T> download(size_t count, cudaStream_t stream = nullptr) const {
    std::vector<T> host(count);
    if (count == 0) return host;
    check_cuda(
        cudaMemcpyAsync(host.data(), ptr_, count * sizeof(T), cudaMemcpyDeviceToHost, stream),
        "cudaMemcpyAsync(device to host)");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    return host;
  }
  std::vector<T> download() const { return download(count_); }

  T* get() { return ptr_; }
  const T* get() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  void release() {
    if (ptr_) cudaFree(ptr_);  // errors here would only be earlier asynchronous faults
    ptr_ = nullptr;
    count_ = 0;
  }
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

}  // namespace precis::cuda
