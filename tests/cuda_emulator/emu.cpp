// CUDA emulator, block scheduler: a CPU stand-in for a GPU so the kernel tests under tests/gpu/
// run in CI without one (tests/cuda_emulator/CMakeLists.txt builds them as emulated_test_*).
//
// Every CUDA thread of a block is a fiber with its own stack; the blocks of a grid run one after
// another on the calling thread. __syncthreads and the warp syncs (__syncwarp, shuffles) are real
// barriers, so a kernel runs with true CUDA semantics for everything that is well-defined.
//
// What it checks, beyond the tests' own expectations:
//  - shared memory (static and dynamic) and fresh device memory hold garbage (EMU_FILL, default
//    0xff: NaN patterns) instead of zeros, so reads of unwritten memory show up as wrong results;
//  - a __syncthreads reached from different source lines by different threads, or a barrier
//    that not all threads reach (deadlock; the report lists where each thread waits);
//  - launch configuration errors: block size, grid size, dynamic shared memory above 48 KiB
//    without cudaFuncSetAttribute opt-in, or above the sm_90 opt-in limit (227 KiB);
//  - the schedule (EMU_SCHED) decides how threads interleave between barriers:
//      fwd/rev/rand  lockstep: one step (up to the next barrier) of every thread per pass;
//      wfwd/wrev     warp-serial: each warp runs as far as it can before the next one moves
//                    (forward or reverse warp order); the most skew between warps, so a
//                    missing __syncthreads (read-after-write or write-after-read on shared
//                    memory) yields stale or overwritten values. rand uses EMU_SEED (fixed).
//    rev and wrev also run the blocks of a grid in reverse order, so a block that depends on
//    another block of its launch having run first is seen under one order or the other.
// What it cannot catch: races that no tried schedule exposes (it is not a race detector),
// divergence inside a warp (lanes of a warp are not forced to execute in lockstep), memory
// model effects (caches, weak ordering, atomics visibility across blocks), inter-block
// concurrency (blocks run serially, in one of two orders), out-of-bounds accesses that stay inside
// host memory, device floating-point details (fast-math intrinsics, nvcc's FMA contraction),
// performance.
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "emu.hpp"
#include "emu_internal.hpp"

// Saves the callee-saved registers and the FP control words on the current stack, stores the
// stack pointer in *save_sp and resumes the context saved at new_sp (x86-64 System V).
extern "C" void emu_switch(void** save_sp, void* new_sp);
asm(R"(
.text
.globl emu_switch
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
)");

