// What the two attention launchers share: the argument checks, and the choice of kernel
// instantiation (the kernels are templates over head_dim, so a lane's share of a head lives in
// registers) for a run-time head_dim: multiples of 32 up to 256.
#pragma once

#include <stdexcept>
#include <string>

#include "cuda/kernels/kernels.hpp"

namespace precis::cuda {

// Calls f.template operator()<HD>() with HD == head_dim; throws std::invalid_argument otherwise.
template <typename F>
void dispatch_head_dim(int head_dim, F&& f) {
  switch (head_dim) {
    case 32:
      f.template operator()<32>();
      break;
    case 64:
      f.template operator()<64>();
      break;
    case 96:
      f.template operator()<96>();
      break;
    case 128:
      f.template operator()<128>();
      break;
    case 160:
      f.template operator()<160>();
      break;
    case 192:
      f.template operator()<192>();
      break;
    case 224:
      f.template operator()<224>();
      break;
    case 256:
      f.template operator()<256>();
      break;
    default:
      throw std::invalid_argument("attention: head_dim " + std::to_string(head_dim) +
                                  " is not a multiple of 32 in [32, 256]");
  }
}

// The shape checks of both launchers; throws std::invalid_argument naming `kernel`.
inline void check_attention_shape(const AttentionArgs& a, const char* kernel) {
  const std::string name = kernel;
  if (a.n_heads <= 0 || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0)
    throw std::invalid_argument(name + ": n_heads " + std::to_string(a.n_heads) +
                                " is not a positive multiple of n_kv_heads " +
                                std::to_string(a.n_kv_heads));
  if (a.head_dim % 32 != 0 || a.head_dim < 32 || a.head_dim > 256)
    throw std::invalid_argument(name + ": head_dim " + std::to_string(a.head_dim) +
                                " is not a multiple of 32 in [32, 256]");
  if (a.block_size <= 0 || a.max_blocks_per_seq <= 0)
    throw std::invalid_argument(name + ": block_size and max_blocks_per_seq must be positive");
  if (a.q_stride < a.n_heads * a.head_dim)
    throw std::invalid_argument(name + ": q_stride " + std::to_string(a.q_stride) +
                                " is smaller than n_heads * head_dim");
}

// Checked once there is work to launch (an empty batch may pass null pointers).
inline void check_attention_pointers(const AttentionArgs& a, const char* kernel) {
  if (!a.q || !a.k_cache || !a.v_cache || !a.block_tables || !a.row_seq || !a.pos || !a.out)
    throw std::invalid_argument(std::string(kernel) + ": null pointer argument");
}

}  // namespace precis::cuda
