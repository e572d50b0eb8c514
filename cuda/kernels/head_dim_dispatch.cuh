// The attention kernels are templates over head_dim (so a lane's share of a head lives in
// registers); this picks the instantiation for a run-time head_dim: multiples of 32 up to 256.
#pragma once

#include <stdexcept>
#include <string>

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

}  // namespace precis::cuda
