// An allocator for std::vector whose storage starts on a cache-line boundary.
//
// Large buffers from malloc are 16-byte aligned (glibc's mmap'd chunks start 16 bytes into a
// page), so every 64-byte AVX-512 load from one spans two cache lines; the kernels' activation
// and weight-panel buffers use this instead.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace precis::engine {

inline constexpr std::size_t kCacheLine = 64;

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{kCacheLine}));
  }
  void deallocate(T* p, std::size_t) noexcept {
    ::operator delete (p, std::align_val_t{kCacheLine});
  }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept {
    return true;
  }
};

// A float buffer for kernel operands: data() is cache-line aligned.
using AlignedFloats = std::vector<float, CacheLineAllocator<float>>;

}  // namespace precis::engine
