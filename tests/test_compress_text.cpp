// Text handling: tokens grouped into whole words / CJK characters, offsets that match the text,
// valid UTF-8 out for any bytes in, Chinese with the real Llama 2 tokenizer.
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>

#include "compress/text_units.hpp"
#include "compress/utf8_text.hpp"
#include "precis/compress.hpp"
#include "tests/test_compress_support.hpp"

using namespace precis::compression;
using precis::CompressOptions;
using precis::test::corpus_tokenizer;
using precis::test::valid_utf8;

TEST_CASE("test validator and library agree on UTF-8 validity") {
  CHECK(valid_utf8("plain ascii"));
  CHECK(valid_utf8("\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x99"));
  CHECK(!valid_utf8("\xE4\xBD"));          // truncated
  CHECK(!valid_utf8("\xC0\xAF"));          // overlong
  CHECK(!valid_utf8("\xED\xA0\x80"));      // surrogate
  CHECK(!valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 12, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    CHECK(valid_utf8(s) == is_valid_utf8(s));
    CHECK(valid_utf8(sanitize_utf8(s)));
    if (valid_utf8(s)) CHECK(sanitize_utf8(s) == s);
  }
}

TEST_CASE("units cover the text, start on character boundaries and keep words whole") {
  const auto& tok = corpus_tokenizer();
  const std::string text =
      "  And the LORD's well-known firmament, 3.14 times;\n\nit was \"good\" (very)!  End.";
  const TokenizedText t = tokenize_aligned(tok, text);
  REQUIRE(t.offsets.size() == t.ids.size() + 1);
  CHECK(t.offsets.front() == 0);
  CHECK(t.offsets.back() == text.size());
  for (size_t k = 0; k + 1 < t.offsets.size(); ++k) CHECK(t.offsets[k] <= t.offsets[k + 1]);
  const auto units = group_units(t);
  std::vector<std::string> cores;
  for (size_t u = 0; u < units.size(); ++u) {
    CHECK(units[u].begin <= units[u].core);
    CHECK(units[u].core <= units[u].end);
    if (u > 0) CHECK(units[u].begin == units[u - 1].end);
    cores.push_back(text.substr(units[u].core, units[u].end - units[u].core));
  }
  CHECK(units.back().end == text.size());
  for (const char* w : {"LORD's", "well-known", "firmament", "3.14", "good", "End"})
    CHECK(std::find(cores.begin(), cores.end(), w) != cores.end());
  // Keeping everything gives the text back exactly.
  CHECK(join_units(text, units, std::vector<char>(units.size(), 1)) == text);
}

TEST_CASE("joining keeps spacing sensible") {
  const auto& tok = corpus_tokenizer();
  const std::string text = "Alpha beta gamma.\nDelta \"epsilon\" zeta";
  const TokenizedText t = tokenize_aligned(tok, text);
  const auto units = group_units(t);
  std::vector<char> kept(units.size(), 1);
  for (size_t u = 0; u < units.size(); ++u) {
    const std::string core = text.substr(units[u].core, units[u].end - units[u].core);
    if (core == "beta" || core == "Delta" || core == "\"") kept[u] = 0;
  }
  // The line break of the dropped "Delta" survives; words never glue; no double spaces.
  CHECK(join_units(text, units, kept) == "Alpha gamma.\nepsilon zeta");
}

TEST_CASE("random bytes in, valid UTF-8 out") {
  const auto& tok = corpus_tokenizer();
  std::mt19937 rng(12345);
  const std::string alphabet[] = {
      "a", "b", " ", "\n", ".", "\xE4\xB8\xAD", "\xC3\xA9", "\xF0\x9F\x98\x80", "7", ","};
  for (int trial = 0; trial < 300; ++trial) {
    std::string s;
    const int len = 1 + static_cast<int>(rng() % 200);
    for (int i = 0; i < len; ++i) {
      // Half random bytes (often invalid), half valid pieces, so both paths get exercised.
      if (rng() % 2)
        s += static_cast<char>(rng() % 256);
      else
        s += alphabet[rng() % 10];
    }
    CompressOptions o;
    o.rate = 0.1 + 0.8 * (rng() % 100) / 100.0;
    o.keep_structure = trial % 3 == 0;
    const auto r = precis::compress(s, o, tok);
    INFO("trial " << trial);
    CHECK(valid_utf8(r.text));
    CHECK(r.kept.size() == r.pieces.size());
  }
}

TEST_CASE("Chinese with the Llama 2 tokenizer: whole characters, 。 kept, budget met") {
  if (!std::filesystem::exists(precis::test::llama2_tokenizer_path())) {
    WARN("skipped: Llama 2 tokenizer fixture missing at " << precis::test::llama2_tokenizer_path());
    return;
  }
  const auto tok = precis::engine::Tokenizer::load(precis::test::llama2_tokenizer_path());
  // Genesis 1:1-5 in Chinese (Chinese Union Version, public domain), repeated with variations.
  const std::string verse =
      "起初，神创造天地。地是空虚混沌，渊面黑暗；神的灵运行在水面上。神说：要有光，就有了光。"
      "神看光是好的，就把光暗分开了。神称光为昼，称暗为夜。有晚上，有早晨，这是头一日。";
  std::string prompt;
  for (int i = 0; i < 8; ++i) prompt += verse + (i % 3 == 2 ? "\n\n" : "\n");
  const auto count = [](const std::string& s, const std::string& w) {
    int n = 0;
    for (size_t i = s.find(w); i != std::string::npos; i = s.find(w, i + 1)) ++n;
    return n;
  };
  for (double rate : {0.2, 0.5, 0.8}) {
    CompressOptions o;
    o.rate = rate;
    o.context_level_slack = 0.0;  // sentence ends are a fine-level guarantee: keep all contexts
    const auto r = precis::compress(prompt, o, *tok);
    INFO("rate " << rate << ": " << r.text);
    CHECK(valid_utf8(r.text));
    CHECK(count(r.text, "。") == count(prompt, "。"));
    CHECK(r.note.empty());
    const int target = static_cast<int>(std::lround(rate * r.original_tokens));
    CHECK(std::abs(r.compressed_tokens - target) <= std::max(1.0, 0.05 * target));
    // Every character of the output is a character of the input, in order (nothing split or
    // invented).
    size_t at = 0;
    for (size_t i = 0; i < r.text.size();) {
      size_t len;
      decode_utf8(r.text, i, &len);
      const std::string ch = r.text.substr(i, len);
      if (ch != "\n") {
        at = prompt.find(ch, at);
        REQUIRE(at != std::string::npos);
        at += len;
      }
      i += len;
    }
  }
}
