// Byte-level BPE, tokenizer.json loading, pre-tokenizer regexes and the GGUF "llama" vocabulary
// tokenizer, each checked against the real thing: ids from Hugging Face `tokenizers` for
// SmolLM2's vocabulary (tests/data/smollm2_tokenizer*.json, written by
// tests/reference/make_tokenizer_fixture.py) and the SentencePiece library on Llama 2's
// tokenizer.model (../shared/fixtures).
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/bpe_tokenizer.hpp"
#include "engine/load_error.hpp"
#include "engine/pretokenizer.hpp"
#include "engine/sentencepiece_tokenizer.hpp"
#include "engine/spm_vocab_tokenizer.hpp"
#include "engine/tokenizer.hpp"
#include "engine/tokenizer_json.hpp"
#include "engine/utf8.hpp"
#include "tests/test_support.hpp"

using namespace precis::engine;
using nlohmann::json;

namespace {

std::string data_path(const std::string& name) {
  return std::string(PRECIS_SOURCE_DIR) + "/tests/data/" + name;
}

std::string llama2_tokenizer() {
  return std::string(PRECIS_SHARED_DIR) + "/fixtures/llama2-tokenizer/tokenizer.model";
}

const json& expected() {
  static const json j = [] {
    std::ifstream in(data_path("smollm2_tokenizer_expected.json"), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
  }();
  return j;
}

const Tokenizer& smollm2() {
  static const std::unique_ptr<Tokenizer> tok =
      Tokenizer::load(data_path("smollm2_tokenizer.json"));
  return *tok;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

// Streams token_bytes as a server does: only whole characters go out. Returns what went out;
// `all_valid` is false if a chunk was not valid UTF-8.
std::string stream(const Tokenizer& tok, const std::vector<int>& ids, bool& all_valid,
                   int& split_tokens) {
  std::string pending;
  std::string out;
  for (int id : ids) {
    const std::string b = tok.token_bytes(id);
    if (!valid_utf8(b)) ++split_tokens;
    pending += b;
    const size_t n = complete_utf8_prefix(pending);
    if (!valid_utf8(std::string_view(pending).substr(0, n))) all_valid = false;
    out += pending.substr(0, n);
    pending.erase(0, n);
  }
  return out + pending;
}

// The string as a JSON literal, for messages (invalid UTF-8 shown as U+FFFD).
std::string show(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A small but complete byte-level tokenizer.json: every byte's character, a few merges.
json tiny_tokenizer_json() {
  json vocab = json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) vocab[byte_to_unicode(static_cast<unsigned char>(b))] = id++;
  for (const char* t : {"he", "ll", "llo", "hello", "Ġw", "Ġwor", "Ġworld", "or", "ld"}) {
    vocab[t] = id++;
  }
  vocab["<|end|>"] = id++;
  return {
      {"version", "1.0"},
      {"added_tokens", json::array({{{"id", id - 1}, {"content", "<|end|>"}, {"special", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges",
         json::array({"h e", "l l", "ll o", "he llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"})}}},
  };
}

}  // namespace

TEST_CASE("SmolLM2 tokenizer.json: ids identical to Hugging Face tokenizers, exact round trips") {
  const Tokenizer& tok = smollm2();
  const auto& bpe = dynamic_cast<const BpeTokenizer&>(tok);
  CHECK(tok.vocab_size() == 49152);
  CHECK(bpe.pre_tokenizer_name() == "smollm");
  CHECK(expected()["gguf_pre"] == "smollm");
  CHECK_FALSE(tok.adds_bos());

  const json& cases = expected()["cases"];
  REQUIRE(cases.size() > 400);
  size_t identical = 0;
  int split_tokens = 0;
  for (const json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int> want = c["ids"].get<std::vector<int>>();
    INFO("text: " << show(text));
    const std::vector<int> ids = tok.encode(text, false);
    CHECK(ids == want);
    if (ids == want) ++identical;
    CHECK(tok.decode(ids) == text);
    CHECK(tok.encode(text, true) == ids);  // SmolLM2 takes no BOS
    // With parse_special, special tokens written in the text are single ids.
    const std::vector<int> want_special =
        c.contains("special") ? c["special"].get<std::vector<int>>() : want;
    const std::vector<int> special = tok.encode(text, false, true);
    CHECK(special == want_special);
    if (special != want_special) --identical;
    CHECK(tok.decode(special) == text);
    bool all_valid = true;
    CHECK(stream(tok, ids, all_valid, split_tokens) == text);
    CHECK(all_valid);
  }
  CHECK(identical == cases.size());
  // Emoji and CJK characters do get split across tokens, so the streaming check means something.
  CHECK(split_tokens > 0);
  WARN("SmolLM2 BPE: " << identical << "/" << cases.size()
                       << " strings tokenized identically to HF tokenizers");
}

TEST_CASE("special tokens become single ids only when parse_special is on") {
  const Tokenizer& tok = smollm2();
  const int im_start = tok.token_id("<|im_start|>");
  const int im_end = tok.token_id("<|im_end|>");
  CHECK(im_start == 1);
  CHECK(im_end == 2);
  CHECK(tok.token_id("<|no such token|>") == -1);
  CHECK(tok.token_id("Ġthe") >= 0);
  CHECK(tok.piece(tok.token_id("Ġthe")) == "Ġthe");
  CHECK(tok.token_bytes(tok.token_id("Ġthe")) == " the");
  CHECK(tok.is_special(im_start));
  CHECK_FALSE(tok.is_special(tok.token_id("Ġthe")));
  // End of turn and end of text both stop generation; eos comes first.
  const std::vector<int> eos = tok.eos_ids();
  CHECK(eos.front() == tok.eos_id());
  CHECK(std::count(eos.begin(), eos.end(), im_end) == 1);
  CHECK(std::count(eos.begin(), eos.end(), tok.token_id("<|endoftext|>")) == 1);

  const std::string chat = "<|im_start|>user\nhi<|im_end|>";
  const std::vector<int> parsed = tok.encode(chat, false, true);
  CHECK(parsed.front() == im_start);
  CHECK(parsed.back() == im_end);
  const std::vector<int> plain = tok.encode(chat, false, false);
  CHECK(std::count(plain.begin(), plain.end(), im_start) == 0);
  CHECK(std::count(plain.begin(), plain.end(), im_end) == 0);
  CHECK(plain.size() > parsed.size());
  CHECK(tok.decode(parsed) == chat);  // special tokens decode to their text
  CHECK(tok.decode(plain) == chat);

  for (const json& c : expected()["special"]) {
    const std::string text = c["text"].get<std::string>();
    INFO("text: " << show(text));
    CHECK(tok.encode(text, false, true) == c["parse_special"].get<std::vector<int>>());
    CHECK(tok.encode(text, false, false) == c["plain"].get<std::vector<int>>());
  }
}

TEST_CASE("pre-tokenizer regexes cut text as Hugging Face's pre-tokenizers do") {
  const json& pre = expected()["pretokenizer"];
  const auto strings = pre["strings"].get<std::vector<std::string>>();
  for (const char* name : {"gpt2", "llama3", "qwen2", "smollm"}) {
    const auto* regexes = pretokenizer_regexes(name);
    REQUIRE(regexes != nullptr);
    const PreTokenizer p(*regexes);
    const json& want = pre[name];
    REQUIRE(want.size() == strings.size());
    size_t same = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      std::vector<std::string> got;
      for (std::string_view s : p.split(strings[i])) got.emplace_back(s);
      INFO(name << ": " << show(strings[i]));
      CHECK(got == want[i].get<std::vector<std::string>>());
      if (got == want[i].get<std::vector<std::string>>()) ++same;
    }
    CHECK(same == strings.size());
  }
  // The names llama.cpp and GGUF use for the same lists.
  CHECK(pretokenizer_regexes("llama-bpe") == pretokenizer_regexes("llama3"));
  CHECK(pretokenizer_regexes("gpt-2") == pretokenizer_regexes("gpt2"));
  CHECK(*pretokenizer_regexes("starcoder") == *pretokenizer_regexes("smollm"));
  CHECK(pretokenizer_regexes("default")->size() == 4);
  CHECK(pretokenizer_regexes("no-such-pre") == nullptr);
  // llama.cpp's "default": punctuation runs, then GPT-2's pattern, digit runs, groups of three.
  const PreTokenizer def(*pretokenizer_regexes("default"));
  std::vector<std::string> got;
  for (std::string_view s : def.split("Hi, 12345!")) got.emplace_back(s);
  CHECK(got == std::vector<std::string>{"Hi", ",", " ", "123", "45", "!"});
  // Invalid UTF-8 never matches but is kept.
  std::string joined;
  for (std::string_view s : PreTokenizer(*pretokenizer_regexes("gpt2")).split("a\xff\xfe b"))
    joined += s;
  CHECK(joined == "a\xff\xfe b");
  CHECK_THROWS_AS(PreTokenizer({"(unclosed"}), std::invalid_argument);
}

TEST_CASE("BpeData from plain data, as a GGUF reader builds it") {
  BpeData data = read_tokenizer_json(data_path("smollm2_tokenizer.json"));
  CHECK(data.pre_tokenizer == "smollm");
  CHECK(data.tokens.size() == 49152);
  CHECK(data.merges.size() == 48900);
  CHECK(data.types[1] == TokenType::Control);

  // The same vocabulary with the pre-tokenizer named as GGUF names it, merges as "a b" strings.
  BpeData gguf;
  gguf.tokens = data.tokens;
  gguf.types = data.types;
  for (const auto& [a, b] : data.merges) {
    auto m = split_merge(a + " " + b);
    REQUIRE(m.has_value());
    gguf.merges.push_back(*m);
  }
  gguf.pre_tokenizer = "smollm";
  gguf.bos = 1;
  gguf.eos = 2;
  gguf.add_bos = false;
  const BpeTokenizer tok(std::move(gguf));
  CHECK(tok.bos_id() == 1);
  CHECK(tok.eos_id() == 2);
  CHECK(tok.eos_ids().front() == 2);
  for (const json& c : expected()["cases"]) {
    const std::string text = c["text"].get<std::string>();
    INFO("text: " << show(text));
    CHECK(tok.encode(text, false) == c["ids"].get<std::vector<int>>());
    if (c.contains("special")) {
      CHECK(tok.encode(text, false, true) == c["special"].get<std::vector<int>>());
    }
  }

  CHECK(split_merge("Ġ t") == std::make_pair(std::string("Ġ"), std::string("t")));
  CHECK_FALSE(split_merge("nospace").has_value());

  // Data that does not hang together is a LoadError naming its source.
  BpeData bad;
  bad.tokens = {"a", "b", "ab"};
  bad.merges = {{"a", "c"}};
  bad.pre_tokenizer = "gpt2";
  bad.source = "model.gguf";
  CHECK_THROWS_WITH(BpeTokenizer(bad),
                    Catch::Contains("model.gguf") && Catch::Contains("\"c\" is not a token"));
  bad.merges = {{"a", "b"}};
  bad.pre_tokenizer = "no-such-pre";
  CHECK_THROWS_WITH(BpeTokenizer(bad),
                    Catch::Contains("model.gguf") && Catch::Contains("no-such-pre"));
  bad.pre_tokenizer = "gpt2";
  bad.types = {TokenType::Normal};
  CHECK_THROWS_AS(BpeTokenizer(bad), LoadError);
}

TEST_CASE("byte-level BPE: merges by rank, added tokens, prefix space and strip flags") {
  const std::string dir = precis::test::scratch_dir("bpe-tiny");
  const std::string path = dir + "/tokenizer.json";
  json j = tiny_tokenizer_json();
  write_file(path, j.dump());
  const auto tok = Tokenizer::load(path);
  const int hello = tok->token_id("hello");
  const int world = tok->token_id("Ġworld");
  CHECK(tok->encode("hello world", false) == std::vector<int>{hello, world});
  // Unmerged bytes stay single-byte tokens; a byte that is half a character streams raw.
  const auto ids = tok->encode("h\xC3\xA9", false);
  CHECK(ids.size() == 3);
  CHECK(tok->token_bytes(ids[1]) == "\xC3");
  CHECK(tok->decode(ids) == "h\xC3\xA9");
  const int end = tok->token_id("<|end|>");
  CHECK(tok->encode("hello<|end|>", false, true) == std::vector<int>{hello, end});
  CHECK(tok->eos_id() == end);  // found by its spelling: no tokenizer_config.json here
  CHECK(tok->bos_id() == -1);
  CHECK(tok->encode("hello", true) == std::vector<int>{hello});

  // A Llama 3 style post-processor makes a BOS that the model expects.
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", json::array({{{"SpecialToken", {{"id", "<|end|>"}}}},
                                                 {{"Sequence", {{"id", "A"}}}}})}};
  // ByteLevel's add_prefix_space and an rstrip added token.
  j["pre_tokenizer"]["add_prefix_space"] = true;
  j["added_tokens"][0]["rstrip"] = true;
  write_file(path, j.dump());
  const auto tok2 = Tokenizer::load(path);
  CHECK(tok2->adds_bos());
  CHECK(tok2->encode("world", true) == std::vector<int>{end, world});
  CHECK(tok2->encode("<|end|>   world", false, true) == std::vector<int>{end, world});

  // tokenizer_config.json beside the file names bos/eos and whether BOS is added.
  const std::string dir2 = precis::test::scratch_dir("bpe-tiny-config");
  write_file(dir2 + "/tokenizer.json", tiny_tokenizer_json().dump());
  write_file(
      dir2 + "/tokenizer_config.json",
      R"({"bos_token": {"content": "hello"}, "eos_token": "<|end|>", "add_bos_token": true})");
  const auto tok3 = Tokenizer::load(dir2 + "/tokenizer.json");
  CHECK(tok3->bos_id() == hello);
  CHECK(tok3->eos_id() == end);
  CHECK(tok3->encode("world", true) ==
        std::vector<int>{hello, tok3->token_id("w"), tok3->token_id("or"), tok3->token_id("ld")});
  write_file(dir2 + "/tokenizer_config.json", R"({"eos_token": "<|nope|>"})");
  CHECK_THROWS_WITH(Tokenizer::load(dir2 + "/tokenizer.json"),
                    Catch::Contains("tokenizer_config.json") && Catch::Contains("eos_token") &&
                        Catch::Contains("<|nope|>"));
}

