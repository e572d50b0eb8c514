#include "engine/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>

#include "engine/load_error.hpp"
#include "engine/sentencepiece_tokenizer.hpp"
#include "engine/tokenizer_json.hpp"

namespace precis::engine {

namespace {

// Whether the file reads as JSON: its first non-blank byte is '{'.
bool looks_like_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char c = 0;
  while (in.get(c)) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return c == '{';
  }
  return false;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  if (!std::filesystem::exists(path)) throw LoadError(path, "tokenizer file not found");
  if (std::filesystem::path(path).extension() == ".json" || looks_like_json(path)) {
    return load_tokenizer_json(path);
  }
  return SentencePieceTokenizer::load(path);
}

std::vector<int> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int> ids;
  if (add_bos && adds_bos() && bos_id() >= 0) ids.push_back(bos_id());
  std::vector<int> body = encode_text(text, parse_special);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

std::vector<int> Tokenizer::eos_ids() const {
  if (eos_id() < 0) return {};
  return {eos_id()};
}

void TokenMatcher::add(std::string_view text, int id, bool lstrip, bool rstrip) {
  if (text.empty()) return;
  int node = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    auto it = nodes_[node].next.find(c);
    if (it == nodes_[node].next.end()) {
      nodes_.emplace_back();
      it = nodes_[node].next.emplace(c, static_cast<int>(nodes_.size()) - 1).first;
    }
    node = it->second;
  }
  nodes_[node].id = id;
  nodes_[node].lstrip = lstrip;
  nodes_[node].rstrip = rstrip;
}

std::vector<TokenMatcher::Fragment> TokenMatcher::split(std::string_view text) const {
  std::vector<Fragment> out;
  size_t plain_start = 0;  // start of the plain text not yet emitted
  size_t i = 0;
  while (i < text.size()) {
    // The longest token starting at i.
    int node = 0;
    int best = -1;
    size_t best_len = 0;
    for (size_t j = i; j < text.size(); ++j) {
      auto it = nodes_[node].next.find(static_cast<unsigned char>(text[j]));
      if (it == nodes_[node].next.end()) break;
      node = it->second;
      if (nodes_[node].id >= 0) {
        best = node;
        best_len = j + 1 - i;
      }
    }
    if (best < 0) {
      ++i;
      continue;
    }
    size_t start = i;
    size_t end = i + best_len;
    if (nodes_[best].lstrip) {
      while (start > plain_start && is_space(text[start - 1])) --start;
    }
    if (nodes_[best].rstrip) {
      while (end < text.size() && is_space(text[end])) ++end;
    }
    if (start > plain_start) out.push_back({text.substr(plain_start, start - plain_start), -1});
    out.push_back({text.substr(start, end - start), nodes_[best].id});
    plain_start = i = end;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
  return out;
}

bool is_end_of_generation_text(std::string_view text) {
  static constexpr std::array<std::string_view, 14> kEnd = {"</s>",
                                                            "<|endoftext|>",
                                                            "<|im_end|>",
                                                            "<|eot_id|>",
                                                            "<|eom_id|>",
                                                            "<|end|>",
                                                            "<end_of_turn>",
                                                            "<|end_of_text|>",
                                                            "<EOT>",
                                                            "<|return|>",
                                                            "<|eot|>",
                                                            "<|END_OF_TURN_TOKEN|>",
                                                            "<｜end▁of▁sentence｜>",
                                                            "<|endofturn|>"};
  return std::find(kEnd.begin(), kEnd.end(), text) != kEnd.end();
}

}  // namespace precis::engine
