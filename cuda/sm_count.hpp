// The multiprocessor count of the current device, which launch heuristics size their grids by.
#pragma once

namespace precis::cuda {

// Queried once per device and cached. cudaGetDeviceProperties rather than
// cudaDeviceGetAttribute, because the CUDA emulator the tests run under implements only the
// former. Neither allocates nor synchronises, so this is legal during stream capture.
int current_device_sm_count();

}  // namespace precis::cuda