namespace emu {

const Dim3* cur_tid = nullptr;
Dim3 cur_bidx, cur_bdim, cur_gdim;
int cur_thread = 0;
cudaError_t pending_error = cudaSuccess;
int kernel_errors = 0;

namespace {
constexpr size_t kStack = 256 * 1024;

enum Wait { kNone, kBlock, kWarp };
struct Fiber {
  void* sp = nullptr;
  Dim3 tid;
  bool done = false;
  Wait wait = kNone;
  uint64_t gen = 0;
  int line = 0;
};
// The block being run.
struct Block {
  int n = 0;
  std::vector<Fiber> f;
  void* sched_sp = nullptr;
  int bar_arrived = 0;
  uint64_t bar_gen = 0;
  int bar_line = 0;
  const char* bar_file = nullptr;
  std::vector<int> warp_arrived;
  std::vector<uint64_t> warp_gen;
  std::vector<int> warp_line;
  std::vector<unsigned char> slots;  // [warp][lane][8 bytes]
  const std::function<void()>* body = nullptr;
  unsigned char* dyn = nullptr;
};
Block* B = nullptr;
std::vector<char*> stacks;
std::vector<std::pair<void*, size_t>> shared_vars;
std::set<std::string> warned;

enum Sched { kFwd, kRev, kRand, kWarpFwd, kWarpRev };
struct Config {
  unsigned char fill = 0xff;
  Sched sched = kFwd;
  std::mt19937 rng{12345};
  Config() {
    if (const char* e = std::getenv("EMU_FILL"))
      fill = static_cast<unsigned char>(std::strtoul(e, nullptr, 0));
    if (const char* e = std::getenv("EMU_SCHED")) {
      const std::string s = e;
      if (s == "fwd")
        sched = kFwd;
      else if (s == "rev")
        sched = kRev;
      else if (s == "rand")
        sched = kRand;
      else if (s == "wfwd")
        sched = kWarpFwd;
      else if (s == "wrev")
        sched = kWarpRev;
      else {
        std::fprintf(stderr, "emu: unknown EMU_SCHED=%s (fwd|rev|rand|wfwd|wrev)\n", e);
        std::exit(2);
      }
    }
    if (const char* e = std::getenv("EMU_SEED")) rng.seed(std::strtoul(e, nullptr, 0));
  }
};
Config& config() {
  static Config c;
  return c;
}

Fiber& cur() {
  return B->f[static_cast<size_t>(cur_thread)];
}
void yield_to_sched() {
  emu_switch(&cur().sp, B->sched_sp);
}
void entry() {
  (*B->body)();
  cur().done = true;
  emu_switch(&cur().sp, B->sched_sp);
  std::abort();  // a finished fiber is never resumed
}
// Reports a problem once per key (the sites involved), not once per thread.
void warn_once(const std::string& key, const std::string& msg, bool is_fault) {
  if (!warned.insert(key).second) return;
  if (is_fault)
    kernel_fault(msg.c_str());
  else
    std::fprintf(stderr, "emu: warning: %s\n", msg.c_str());
}
}  // namespace

__attribute__((no_sanitize_address)) void garbage(void* p, size_t n) {
  std::memset(p, config().fill, n);
}

void kernel_fault(const char* what) {
  std::fprintf(stderr, "emu: KERNEL ERROR: %s\n", what);
  ++kernel_errors;
  if (pending_error == cudaSuccess) pending_error = cudaErrorLaunchFailure;
}

void* shfl_slot(int lane) {
  return &B->slots[static_cast<size_t>(((cur_thread >> 5) * 32 + lane) * 8)];
}
void* dyn_smem() {
  return B->dyn;
}
int reg_shared(void* p, size_t n) {
  shared_vars.emplace_back(p, n);
  garbage(p, n);
  return 0;
}

void syncthreads(const char* file, int line) {
  Fiber& f = cur();
  f.line = line;
  if (B->bar_arrived == 0) {
    B->bar_line = line;
    B->bar_file = file;
  } else if (B->bar_line != line || std::strcmp(B->bar_file, file) != 0) {
    const std::string sites = std::string(file) + ":" + std::to_string(line) + " / " + B->bar_file +
                              ":" + std::to_string(B->bar_line);
    warn_once(sites,
              "block (" + std::to_string(cur_bidx.x) + "," + std::to_string(cur_bidx.y) + "," +
                  std::to_string(cur_bidx.z) + "): thread " + std::to_string(cur_thread) +
                  " reached __syncthreads at " + file + ":" + std::to_string(line) +
                  " while others wait at " + B->bar_file + ":" + std::to_string(B->bar_line) +
                  " (divergent barrier; reported once per pair of sites)",
              true);
  }
  if (++B->bar_arrived == B->n) {  // the last one releases the others
    B->bar_arrived = 0;
    ++B->bar_gen;
    return;
  }
  f.wait = kBlock;
  f.gen = B->bar_gen;
  yield_to_sched();
}

void warp_sync(const char* file, int line, unsigned mask) {
  if (mask != 0xffffffffu) {
    std::fprintf(stderr, "emu: %s:%d: partial warp mask not emulated\n", file, line);
    std::abort();
  }
  const size_t w = static_cast<size_t>(cur_thread >> 5);
  Fiber& f = cur();
  f.line = line;
  if (B->warp_arrived[w] == 0) {
    B->warp_line[w] = line;
  } else if (B->warp_line[w] != line) {
    warn_once(std::string(file) + ":" + std::to_string(line) + " / warp line " +
                  std::to_string(B->warp_line[w]),
              "warp " + std::to_string(w) + " lanes meet at different warp-sync sites " + file +
                  ":" + std::to_string(line) + " / line " + std::to_string(B->warp_line[w]),
              false);
  }
  if (++B->warp_arrived[w] == 32) {
    B->warp_arrived[w] = 0;
    ++B->warp_gen[w];
    return;
  }
  f.wait = kWarp;
  f.gen = B->warp_gen[w];
  yield_to_sched();
}

void run_grid(const char* name, dim3 grid, dim3 block, size_t smem,
              const std::function<void()>& body) {
  Config& cfg = config();
  Block blk;
  B = &blk;
  B->n = static_cast<int>(block.x * block.y * block.z);
  if (B->n % 32 != 0) {
    std::fprintf(stderr,
                 "emu: launch of %s: block of %d threads is not whole warps (not emulated)\n", name,
                 B->n);
    std::abort();
  }
  B->body = &body;
  cur_gdim = {grid.x, grid.y, grid.z};
  cur_bdim = {block.x, block.y, block.z};
  const size_t n = static_cast<size_t>(B->n), nw = n / 32;
  B->warp_arrived.assign(nw, 0);
  B->warp_gen.assign(nw, 0);
  B->warp_line.assign(nw, 0);
  B->slots.assign(nw * 32 * 8, 0);
  // Exactly smem bytes (so a sanitizer sees any access past them), 128-byte aligned.
  void* dyn_raw = nullptr;
  if (smem && posix_memalign(&dyn_raw, 128, smem) != 0) std::abort();
  std::unique_ptr<unsigned char, void (*)(void*)> dyn(static_cast<unsigned char*>(dyn_raw),
                                                      std::free);
  while (stacks.size() < n) {
    void* p = mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) std::abort();
    mprotect(p, 4096, PROT_NONE);  // guard page: a stack overflow faults instead of corrupting
    stacks.push_back(static_cast<char*>(p));
  }
  const bool reverse = cfg.sched == kRev || cfg.sched == kWarpRev;
  const bool warp_serial = cfg.sched == kWarpFwd || cfg.sched == kWarpRev;
  std::vector<int> order(n);
  for (int i = 0; i < B->n; ++i) order[static_cast<size_t>(i)] = reverse ? B->n - 1 - i : i;

