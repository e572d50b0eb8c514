// libFuzzer target: the input as a GGUF file, parsed straight from libFuzzer's buffer (the same
// code path the mmap'd file takes). LoadError is the expected rejection; anything else escaping,
// or a read outside the buffer, is a bug. An accepted file has every metadata value walked, every
// typed getter tried and the first and last byte of every tensor read, so a wrong size or
// offset shows up as an AddressSanitizer report.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>

#include "engine/gguf.hpp"
#include "engine/load_error.hpp"

using namespace precis::engine;

namespace {

// A scalar's bits as an integer; casting a float to an integer directly would be undefined for
// NaN and out-of-range values (and UBSan would say so).
template <class T>
uint64_t bits(T x) {
  if constexpr (std::is_same_v<T, float>)
    return std::bit_cast<uint32_t>(x);
  else if constexpr (std::is_same_v<T, double>)
    return std::bit_cast<uint64_t>(x);
  else
    return static_cast<uint64_t>(x);
}

// Folds a value into a checksum so that nothing is optimised away.
uint64_t walk(const GgufArray& a);

uint64_t walk(const GgufValue& v) {
  return std::visit(
      [](const auto& x) -> uint64_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>)
          return x.size() + (x.empty() ? 0 : static_cast<unsigned char>(x.back()));
        else if constexpr (std::is_same_v<T, GgufArray>)
          return walk(x);
        else
          return bits(x);
      },
      v);
}

uint64_t walk(const GgufArray& a) {
  return std::visit(
      [](const auto& items) {
        uint64_t h = items.size();
        for (const auto& x : items) {
          using T = typename std::decay_t<decltype(items)>::value_type;
          if constexpr (std::is_same_v<T, std::string>)
            h = h * 31 + x.size();
          else if constexpr (std::is_same_v<T, GgufArray>)
            h = h * 31 + walk(x);
          else
            h = h * 31 + bits(static_cast<T>(x));
        }
        return h;
      },
      a.items);
}

// Every getter on every key: each either returns or throws LoadError.
uint64_t try_getters(const GgufFile& f, const std::string& key) {
  uint64_t h = 0;
  auto attempt = [&](auto get) {
    try {
      get();
      ++h;
    } catch (const LoadError&) {
    }
  };
  attempt([&] { h += f.get_string(key).size(); });
  attempt([&] { h += f.get_u32(key); });
  attempt([&] { h += f.get_u64(key); });
  attempt([&] { h += static_cast<uint64_t>(f.get_i64(key)); });
  attempt([&] { h += static_cast<uint64_t>(f.get_f32(key) != 0); });
  attempt([&] { h += f.get_bool(key); });
  attempt([&] { h += f.get_string_array(key).size(); });
  attempt([&] { h += f.get_f32_array(key).size(); });
  attempt([&] { h += f.get_i32_array(key).size(); });
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  volatile uint64_t sink = 0;
  try {
    const GgufFile f(data, size, "fuzz.gguf");
    for (const std::string& key : f.metadata_keys()) {
      sink = sink + walk(f.get(key)) + try_getters(f, key);
    }
    for (const GgufTensor& t : f.tensors()) {
      const auto first = std::to_integer<uint8_t>(t.data[0]);
      const auto last = std::to_integer<uint8_t>(t.data[t.nbytes - 1]);
      sink = sink + first + last + t.numel() + t.rows();
      if (f.find_tensor(t.name) != &t) __builtin_trap();
    }
  } catch (const LoadError&) {
  }
  return 0;
}