TEST_CASE("malformed tokenizer.json files are LoadErrors naming the file and the field") {
  const std::string dir = precis::test::scratch_dir("bad-tokenizer-json");
  const json good = tiny_tokenizer_json();
  int n = 0;
  auto check = [&](const std::string& text, const std::string& field, const std::string& what) {
    const std::string path = dir + "/case" + std::to_string(n++) + ".json";
    write_file(path, text);
    INFO("case " << path << ": " << field);
    CHECK_THROWS_AS(Tokenizer::load(path), LoadError);
    CHECK_THROWS_WITH(Tokenizer::load(path),
                      Catch::Contains(path) && Catch::Contains(field) && Catch::Contains(what));
  };
  check("{ this is not json", "not valid JSON", "");
  check("[1, 2, 3]", "top level", "object");
  json j = good;
  j.erase("model");
  check(j.dump(), "model", "missing");
  j = good;
  j["model"]["type"] = "Unigram";
  check(j.dump(), "model.type", "\"Unigram\" is not supported");
  j = good;
  j["model"]["type"] = "WordPiece";
  check(j.dump(), "model.type", "WordPiece");
  j = good;
  j["model"]["merges"].push_back("h nosuchtoken");
  check(j.dump(), "model.merges[9]", "\"nosuchtoken\" is not in model.vocab");
  j = good;
  j["model"]["merges"].push_back(json::array({"Ġwor", "he"}));
  check(j.dump(), "model.merges[9]", "\"Ġworhe\" is not in model.vocab");
  j = good;
  j["model"]["merges"].push_back(42);
  check(j.dump(), "model.merges[9]", "must be");
  j = good;
  j["model"]["vocab"]["x"] = "seven";
  check(j.dump(), "model.vocab[\"x\"]", "non-negative integer");
  j = good;
  j["model"].erase("vocab");
  check(j.dump(), "model.vocab", "missing");
  j = good;
  j["added_tokens"][0]["id"] = "one";
  check(j.dump(), "added_tokens[0].id", "non-negative integer");
  j = good;
  j["added_tokens"][0].erase("content");
  check(j.dump(), "added_tokens[0].content", "string");
  j = good;
  j["added_tokens"][0]["id"] = 3;  // id 3 is a byte's token in model.vocab
  check(j.dump(), "added_tokens[0]", "model.vocab");
  j = good;
  j["added_tokens"] = "none";
  check(j.dump(), "added_tokens", "array");
  j = good;
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  check(j.dump(), "pre_tokenizer.type", "\"Whitespace\" is not supported");
  j = good;
  j["pre_tokenizer"] = nullptr;
  check(j.dump(), "pre_tokenizer", "ByteLevel");
  j = good;
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array(
           {{{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}},
            {{"type", "ByteLevel"}, {"use_regex", false}}})}};
  check(j.dump(), "pre-tokenizer", "(unclosed");
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  check(j.dump(), "pre_tokenizer.pretokenizers[0].behavior", "Isolated");
  j = good;
  j["normalizer"] = {{"type", "Lowercase"}};
  check(j.dump(), "normalizer.type", "Lowercase");
  j = good;
  j["model"]["byte_fallback"] = true;
  check(j.dump(), "model.byte_fallback", "tokenizer.model");

  // A Split pattern that no name covers is used as it is.
  j = good;
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({{{"type", "Split"}, {"pattern", {{"String", "|"}}}, {"behavior", "Isolated"}},
                    {{"type", "ByteLevel"}, {"use_regex", true}}})}};
  const std::string path = dir + "/custom.json";
  write_file(path, j.dump());
  const auto tok = load_tokenizer_json(path);
  CHECK(tok->pre_tokenizer_name() == "tokenizer.json");
  CHECK(tok->pre_tokenizer().regexes().front() == "\\|");
  CHECK(tok->decode(tok->encode("a|b", false)) == "a|b");
}

