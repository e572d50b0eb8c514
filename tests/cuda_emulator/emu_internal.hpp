// CUDA emulator: state shared between the block scheduler (emu.cpp) and the fake CUDA runtime
// and cuBLAS (runtime.cpp). Not seen by kernel or test code.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>

namespace emu {
void garbage(void* p, size_t n);  // fills with the EMU_FILL byte (uninitialised device memory)
// Runs a whole grid, block after block (called from the stream queue).
void run_grid(const char* name, dim3 grid, dim3 block, size_t smem,
              const std::function<void()>& body);
// A kernel fault: reported now, returned by the next synchronising call, fails the process.
void kernel_fault(const char* what);
extern cudaError_t pending_error;  // kernel faults, returned at the next synchronising call
extern int kernel_errors;
}  // namespace emu
