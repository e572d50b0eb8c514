#include "engine/admission.hpp"

namespace precis::engine {

int worst_case_blocks(const AdmissionShape& shape, int block_size) {
  const long total = static_cast<long>(shape.prompt_len) + shape.max_output;
  const long shared = shape.prompt_len / block_size;  // full prompt blocks, held once
  const long own = (total + block_size - 1) / block_size - shared;
  const long blocks = shared + static_cast<long>(shape.group_size) * own;
  return blocks > 1'000'000'000L ? 1'000'000'000 : static_cast<int>(blocks);
}

AdmissionDecision check_fits(const AdmissionShape& shape, const ModelConfig& config,
                             const KvCacheManager& kv) {
  const auto never = [](std::string why) { return AdmissionDecision{Admission::never, why}; };
  // A generating request needs a position after its prompt; scoring (no output) may fill the
  // whole window.
  const int room_needed = shape.max_output > 0 ? 1 : 0;
  if (shape.prompt_len + room_needed > config.max_position_embeddings)
    return never("prompt has " + std::to_string(shape.prompt_len) +
                 " tokens; the model's context window is " +
                 std::to_string(config.max_position_embeddings));
  const int bs = kv.block_size();
  const int blocks = worst_case_blocks(shape, bs);
  const int have = kv.allocator().num_blocks();
  if (blocks > have) {
    const long tokens = static_cast<long>(shape.prompt_len) + shape.max_output;
    std::string what =
        "request needs " + std::to_string(tokens) + " tokens of KV cache (prompt + max_tokens)";
    if (shape.group_size > 1)
      what += " in each of " + std::to_string(shape.group_size) + " sequences (" +
              std::to_string(blocks * static_cast<long>(bs)) + " tokens, prompt shared)";
    return never(what + " but the cache holds " + std::to_string(static_cast<long>(have) * bs) +
                 "; raise --kv-cache-mb");
  }
  return {};
}

AdmissionDecision check_start(int blocks, int held, const KvCacheManager& kv, int sequences,
                              const SchedulerConfig& limits) {
  if (sequences > limits.max_num_seqs)
    return {Admission::later, "every sequence slot of a step is taken"};
  if (blocks <= kv.allocator().num_free()) return {};
  if (kv.allocator().num_used() <= held)
    return {Admission::never,
            "a single request needs more KV blocks than the cache has; raise --kv-cache-mb"};
  return {Admission::later, "waiting for KV blocks"};
}

}  // namespace precis::engine