  // The reverse schedules also run the grid's blocks last to first: a GPU runs blocks in no
  // order, so a kernel whose block reads what another block of the same launch writes (without
  // an atomic hand-off) gets different data one way round.
  auto coord = [reverse](unsigned i, unsigned extent) { return reverse ? extent - 1 - i : i; };
  for (unsigned bz0 = 0; bz0 < grid.z; ++bz0)
    for (unsigned by0 = 0; by0 < grid.y; ++by0)
      for (unsigned bx0 = 0; bx0 < grid.x; ++bx0) {
        const unsigned bx = coord(bx0, grid.x), by = coord(by0, grid.y), bz = coord(bz0, grid.z);
        cur_bidx = {bx, by, bz};
        // Shared memory holds garbage at block start, as on the device.
        for (auto& [p, len] : shared_vars) garbage(p, len);
        if (smem) garbage(dyn.get(), smem);
        B->dyn = dyn.get();
        B->bar_arrived = 0;
        std::fill(B->warp_arrived.begin(), B->warp_arrived.end(), 0);
        B->f.assign(n, Fiber{});
        for (size_t t = 0; t < n; ++t) {
          Fiber& f = B->f[t];
          f.tid.x = static_cast<unsigned>(t) % block.x;
          f.tid.y = static_cast<unsigned>(t) / block.x % block.y;
          f.tid.z = static_cast<unsigned>(t) / (block.x * block.y);
          // Initial frame for emu_switch: control words, six zeroed registers, entry().
          uintptr_t top = reinterpret_cast<uintptr_t>(stacks[t] + kStack) & ~uintptr_t(15);
          uint64_t* p = reinterpret_cast<uint64_t*>(top) - 2;
          p[0] = reinterpret_cast<uint64_t>(&entry);
          p -= 6;
          std::fill(p, p + 6, 0);
          p -= 1;
          const uint32_t ctl[2] = {0x1F80u, 0x037Fu};
          std::memcpy(p, ctl, 8);
          f.sp = p;
        }
        int remaining = B->n;
        // Runs thread t until it waits or exits; false when it cannot move.
        auto step = [&](int t) {
          Fiber& f = B->f[static_cast<size_t>(t)];
          if (f.done) return false;
          if (f.wait == kBlock && f.gen == B->bar_gen) return false;
          if (f.wait == kWarp && f.gen == B->warp_gen[static_cast<size_t>(t >> 5)]) return false;
          f.wait = kNone;
          cur_thread = t;
          cur_tid = &f.tid;
          emu_switch(&B->sched_sp, f.sp);
          if (f.done) --remaining;
          return true;
        };
        while (remaining > 0) {
          bool progress = false;
          if (warp_serial) {
            for (int w0 = 0; w0 < B->n / 32; ++w0) {
              const int w = reverse ? B->n / 32 - 1 - w0 : w0;
              for (bool again = true; again;) {
                again = false;
                for (int l0 = 0; l0 < 32; ++l0)
                  if (step(w * 32 + (reverse ? 31 - l0 : l0))) again = progress = true;
              }
            }
          } else {
            if (cfg.sched == kRand) std::shuffle(order.begin(), order.end(), cfg.rng);
            for (int t : order) progress |= step(t);
          }
          if (progress) continue;
          int exited = 0, at_bar = 0, at_warp = 0;
          std::string where;
          for (int t = 0; t < B->n; ++t) {
            const Fiber& f = B->f[static_cast<size_t>(t)];
            if (f.done) {
              ++exited;
              continue;
            }
            (f.wait == kBlock ? at_bar : at_warp)++;
            if (where.size() < 400)
              where += " t" + std::to_string(t) + (f.wait == kBlock ? "@sync:" : "@warp:") +
                       std::to_string(f.line);
          }
          kernel_fault((std::string(name) + " block (" + std::to_string(bx) + "," +
                        std::to_string(by) + "," + std::to_string(bz) +
                        "): deadlock: " + std::to_string(exited) + " threads exited, " +
                        std::to_string(at_bar) + " wait at __syncthreads, " +
                        std::to_string(at_warp) + " at a warp sync:" + where)
                           .c_str());
          B = nullptr;  // abandon the fibers and the rest of the grid
          return;
        }
      }
  B = nullptr;
}

}  // namespace emu
