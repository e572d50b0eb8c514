#include "compress/stat_scorer.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "compress/corpus_stats.hpp"

namespace precis::compression {

namespace {

// Weights of the parts of a word's score. The corpus prior dominates (it is what tells "the"
// from "firmament"); in-prompt rarity and question overlap decide between content words.
constexpr double kCorpusWeight = 0.45;
constexpr double kIdfWeight = 0.25;
constexpr double kPromptWeight = 0.15;
constexpr double kCapitalBonus = 0.10;
constexpr double kPositionBonus = 0.05;
constexpr double kSentenceStartBonus = 0.02;
constexpr double kQuestionTermBonus = 0.30;
constexpr double kQuestionSentenceBonus = 0.35;
constexpr double kPunctScore = 0.02;

bool starts_upper(std::string_view s) {
  return !s.empty() && std::isupper(static_cast<unsigned char>(s[0]));
}

}  // namespace

std::vector<double> stat_unit_scores(const TokenizedText& text, const std::vector<Unit>& units,
                                     std::string_view question) {
  const std::string& s = text.text;
  const CorpusStats& corpus = CorpusStats::get();
  const size_t n = units.size();

  // Word key and sentence index of every unit.
  std::vector<std::string> key(n);
  std::vector<int> sentence(n, 0);
  std::vector<char> sentence_start(n, 0);
  int sent = 0;
  bool at_start = true;
  for (size_t u = 0; u < n; ++u) {
    const Unit& x = units[u];
    const bool word = x.kind == UnitKind::Word || x.kind == UnitKind::Cjk;
    // A line break before a word starts a new sentence even without punctuation (lists, titles).
    if (word && !at_start &&
        std::find(s.begin() + x.begin, s.begin() + x.core, '\n') != s.begin() + x.core) {
      ++sent;
      at_start = true;
    }
    sentence[u] = sent;
    if (word) {
      auto words = split_words(std::string_view(s).substr(x.core, x.end - x.core));
      if (!words.empty()) key[u] = words.front();
      sentence_start[u] = at_start;
      at_start = false;
    } else if ((x.kind == UnitKind::SentenceEnd || x.kind == UnitKind::Newline) && !at_start) {
      ++sent;
      at_start = true;
    }
  }
  const int sentences = sent + 1;

  // Document frequency across sentences and term frequency in the prompt.
  std::unordered_map<std::string, int> df, tf;
  {
    std::unordered_set<std::string> seen;
    int cur = -1;
    for (size_t u = 0; u < n; ++u) {
      if (key[u].empty()) continue;
      if (sentence[u] != cur) {
        seen.clear();
        cur = sentence[u];
      }
      ++tf[key[u]];
      if (seen.insert(key[u]).second) ++df[key[u]];
    }
  }
  double total_words = 0.0;
  for (const auto& [w, c] : tf) total_words += c;
  const double idf_norm = std::log(sentences + 1.0);
  const double prompt_norm = std::log(total_words + 1.0);

  // Question terms (content words only) and how relevant each sentence is to them.
  std::unordered_map<std::string, double> qterms;
  for (const std::string& w : split_words(question)) {
    if (corpus.is_stopword(w)) continue;
    const auto it = df.find(w);
    const double d = it == df.end() ? 0.0 : it->second;
    qterms[w] = std::log((sentences + 1.0) / (d + 0.5));
  }
  double qtotal = 0.0;
  for (const auto& [w, v] : qterms) qtotal += v;
  std::vector<double> sentence_relevance(sentences, 0.0);
  if (qtotal > 0.0) {
    std::unordered_set<std::string> counted;
    int cur = -1;
    for (size_t u = 0; u < n; ++u) {
      if (sentence[u] != cur) {
        counted.clear();
        cur = sentence[u];
      }
      const auto it = qterms.find(key[u]);
      if (it != qterms.end() && counted.insert(key[u]).second)
        sentence_relevance[sentence[u]] += it->second / qtotal;
    }
  }

  std::vector<double> scores(n, kPunctScore);
  std::unordered_map<std::string, int> seen_count;
  for (size_t u = 0; u < n; ++u) {
    const Unit& x = units[u];
    if (key[u].empty()) continue;  // punctuation, whitespace: least informative
    const std::string& w = key[u];
    const double idf = std::log((sentences + 1.0) / (df[w] + 0.5)) / idf_norm;
    const double prompt_info = std::log((total_words + 1.0) / tf[w]) / prompt_norm;
    double base;
    if (x.kind == UnitKind::Word) {
      base = kCorpusWeight * corpus.self_information(w) / corpus.max_information() +
             kIdfWeight * idf + kPromptWeight * prompt_info;
    } else {
      // Scripts the corpus does not cover (CJK): in-prompt statistics only.
      base = (kCorpusWeight + kPromptWeight) * prompt_info + kIdfWeight * idf;
    }
    if (corpus.is_stopword(w)) base *= 0.3;
    // Repeats say less each time (the reader has seen the word already).
    const int k = seen_count[w]++;
    base *= std::max(0.6, 1.0 / (1.0 + 0.15 * k));
    const std::string_view core(s.data() + x.core, x.end - x.core);
    if (!sentence_start[u] && starts_upper(core)) base += kCapitalBonus;  // names
    base += kPositionBonus * (1.0 - static_cast<double>(sentence[u]) / sentences);
    if (sentence_start[u]) base += kSentenceStartBonus;
    if (qterms.count(w)) base += kQuestionTermBonus;
    base += kQuestionSentenceBonus * sentence_relevance[sentence[u]];
    scores[u] = base;
  }
  return scores;
}

void StatScorer::begin(const TokenizedText& text, const std::vector<Unit>& units,
                       std::string_view question) {
  units_ = &units;
  scores_ = stat_unit_scores(text, units, question);
}

std::vector<float> StatScorer::score_segment(std::span<const int> units) {
  std::vector<float> out;
  for (int u : units) out.insert(out.end(), (*units_)[u].tokens(), static_cast<float>(scores_[u]));
  return out;
}

double StatScorer::unit_score(std::span<const float> token_scores) const {
  return token_scores.empty() ? 0.0 : token_scores.front();
}

}  // namespace precis::compression
