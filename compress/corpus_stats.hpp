// Word frequencies of the corpus the project ships (data/corpus/kjv_excerpt.txt), the prior the
// model-free scorer uses to tell function words ("the", "and", "of") from content words.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace precis::compression {

// Lower-cased words of `text`: ASCII letter/digit runs (with inner apostrophes), any other
// run of non-space, non-punctuation characters, and each CJK character on its own.
std::vector<std::string> split_words(std::string_view text);

class CorpusStats {
 public:
  // Loaded once, on first use, thread-safe. A missing corpus file leaves only the built-in
  // stopword list.
  static const CorpusStats& get();

  // -log p(word) under the corpus unigram distribution (nats); words the corpus never saw get
  // max_information(). Stopwords are capped low whatever their count.
  double self_information(std::string_view lower_word) const;
  double max_information() const { return max_info_; }
  bool known(std::string_view lower_word) const;
  bool is_stopword(std::string_view lower_word) const;
  size_t vocabulary() const { return counts_.size(); }

 private:
  CorpusStats();
  std::unordered_map<std::string, int> counts_;
  double total_ = 0.0;
  double max_info_ = 1.0;
};

}  // namespace precis::compression

namespace precis::compression {

// A crude English stem ("created" -> "creat", "waters" -> "water") so that a question's terms
// match their inflected forms in the text. Other scripts pass through.
std::string stem(std::string_view lower_word);

}  // namespace precis::compression
