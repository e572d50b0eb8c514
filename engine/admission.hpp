// Whether a request can run: ok (now), later (when blocks or sequence slots free up) or never
// (it cannot fit even alone). The one place that answers it: add_request refuses "never" up
// front, and the scheduler admits only on "ok", so a request it takes can always finish once it
// runs alone.
#pragma once

#include <string>

#include "engine/kv_cache.hpp"
#include "engine/model_config.hpp"
#include "engine/scheduler.hpp"

namespace precis::engine {

enum class Admission { ok, later, never };

struct AdmissionDecision {
  Admission verdict = Admission::ok;
  std::string reason;  // why not, naming the limit and the setting that raises it
};

// What a request asks of the engine at most: `prompt_len` tokens, up to `max_output` more per
// sequence, in a group of `group_size` sequences (n / best_of samples or beam_width beams) that
// share the prompt's KV blocks and are scheduled and preempted together.
struct AdmissionShape {
  int prompt_len = 0;
  int max_output = 0;
  int group_size = 1;
};

// The KV blocks the group holds at most when it runs alone: the prompt's full blocks once, and
// each sequence's own blocks from the last shared one to the end of its output.
int worst_case_blocks(const AdmissionShape& shape, int block_size);

// "never" when the prompt exceeds the model's context window (leaving no position to generate
// into, when it generates) or the group alone exceeds the KV
// cache; else "ok". Checked once, when the request is added. (A group larger than one step's
// limits still runs: its sequences are then spread over several steps.)
AdmissionDecision check_fits(const AdmissionShape& shape, const ModelConfig& config,
                             const KvCacheManager& kv);

// Whether a waiting group may start now ("ok"), must wait ("later"), or never will ("never":
// nobody else holds a block and its first chunk still does not fit; a logic error once
// check_fits has passed, reported rather than spun on). `blocks` is what its first chunk needs
// beyond the `held` blocks it already found in the prefix cache; `sequences` is how many
// sequences would run with its first one admitted (the rest of a group follows regardless).
AdmissionDecision check_start(int blocks, int held, const KvCacheManager& kv, int sequences,
                              const SchedulerConfig& limits);

}  // namespace precis::engine
