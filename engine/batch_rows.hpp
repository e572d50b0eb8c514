// A forward batch flattened into rows, one per new token, and validated the same way for every
// backend: each row's token, sequence and position, and the rows whose logits are wanted.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "engine/backend.hpp"

namespace precis::engine {

struct BatchRows {
  std::vector<int> tokens;
  std::vector<int> row_seq;   // index into the batch
  std::vector<int> pos;       // position in its sequence
  std::vector<int> out_rows;  // rows with logits: each sequence's past skipped_logits_rows
  size_t max_blocks = 0;      // longest block table
  bool all_single = false;    // every sequence has exactly one new token (decode)
};

// How many leading new tokens of b give no logits row: all but the last, or with all_logits those
// below logits_from (never the last, whose row the next token's log-prob needs). b has tokens.
int skipped_logits_rows(const BatchSequence& b);

// Throws std::logic_error when a block table does not cover its sequence's new tokens, and
// std::out_of_range for a token id outside [0, vocab_size).
BatchRows flatten_rows(std::span<const BatchSequence> batch, int block_size, int vocab_size);

}  // namespace precis::engine