TEST_CASE("GGUF llama vocabulary tokenizes exactly as the SentencePiece library (Llama 2)") {
  if (!std::filesystem::exists(llama2_tokenizer())) {
    WARN("skipped: Llama 2 tokenizer fixture missing at " << llama2_tokenizer());
    return;
  }
  const auto sp_tok = SentencePieceTokenizer::load(llama2_tokenizer());
  const sentencepiece::SentencePieceProcessor& sp = sp_tok->processor();
  // Export the vocabulary through the library, as a GGUF converter does.
  SpmData data;
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    data.pieces.push_back(sp.IdToPiece(id));
    data.scores.push_back(sp.GetScore(id));
    TokenType t = TokenType::Normal;
    if (sp.IsUnknown(id)) t = TokenType::Unknown;
    if (sp.IsControl(id)) t = TokenType::Control;
    if (sp.IsUnused(id)) t = TokenType::Unused;
    if (sp.IsByte(id)) t = TokenType::Byte;
    data.types.push_back(t);
  }
  data.bos = sp.bos_id();
  data.eos = sp.eos_id();
  data.add_bos = true;
  data.add_space_prefix = true;
  const SpmVocabTokenizer spm(std::move(data));
  CHECK(spm.vocab_size() == 32000);
  CHECK(spm.encode("Hello world", true) == std::vector<int>{1, 15043, 3186});

  std::vector<std::string> strings;
  for (const json& c : expected()["cases"]) strings.push_back(c["text"].get<std::string>());
  for (const char* s :
       {"<s>", "</s>", "<unk>", "<0x0A>", "\xE2\x96\x81", "a\xE2\x96\x81\xE2\x96\x81 b", "\xff",
        "ab\x80\xC3", "\xF0\x9F\x98", "   ", " leading", "trailing ", "\t\t\tx", "x\r\ny",
        "\xF0\x9F\xA4\x96\xF0\x9F\xA6\x99 robot llama", "supercalifragilisticexpialidocious",
        "\xE0\xB8\x9E\xE0\xB8\xB2\xE0\xB8\xA9\xE0\xB8\xB2\xE0\xB9\x84\xE0\xB8\x97\xE0\xB8\xA2"}) {
    strings.push_back(s);
  }
  size_t identical = 0;
  size_t decoded_same = 0;
  for (const std::string& s : strings) {
    INFO("text: " << show(s));
    std::vector<int> want;
    REQUIRE(sp.Encode(s, &want).ok());
    const std::vector<int> got = spm.encode(s, false);
    CHECK(got == want);
    if (got == want) ++identical;
    CHECK(spm.decode(got) == sp_tok->decode(want));
    if (spm.decode(got) == sp_tok->decode(want)) ++decoded_same;
    CHECK(spm.encode(s, true, true) == sp_tok->encode(s, true, true));
    std::string joined;
    for (int id : got) joined += spm.token_bytes(id);
    std::string joined_sp;
    for (int id : want) joined_sp += sp_tok->token_bytes(id);
    CHECK(joined == joined_sp);
  }
  CHECK(identical == strings.size());
  WARN("Llama 2 SPM: " << identical << "/" << strings.size()
                       << " strings tokenized identically to the SentencePiece library; "
                       << decoded_same << " decoded identically");

  // Decoding odd id sequences as the library does: BOS first, bytes that are not UTF-8, <unk>.
  const std::vector<std::vector<int>> odd = {{1, 15043},
                                             {1, 1, 15043, 2},
                                             {2, 15043},
                                             {0x41 + 3, 15043},
                                             {1, 29871, 15043},
                                             {13, 15043},
                                             {0x0A + 3},
                                             {0xE4 + 3, 0xBD + 3},
                                             {0, 15043, 0},
                                             {15043, 0xFF + 3, 3186},
                                             {}};
  for (const std::vector<int>& ids : odd) CHECK(spm.decode(ids) == sp_tok->decode(ids));

  // parse_special: <s> written in the text is BOS only when asked for.
  CHECK(sp_tok->encode("<s>Hello", false, true) == std::vector<int>{1, 15043});
  CHECK(spm.encode("<s>Hello", false, true) == std::vector<int>{1, 15043});
  CHECK(spm.encode("<s>Hello", false, false) == sp_tok->encode("<s>Hello", false, false));
  CHECK(spm.token_id("<0x0A>") == 13);
  CHECK(spm.token_id("\xE2\x96\x81Hello") == 15043);
  CHECK(spm.token_id("no such piece") == -1);
  CHECK(sp_tok->token_id("\xE2\x96\x81Hello") == 15043);
  CHECK(sp_tok->token_id("no such piece") == -1);
  CHECK(spm.is_special(1));
  CHECK(sp_tok->is_special(2));
  CHECK(spm.eos_ids() == std::vector<int>{2});
}

