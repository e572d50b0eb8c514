// The stat scorer and the coarse ranker order text sensibly: function words below content
// words, and the context holding the question's rare terms first.
#include <catch2/catch.hpp>

#include "compress/context_ranker.hpp"
#include "compress/corpus_stats.hpp"
#include "compress/stat_scorer.hpp"
#include "compress/text_units.hpp"
#include "tests/test_compress_support.hpp"

using namespace precis::compression;
using precis::test::corpus_tokenizer;

TEST_CASE("corpus prior: function words are the least informative") {
  const CorpusStats& c = CorpusStats::get();
  CHECK(c.vocabulary() > 1000);  // the shipped corpus was found and read
  for (const char* stop : {"the", "and", "of", "to", "in", "that"})
    for (const char* content : {"firmament", "famine", "pharaoh", "vineyard", "computer"})
      CHECK(c.self_information(stop) < c.self_information(content));
  CHECK(c.self_information("zyzzogeton") == c.max_information());
}

TEST_CASE("stat ranks stopwords below content words") {
  const auto& tok = corpus_tokenizer();
  const std::string text =
      "And the famine was sore in the land of Canaan. And it came to pass, when they had eaten "
      "up the corn which they had brought out of Egypt, that their father said unto them, Go "
      "again, buy us a little food. And Judah spake unto him, saying, The man did solemnly "
      "protest unto us.";
  const TokenizedText t = tokenize_aligned(tok, text);
  const auto units = group_units(t);
  const auto scores = stat_unit_scores(t, units, "");
  double stop_max = -1e9, content_min = 1e9;
  for (size_t u = 0; u < units.size(); ++u) {
    const std::string w = text.substr(units[u].core, units[u].end - units[u].core);
    if (w == "the" || w == "and" || w == "of" || w == "in" || w == "to" || w == "that" ||
        w == "it" || w == "they")
      stop_max = std::max(stop_max, scores[u]);
    if (w == "famine" || w == "Canaan" || w == "Egypt" || w == "corn" || w == "Judah" ||
        w == "food" || w == "protest")
      content_min = std::min(content_min, scores[u]);
  }
  CHECK(stop_max < content_min);
}

TEST_CASE("stat question-aware coarse ranking puts the context with the rare terms first") {
  const std::vector<std::string> contexts = {
      "And the evening and the morning were the third day. And God saw that it was good.",
      "And God said unto Noah, Make thee an ark of gopher wood; rooms shalt thou make in the ark.",
      "And the earth was without form, and void; and darkness was upon the face of the deep.",
      "And God blessed them, and God said unto them, Be fruitful, and multiply.",
  };
  const auto s = rank_contexts_stat(contexts, "What wood was the ark made of?");
  for (size_t i = 0; i < s.size(); ++i)
    if (i != 1) CHECK(s[1] > s[i]);
  // Without a question: density, so a context of function words ranks below a dense one.
  const auto d =
      rank_contexts_stat({"and it was so and it was that", "gopher wood ark rooms pitch"}, "");
  CHECK(d[1] > d[0]);
}

TEST_CASE("choose_dropped_contexts: lowest first, respects pins, the floor and the last one") {
  const std::vector<double> score = {0.5, 0.1, 0.9, 0.3};
  const std::vector<int> tokens = {100, 100, 100, 100};
  std::vector<char> droppable = {1, 1, 1, 1};
  CHECK(choose_dropped_contexts(score, tokens, droppable, 250, 0) == std::vector<int>{1, 3});
  droppable[1] = 0;
  CHECK(choose_dropped_contexts(score, tokens, droppable, 250, 0) == std::vector<int>{0, 3});
  CHECK(choose_dropped_contexts(score, tokens, {1, 1, 1, 1}, 0, -1e9) == std::vector<int>{0, 1, 3});
  // Dropping below the floor (the budget) is not allowed.
  CHECK(choose_dropped_contexts(score, tokens, {1, 1, 1, 1}, 150, 250) == std::vector<int>{1});
}
