// The roofline baseline for GPU benchmarks: device-to-device copy bandwidth measured with CUDA
// events (bytes read + bytes written per second, best of several copies).
#pragma once

#include <cstddef>

namespace precis::cuda {

double device_copy_bandwidth(size_t bytes, int device = 0);

}  // namespace precis::cuda