TEST_CASE("GGUF llama vocabulary: added (user-defined) pieces and byte fallback as the library") {
  // A small BPE model trained here, with user-defined pieces (kept whole, never merged into) and
  // rare characters left to byte fallback; normalization off, as Llama's.
  const std::string dir = precis::test::scratch_dir("spm-trained");
  std::string corpus;
  for (const json& c : expected()["cases"]) corpus += c["text"].get<std::string>() + "\n";
  write_file(dir + "/corpus.txt", corpus);
  const std::vector<std::string> user_defined = {"<tag>", "foo", "@@"};
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + dir + "/corpus.txt --model_prefix=" + dir +
      "/m --model_type=bpe --vocab_size=700 --hard_vocab_limit=false --byte_fallback=true"
      " --character_coverage=0.98 --normalization_rule_name=identity"
      " --remove_extra_whitespaces=false --user_defined_symbols=<tag>,foo,@@"
      " --control_symbols=<ctl> --minloglevel=2");
  REQUIRE(status.ok());
  const auto sp_tok = SentencePieceTokenizer::load(dir + "/m.model");
  const sentencepiece::SentencePieceProcessor& sp = sp_tok->processor();
  SpmData data;
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    data.pieces.push_back(sp.IdToPiece(id));
    data.scores.push_back(sp.GetScore(id));
    TokenType t = TokenType::Normal;
    if (sp.IsUnknown(id)) t = TokenType::Unknown;
    if (sp.IsControl(id)) t = TokenType::Control;
    if (sp.IsUnused(id)) t = TokenType::Unused;
    if (sp.IsByte(id)) t = TokenType::Byte;
    if (std::count(user_defined.begin(), user_defined.end(), data.pieces.back())) {
      t = TokenType::UserDefined;
    }
    data.types.push_back(t);
  }
  data.bos = sp.bos_id();
  data.eos = sp.eos_id();
  const SpmVocabTokenizer spm(std::move(data));
  REQUIRE(spm.token_id("foo") >= 0);
  REQUIRE(spm.token_id("<ctl>") >= 0);

  std::vector<std::string> strings;
  for (const json& c : expected()["cases"]) strings.push_back(c["text"].get<std::string>());
  for (const char* s : {"foo", "foofoo", "food", " foo", "x<tag>y", "<tag><tag>", "@@@", "f oo",
                        "<ctl>", "a <ctl> b"}) {
    strings.push_back(s);
  }
  size_t identical = 0;
  size_t byte_pieces = 0;
  size_t user_pieces = 0;
  for (const std::string& s : strings) {
    INFO("text: " << show(s));
    std::vector<int> want;
    REQUIRE(sp.Encode(s, &want).ok());
    const std::vector<int> got = spm.encode(s, false);
    CHECK(got == want);
    if (got == want) ++identical;
    for (int id : got) {
      byte_pieces += spm.type(id) == TokenType::Byte;
      user_pieces += spm.type(id) == TokenType::UserDefined;
    }
    CHECK(spm.decode(got) == sp_tok->decode(want));
    CHECK(spm.encode(s, false, true) == sp_tok->encode(s, false, true));
  }
  // Both paths were taken.
  CHECK(byte_pieces > 0);
  CHECK(user_pieces > 0);
  CHECK(identical == strings.size());
  WARN("trained SPM with user-defined pieces: " << identical << "/" << strings.size()
                                                << " strings identical to the library");
  CHECK(spm.encode("a <ctl> b", false, true)[2] == spm.token_id("<ctl>"));
}
