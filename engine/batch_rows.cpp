#include "engine/batch_rows.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace precis::engine {

int skipped_logits_rows(const BatchSequence& b) {
  const int n = static_cast<int>(b.tokens.size());
  return b.all_logits ? std::clamp(b.logits_from - b.start_pos, 0, n - 1) : n - 1;
}

BatchRows flatten_rows(std::span<const BatchSequence> batch, int block_size, int vocab_size) {
  BatchRows r;
  r.all_single = !batch.empty();
  for (size_t s = 0; s < batch.size(); ++s) {
    const BatchSequence& b = batch[s];
    const size_t n = b.tokens.size();
    const size_t need_blocks = (b.start_pos + n + block_size - 1) / block_size;
    if (b.block_table.size() < need_blocks)
      throw std::logic_error("block table too short for the batch");
    r.max_blocks = std::max(r.max_blocks, b.block_table.size());
    if (n != 1) r.all_single = false;
    const int skip = skipped_logits_rows(b);
    for (size_t i = 0; i < n; ++i) {
      const int tok = b.tokens[i];
      if (tok < 0 || tok >= vocab_size)
        throw std::out_of_range("token id " + std::to_string(tok) + " outside the vocabulary");
      if (static_cast<int>(i) >= skip) r.out_rows.push_back(static_cast<int>(r.tokens.size()));
      r.tokens.push_back(tok);
      r.row_seq.push_back(static_cast<int>(s));
      r.pos.push_back(b.start_pos + static_cast<int>(i));
    }
  }
  return r;
}

}  // namespace precis::engine
