// Helpers shared by the compression tests: prompts cut from the shipped corpus, the tokenizer of
// a cached tiny model, and an independent UTF-8 validator.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer.hpp"
#include "tests/test_support.hpp"

namespace precis::test {

inline const std::string& corpus_text() {
  static const std::string text = [] {
    std::ifstream in(std::string(PRECIS_SOURCE_DIR) + "/data/corpus/kjv_excerpt.txt");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }();
  return text;
}

// The corpus tokenizer (trained on kjv_excerpt.txt) of the cached tiny model.
inline const engine::Tokenizer& corpus_tokenizer() {
  static const std::unique_ptr<engine::Tokenizer> tok =
      engine::Tokenizer::load(cached_model("tiny", 1, engine::DType::F32) + "/tokenizer.model");
  return *tok;
}

inline std::string llama2_tokenizer_path() {
  return std::string(PRECIS_SHARED_DIR) + "/fixtures/llama2-tokenizer/tokenizer.model";
}

// About `tokens` tokens of corpus verses starting at line `first_line`, a blank line after every
// `para` verses so that the prompt has several contexts.
inline std::string corpus_prompt(const engine::Tokenizer& tok, int tokens, int first_line,
                                 int para = 5) {
  std::istringstream in(corpus_text());
  std::string line, out;
  for (int i = 0; i < first_line && std::getline(in, line);) {
    if (!line.empty()) ++i;
  }
  int n = 0, verses = 0;
  while (n < tokens && std::getline(in, line)) {
    if (line.empty()) continue;
    if (!out.empty()) out += (verses % para == 0) ? "\n\n" : "\n";
    out += line;
    ++verses;
    n = static_cast<int>(tok.encode(out, false).size());
  }
  // Trim words off the end to land close to the wanted size.
  while (n > tokens) {
    const size_t sp = out.find_last_of(' ');
    if (sp == std::string::npos) break;
    out.resize(sp);
    n = static_cast<int>(tok.encode(out, false).size());
  }
  return out;
}

// Written from the UTF-8 definition (RFC 3629), independently of compress/utf8_text.
inline bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c >> 5) == 0x6) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c >> 4) == 0xE) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c >> 3) == 0x1E) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace precis::test
