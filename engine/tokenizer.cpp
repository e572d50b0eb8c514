#include "engine/tokenizer.hpp"

#include <sentencepiece_processor.h>

#include <filesystem>

#include "engine/load_error.hpp"

namespace precis::engine {

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  if (!std::filesystem::exists(path)) throw LoadError(path, "tokenizer file not found");
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto status = t->sp_->Load(path);
  if (!status.ok()) throw LoadError(path, "not a SentencePiece model: " + status.ToString());
  return t;
}

std::vector<int> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> ids;
  if (!text.empty()) {
    auto status = sp_->Encode(text, &ids);
    if (!status.ok()) throw std::runtime_error("tokenizer: " + status.ToString());
  }
  if (add_bos && bos_id() >= 0) ids.insert(ids.begin(), bos_id());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  auto status = sp_->Decode(ids, &out);
  if (!status.ok()) throw std::runtime_error("tokenizer: " + status.ToString());
  return out;
}

std::string Tokenizer::piece(int id) const {
  return sp_->IdToPiece(id);
}

std::string Tokenizer::token_bytes(int id) const {
  if (id < 0 || id >= vocab_size()) return {};
  if (sp_->IsControl(id)) return {};
  if (sp_->IsByte(id)) {
    // Pieces look like "<0x0A>".
    std::string p = sp_->IdToPiece(id);
    return std::string(1, static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
  }
  std::string p = sp_->IdToPiece(id);
  std::string out;
  static const std::string kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's word boundary
  for (size_t i = 0; i < p.size();) {
    if (p.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += p[i++];
    }
  }
  return out;
}

int Tokenizer::vocab_size() const {
  return sp_->GetPieceSize();
}
int Tokenizer::bos_id() const {
  return sp_->bos_id();
}
int Tokenizer::eos_id() const {
  return sp_->eos_id();
}

}  // namespace precis::engine
