#include "engine/sentencepiece_tokenizer.hpp"

#include "engine/spm_vocab_tokenizer.hpp"

#include <sentencepiece_processor.h>

#include <filesystem>
#include <stdexcept>

#include "engine/load_error.hpp"

namespace precis::engine {

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::string& path) {
  if (!std::filesystem::exists(path)) throw LoadError(path, "tokenizer file not found");
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto status = t->sp_->Load(path);
  if (!status.ok()) throw LoadError(path, "not a SentencePiece model: " + status.ToString());
  for (int id = 0; id < t->sp_->GetPieceSize(); ++id) {
    if (t->sp_->IsControl(id)) t->control_.add(t->sp_->IdToPiece(id), id);
  }
  return t;
}

std::vector<int> SentencePieceTokenizer::encode_text(std::string_view text,
                                                     bool parse_special) const {
  std::vector<int> ids;
  auto encode_plain = [&](std::string_view plain) {
    if (plain.empty()) return;
    std::vector<int> part;
    auto status = sp_->Encode(plain, &part);
    if (!status.ok()) throw std::runtime_error("tokenizer: " + status.ToString());
    ids.insert(ids.end(), part.begin(), part.end());
  };
  if (!parse_special || control_.empty()) {
    encode_plain(text);
    return ids;
  }
  // Each stretch of plain text is encoded on its own, so it gets SentencePiece's word-boundary
  // prefix, as after a special token in Llama's own tokenizers.
  for (const auto& f : control_.split(text)) {
    if (f.id >= 0) {
      ids.push_back(f.id);
    } else {
      encode_plain(f.text);
    }
  }
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  auto status = sp_->Decode(ids, &out);
  if (!status.ok()) throw std::runtime_error("tokenizer: " + status.ToString());
  return out;
}

std::string SentencePieceTokenizer::piece(int id) const {
  return sp_->IdToPiece(id);
}

std::string SentencePieceTokenizer::token_bytes(int id) const {
  if (id < 0 || id >= vocab_size()) return {};
  if (sp_->IsControl(id)) return {};
  if (sp_->IsByte(id)) {
    // Pieces look like "<0x0A>".
    std::string p = sp_->IdToPiece(id);
    return std::string(1, static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
  }
  return spm_piece_text(sp_->IdToPiece(id));
}

int SentencePieceTokenizer::token_id(std::string_view piece) const {
  const int id = sp_->PieceToId(piece);  // the unknown id when absent
  if (id < 0 || id >= vocab_size() || sp_->IdToPiece(id) != piece) return -1;
  return id;
}

int SentencePieceTokenizer::vocab_size() const {
  return sp_->GetPieceSize();
}
int SentencePieceTokenizer::bos_id() const {
  return sp_->bos_id();
}
int SentencePieceTokenizer::eos_id() const {
  return sp_->eos_id();
}
bool SentencePieceTokenizer::is_special(int id) const {
  return id >= 0 && id < vocab_size() && sp_->IsControl(id);
}

}  // namespace precis::engine
