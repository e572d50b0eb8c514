#include "compress/corpus_stats.hpp"

#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "compress/utf8_text.hpp"
#include "engine/data_root.hpp"

namespace precis::compression {

namespace {

// Modern English function words: the corpus is 17th-century English, so some of them are rarer
// there than in today's prompts.
const std::unordered_set<std::string_view>& stopwords() {
  static const std::unordered_set<std::string_view> words = {
      "a",     "an",    "the",   "and",   "or",    "but",     "if",    "then",  "so",     "of",
      "to",    "in",    "on",    "at",    "by",    "for",     "with",  "from",  "as",     "into",
      "onto",  "about", "over",  "under", "than",  "that",    "this",  "these", "those",  "it",
      "its",   "is",    "are",   "was",   "were",  "be",      "been",  "being", "am",     "do",
      "does",  "did",   "have",  "has",   "had",   "will",    "would", "can",   "could",  "should",
      "shall", "may",   "might", "must",  "not",   "no",      "i",     "you",   "he",     "she",
      "we",    "they",  "me",    "him",   "her",   "us",      "them",  "my",    "your",   "his",
      "our",   "their", "there", "here",  "which", "who",     "whom",  "whose", "what",   "when",
      "where", "why",   "how",   "also",  "very",  "just",    "too",   "all",   "any",    "some",
      "such",  "only",  "own",   "same",  "both",  "each",    "more",  "most",  "other",  "up",
      "down",  "out",   "off",   "again", "once",  "s",       "t",     "unto",  "thee",   "thou",
      "thy",   "ye",    "hath",  "doth",  "upon",  "there's", "it's",  "don't", "didn't", "let"};
  return words;
}

std::string corpus_path() {
  return (engine::data_root() / "data" / "corpus" / "kjv_excerpt.txt").string();
}

}  // namespace

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    // Trailing apostrophes are quotes, not part of the word.
    while (!cur.empty() && cur.back() == '\'') cur.pop_back();
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  for (size_t i = 0; i < text.size();) {
    size_t len;
    const char32_t c = decode_utf8(text, i, &len);
    if (c < 0x80) {
      const char ch = static_cast<char>(c);
      if (std::isalnum(static_cast<unsigned char>(ch))) {
        cur += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      } else if (ch == '\'' && !cur.empty()) {
        cur += ch;
      } else {
        flush();
      }
    } else if (is_cjk(c)) {
      flush();
      out.emplace_back(text.substr(i, len));
    } else if (is_punctuation(c)) {
      flush();
    } else {
      cur.append(text.substr(i, len));
    }
    i += len;
  }
  flush();
  return out;
}

CorpusStats::CorpusStats() {
  std::ifstream in(corpus_path(), std::ios::binary);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    for (std::string& w : split_words(ss.str())) ++counts_[std::move(w)];
  }
  for (const auto& [w, c] : counts_) total_ += c;
  // An unseen word is rarer than anything seen once.
  max_info_ = std::log(std::max(total_, 1.0) + 1.0) + 1.0;
}

const CorpusStats& CorpusStats::get() {
  static const CorpusStats stats;  // C++11 magic statics: initialised once, thread-safe
  return stats;
}

bool CorpusStats::known(std::string_view w) const {
  return counts_.count(std::string(w)) > 0;
}

bool CorpusStats::is_stopword(std::string_view w) const {
  return stopwords().count(w) > 0;
}

double CorpusStats::self_information(std::string_view w) const {
  double info = max_info_;
  const auto it = counts_.find(std::string(w));
  if (it != counts_.end()) info = std::log(total_ / it->second);
  // Function words: as uninformative as the most frequent corpus words (~3 nats).
  if (is_stopword(w)) info = std::min(info, 3.0);
  return info;
}

}  // namespace precis::compression

namespace precis::compression {

std::string stem(std::string_view w) {
  auto ends = [&](std::string_view suf) {
    return w.size() > suf.size() + 2 && w.substr(w.size() - suf.size()) == suf;
  };
  for (std::string_view suf : {"'s", "ing", "ed", "es", "ly", "s"})
    if (ends(suf)) return std::string(w.substr(0, w.size() - suf.size()));
  return std::string(w);
}

}  // namespace precis::compression
