// The SentencePiece wrapper, on the real Llama 2 tokenizer from ../shared/fixtures.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "engine/load_error.hpp"
#include "engine/tokenizer.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;

namespace {

std::string llama2_tokenizer() {
  return std::string(PRECIS_SHARED_DIR) + "/fixtures/llama2-tokenizer/tokenizer.model";
}

}  // namespace

TEST_CASE("Llama 2 tokenizer: ids, special tokens and round trips") {
  if (!std::filesystem::exists(llama2_tokenizer())) {
    WARN("skipped: Llama 2 tokenizer fixture missing at " << llama2_tokenizer());
    return;
  }
  auto tok = Tokenizer::load(llama2_tokenizer());
  CHECK(tok->vocab_size() == 32000);
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);
  // Ids as published with Llama 2 ("▁Hello" 15043, "▁world" 3186).
  CHECK(tok->encode("Hello world", true) == std::vector<int>{1, 15043, 3186});
  CHECK(tok->piece(15043) == "\xE2\x96\x81Hello");
  for (std::string text :
       {"In the beginning God created the heaven and the earth.",
        "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xE3\x80\x82",
        "emoji \xF0\x9F\xA6\x99 and code: for (int i = 0; i < n; ++i) {}"}) {
    auto ids = tok->encode(text, false);
    CHECK(tok->decode(ids) == text);
    // Streaming pieces: concatenated token bytes give the text back, with SentencePiece's
    // leading word-boundary space.
    std::string joined;
    for (int id : ids) joined += tok->token_bytes(id);
    CHECK(joined == " " + text);
  }
}

TEST_CASE("a file that is not a SentencePiece model is rejected with its name") {
  const std::string dir = precis::test::scratch_dir("bad-tokenizer");
  const std::string path = dir + "/tokenizer.model";
  std::ofstream(path) << "this is not a protobuf";
  CHECK_THROWS_WITH(Tokenizer::load(path), Catch::Contains(path));
  CHECK_THROWS_WITH(Tokenizer::load(dir + "/missing.model"), Catch::Contains("missing.model"));
}
