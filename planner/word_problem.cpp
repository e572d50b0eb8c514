#include "planner/word_problem.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "planner/plan_text.hpp"

namespace precis::planner {
namespace {

bool in(std::string_view w, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), w) != list.end();
}

// ---- tokens ----------------------------------------------------------------------------------

enum class K { Word, Num, Money, Punct };

struct Tok {
  std::string s;    // as written
  std::string low;  // lower case; for numbers the plain value ("1.50", "3")
  K kind = K::Punct;
  bool spelled = false;  // a number written as a word ("three")
};

// A number written as a word; "dozen", "hundred" and "thousand" multiply what precedes them,
// which this module does not read, so they are not numbers here.
int spelled_number(std::string_view w) {
  return in(w, {"dozen", "hundred", "thousand"}) ? 0 : number_word(w);
}

std::vector<Tok> tokens(const std::string& text) {
  std::vector<Tok> out;
  size_t i = 0;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ') {
      ++i;
      continue;
    }
    const bool money = c == '$' && i + 1 < text.size() && digit(text[i + 1]);
    if (money || digit(c)) {
      size_t j = money ? i + 1 : i;
      std::string v;
      while (j < text.size() && (digit(text[j]) || ((text[j] == '.' || text[j] == ',') &&
                                                    j + 1 < text.size() && digit(text[j + 1])))) {
        if (text[j] != ',') v += text[j];
        ++j;
      }
      out.push_back({text.substr(i, j - i), v, money ? K::Money : K::Num, false});
      i = j;
      continue;
    }
    if (letter(c)) {
      size_t j = i;
      while (j < text.size() && (letter(text[j]) || text[j] == '\'' || text[j] == '-')) ++j;
      Tok t{text.substr(i, j - i), to_lower(text.substr(i, j - i)), K::Word, false};
      if (const int n = spelled_number(t.low); n > 0) {
        t.kind = K::Num;
        t.low = std::to_string(n);
        t.spelled = true;
      }
      out.push_back(std::move(t));
      i = j;
      continue;
    }
    out.push_back({std::string(1, c), std::string(1, c), K::Punct, false});
    ++i;
  }
  return out;
}

// ---- words -----------------------------------------------------------------------------------

enum class Verb { None, Have, Gain, Lose, Sell };

Verb verb_of(std::string_view w) {
  if (in(w, {"has", "have", "had", "owns", "own", "owned", "is", "are", "was", "were"}))
    return Verb::Have;
  if (in(w, {"buys",     "buy",    "bought",  "gets",   "get",      "got",       "finds",
             "find",     "found",  "picks",   "picked", "collects", "collected", "receives",
             "received", "makes",  "made",    "bakes",  "baked",    "adds",      "added",
             "wins",     "won",    "catches", "caught", "grows",    "grew",      "plants",
             "planted",  "reads",  "read",    "swims",  "swam",     "writes",    "wrote",
             "solves",   "solved", "earns",   "earned", "works",    "worked"}))
    return Verb::Gain;
  if (in(w, {"gives", "give",    "gave",    "loses",  "lose",    "lost",  "eats",
             "ate",   "uses",    "used",    "spends", "spend",   "spent", "breaks",
             "broke", "donates", "donated", "drops",  "dropped", "pays",  "paid"}))
    return Verb::Lose;
  if (in(w, {"sells", "sell", "sold"})) return Verb::Sell;
  return Verb::None;
}

// Words that are never the thing counted: the request reader's function words, and the words
// around prices.
bool is_function_word(std::string_view w) {
  return is_stopword(w) ||
         in(w, {"many", "much", "together", "these", "those", "later", "last", "first", "next",
                "still", "money", "away", "cost", "costs", "price", "priced", "worth"});
}

// Adjectives between a number and its noun ("5 red apples").
bool is_adjective(std::string_view w) {
  return in(w, {"red", "green", "blue", "yellow", "white", "black", "big", "small", "large", "new",
                "old", "fresh", "ripe", "shiny", "round", "little"});
}

// Words whose arithmetic this module does not read: seeing one outside a known pattern means
// the computation is not certain.
std::optional<std::string> unsupported(const Tok& t) {
  if (t.kind == K::Punct) {
    if (in(t.s, {"%", "/", ":"})) return "'" + t.s + "'";
    return std::nullopt;
  }
  if (t.kind != K::Word) return std::nullopt;
  if (in(t.low, {"percent",  "half",     "halves",  "third",   "thirds",   "quarter",   "quarters",
                 "dozen",    "twice",    "double",  "triple",  "times",    "each",      "every",
                 "per",      "apiece",   "average", "mean",    "if",       "would",     "equally",
                 "equal",    "among",    "between", "than",    "rest",     "remainder", "ratio",
                 "fraction", "discount", "off",     "tax",     "interest", "daily",     "weekly",
                 "monthly",  "yearly",   "hourly",  "except",  "without",  "minus",     "plus",
                 "hundred",  "thousand", "million", "billion", "older",    "younger",   "longer",
                 "shorter",  "faster",   "slower",  "farther", "further",  "far",       "long",
                 "fast"}))
    return "'" + t.low + "'";
  return std::nullopt;
}

bool is_distance(std::string_view w) {
  return in(w, {"km", "kilometers", "kilometres", "miles", "mi"});
}
std::string distance_unit(std::string_view w) {
  return in(w, {"miles", "mi"}) ? "miles" : "km";
}

bool is_time_name(std::string_view w) {
  return in(w, {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                "january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december"});
}

// Nouns match across singular and plural ("cookie", "cookies", "box", "boxes").
std::vector<std::string> keys(const std::string& noun) {
  std::vector<std::string> k = {noun};
  if (noun.size() > 2 && noun.back() == 's' && noun[noun.size() - 2] != 's')
    k.push_back(noun.substr(0, noun.size() - 1));
  if (noun.size() > 3 && noun.compare(noun.size() - 2, 2, "es") == 0)
    k.push_back(noun.substr(0, noun.size() - 2));
  return k;
}
bool same_thing(const std::string& a, const std::string& b) {
  for (const auto& x : keys(a))
    for (const auto& y : keys(b))
      if (x == y) return true;
  return false;
}
std::string singular(const std::string& noun) {
  const auto k = keys(noun);
  return k.size() > 1 ? k[1] : noun;
}

// ---- facts -----------------------------------------------------------------------------------

struct Fact {
  // Given: a quantity used only inside another's computation (packs in "5 packs ... each pack
  // has 6", a divisor, hours a day); it is named but not itself counted or priced.
  enum Kind { Count, Price, Paid, Given } kind = Count;
  std::string noun;   // the thing counted or priced ("dollars" for an amount of money)
  std::string owner;  // the person it belongs to ("" when none is named)
  Verb verb = Verb::None;
  std::string verb_word;
  bool money = false;  // a count of dollars
  double value = 0;
  std::string expr;  // a literal, or arithmetic over earlier facts' names
  std::string text;  // the words it was read from
  std::string name;
  bool relation = false;
  std::string out = "dollars";  // Price: what the rate gives per unit ("dollars", "km")
  std::string hint;             // Given: its variable name
};

std::string literal(const Tok& t) {
  return t.low;
}

class Reader {
 public:
  explicit Reader(const RequestAnalysis& a) {
    // A person is a one-word name never written in lower case: "Muffins cost $3 each. Ava
    // buys 12 muffins." names Ava only.
    std::set<std::string> lower;
    auto note_lower = [&](const std::string& s) {
      for (const Tok& t : tokens(s))
        if (t.kind == K::Word && t.s == t.low) lower.insert(t.low);
    };
    for (const auto& s : a.statements) note_lower(s);
    for (const auto& s : a.questions) note_lower(s);
    for (const auto& e : a.entities) {
      const std::string l = to_lower(e);
      if (e.find(' ') == std::string::npos && !is_time_name(l) && !lower.count(l))
        people_.insert(l);
    }
  }

  std::vector<Fact> facts;
  std::string why_open;
  std::vector<std::pair<std::string, std::string>> relations;  // noun, phrase
  std::set<std::string> owners_in_question;
  std::vector<std::string> question_people;  // in order of mention
  bool question_plural = false;
  bool question_older = false;         // "how much older is A (than B)"
  std::string question_each;           // "each friend" in the question: the sharers
  size_t divisor = std::string::npos;  // the fact "equally among 4 friends" made
  std::string sharers;                 // "friends"

  bool is_person(const std::string& low) const { return people_.count(low) > 0; }

  // Reads one sentence's facts; false (with why_open) on anything it cannot read with certainty.
  bool read(const std::string& sentence, bool question) {
    const std::vector<Tok> T = tokens(sentence);
    Verb verb = Verb::None;
    std::string verb_word;
    std::string last_thing;
    std::vector<bool> used(T.size(), false);
    auto word = [&](size_t k) { return k < T.size() && T[k].kind == K::Word; };
    auto low = [&](size_t k) { return k < T.size() ? T[k].low : std::string(); };
    auto text = [&](size_t from, size_t to) {
      std::string s;
      for (size_t k = from; k < to && k < T.size(); ++k) {
        const bool glue =
            (T[k].kind == K::Punct && T[k].s != "$") || (k > from && T[k - 1].s == "/");
        s += (s.empty() || glue ? "" : " ") + T[k].s;
      }
      return s;
    };
    auto thing_at = [&](size_t k) {
      return word(k) && !is_function_word(T[k].low) && verb_of(T[k].low) == Verb::None &&
             !is_person(T[k].low) && !unsupported(T[k]);
    };
    // The count that "twice as many", "5 more than X" refer to.
    auto reference = [&](const std::string& ref) -> const Fact* {
      for (auto it = facts.rbegin(); it != facts.rend(); ++it) {
        if (it->kind != Fact::Count || it->money) continue;
        if (ref.empty() || same_thing(it->noun, ref) || it->owner == ref) return &*it;
      }
      return nullptr;
    };
    for (size_t i = 0; i < T.size(); ++i) {
      const Tok& t = T[i];
      if (used[i]) continue;
      if (t.kind == K::Word) {
        if (const Verb v = verb_of(t.low); v != Verb::None) {
          verb = v;
          verb_word = t.low;
        } else if (is_person(t.low)) {
          const bool object = i > 0 && in(low(i - 1), {"to", "with", "than", "from", "for"});
          if (question) {
            owners_in_question.insert(t.low);
            question_people.push_back(t.low);
          }
          if (!object) owner_ = t.low;
        } else if (in(t.low, {"they", "together", "altogether", "both", "combined"})) {
          if (question) question_plural = true;
        } else if (t.low == "each" && !question && container(T, i, used, text)) {
          continue;
        } else if (t.low == "each" && question && thing_at(i + 1)) {
          question_each = T[i + 1].low;  // "how many does each friend get"
          used[i] = true;
        } else if (t.low == "older" && question) {
          question_older = true;
          used[i] = true;
        } else if (t.low == "than" && question && question_older) {
          used[i] = true;  // "how much older is A than B"
        } else if (t.low == "far" && question && i > 0 && low(i - 1) == "how") {
          used[i] = true;  // "how far": a distance, read from the question's wording
        } else if (t.low == "average" && low(i + 1) == "speed" && low(i + 2) == "of") {
          used[i] = true;  // "at an average speed of 60 km/h" is the speed
        } else if (t.low == "equally" && in(low(i + 1), {"among", "between"}) && i + 3 < T.size() &&
                   T[i + 2].kind == K::Num && thing_at(i + 3)) {
          if (divisor != std::string::npos) return open("two ways of sharing");
          Fact g;
          g.kind = Fact::Given;
          g.value = std::stod(T[i + 2].low);
          g.expr = literal(T[i + 2]);
          g.text = text(i, i + 4);
          g.hint = py_name(T[i + 3].low, "parts");
          divisor = facts.size();
          sharers = T[i + 3].low;
          facts.push_back(g);
          i += 3;
          continue;
        } else if (t.low == "half" && low(i + 1) == "of" &&
                   (low(i + 2) == "them" || (low(i + 2) == "the" && thing_at(i + 3)))) {
          // "gave half of them": half of the one count of that thing so far.
          if (verb != Verb::Gain && verb != Verb::Lose && verb != Verb::Sell)
            return open("\"" + text(i, i + 3) + "\" without a verb that adds or takes away");
          const std::string noun = low(i + 2) == "them" ? std::string() : low(i + 3);
          const Fact* r = reference(noun);
          int n = 0;
          for (const auto& f : facts)
            if (r && f.kind == Fact::Count && !f.money && same_thing(f.noun, r->noun)) ++n;
          if (!r || n != 1) return open("\"" + text(i, i + 3) + "\" of a running total");
          Fact f = count_fact(r->noun, verb, verb_word, r->value / 2);
          f.relation = true;
          f.expr = "@" + std::to_string(index_of(r)) + " / 2";
          f.text = text(i, low(i + 2) == "them" ? i + 3 : i + 4);
          relations.emplace_back(r->noun, f.text);
          facts.push_back(f);
          i += low(i + 2) == "them" ? 2 : 3;
          continue;
        } else if (t.low == "twice" && low(i + 1) == "as" && low(i + 2) == "many") {
          if (!relation(T, i, i + 3, 2.0, "2", used, verb, verb_word, reference, text))
            return false;
          continue;
        } else if (thing_at(i)) {
          last_thing = t.low;
        }
        if (auto u = unsupported(t); u && !used[i]) return open("the word " + *u);
        continue;
      }
      if (t.kind == K::Punct) {
        if (auto u = unsupported(t)) return open("the sign " + *u);
        continue;
      }
      if (t.kind == K::Money) {
        // "$3 each", "$15 per hour", "$15 an hour", "$10 each week".
        if (in(low(i + 1), {"each", "apiece"}) && !thing_at(i + 2)) {
          if (last_thing.empty())
            return open("a price of nothing named: \"" + text(i, i + 2) + "\"");
          add_price(last_thing, t, text(i, i + 2));
          used[i + 1] = true;
          continue;
        }
        if (in(low(i + 1), {"per", "a", "an", "each", "every"}) && thing_at(i + 2)) {
          add_price(T[i + 2].low, t, text(i, i + 3));
          used[i + 1] = used[i + 2] = true;
          i += 2;
          continue;
        }
        if (in(low(i + 1), {"bill", "note"})) {
          Fact f;
          f.kind = Fact::Paid;
          f.value = std::stod(t.low);
          f.expr = literal(t);
          f.text = text(i > 0 && in(low(i - 1), {"a", "one"}) ? i - 1 : i, i + 2);
          f.name = "paid";
          facts.push_back(f);
          used[i + 1] = true;
          continue;
        }
        // "a muffin costs $3", "each pen costs $2".
        if (i >= 3 && in(low(i - 1), {"costs", "cost", "is"}) && thing_at(i - 2) &&
            in(low(i - 3), {"a", "an", "each", "one"})) {
          used[i - 3] = true;
          add_price(T[i - 2].low, t, text(i - 3, i + 1));
          continue;
        }
        // An amount of money held, gained or spent.
        if (question) return open("a sum of money in the question");
        Fact f;
        f.noun = "dollars";
        f.money = true;
        f.owner = owner_;
        f.verb = verb;
        f.verb_word = verb_word;
        f.value = std::stod(t.low);
        f.expr = literal(t);
        f.text = text(i, i + 1);
        if (verb == Verb::None) return open("no verb for \"" + f.text + "\"");
        facts.push_back(f);
        continue;
      }
      // A number.
      if (low(i + 1) == "%" || low(i + 1) == "percent")
        return open("the percentage \"" + text(i, i + 2) + "\"");
      const double v = std::stod(t.low);
      if (low(i + 1) == "times" && low(i + 2) == "as" && low(i + 3) == "many") {
        used[i + 1] = true;
        if (!relation(T, i, i + 4, v, literal(t), used, verb, verb_word, reference, text))
          return false;
        continue;
      }
      if (in(low(i + 1), {"more", "fewer", "less"})) {
        // "5 more marbles than Ava", "5 more than Ava", "buys 5 more (marbles)".
        size_t k = i + 2;
        std::string noun;
        if (thing_at(k)) noun = T[k++].low;
        if (low(k) == "than" && word(k + 1)) {
          const std::string ref = low(k + 1) == "the" ? low(k + 2) : low(k + 1);
          const Fact* r = reference(ref);
          if (!r) return open("\"than " + ref + "\" names nothing counted");
          if (noun.empty()) noun = r->noun;
          if (!same_thing(noun, r->noun)) return open("\"" + text(i, k + 2) + "\" mixes things");
          Fact f = count_fact(noun, verb, verb_word, v);
          f.relation = true;
          const char op = low(i + 1) == "more" ? '+' : '-';
          f.value = op == '+' ? r->value + v : r->value - v;
          f.expr = "@" + std::to_string(index_of(r)) + " " + op + " " + literal(t);
          f.text = text(i, k + 2);
          relations.emplace_back(noun, f.text);
          facts.push_back(f);
          for (size_t m = i + 1; m < k + 2 && m < T.size(); ++m) used[m] = true;
          i = low(k + 1) == "the" ? k + 2 : k + 1;
          continue;
        }
        if (low(i + 1) != "more" || (verb != Verb::Gain && verb != Verb::Have))
          return open("\"" + text(i, k) + "\" without a \"than\"");
        if (noun.empty()) {
          const Fact* r = reference("");
          if (!r) return open("\"" + text(i, k) + "\" of nothing counted before");
          noun = r->noun;
        }
        Fact f = count_fact(noun, Verb::Gain, "more", v);
        f.expr = literal(t);
        f.text = text(i, k);
        facts.push_back(f);
        used[i + 1] = true;
        if (k > i + 2) used[i + 2] = true;
        i = k - 1;
        continue;
      }
      size_t k = i + 1;
      while (word(k) && is_adjective(T[k].low)) ++k;
      // A speed: "60 km/h", "60 km per hour", "60 miles an hour".
      if (thing_at(k) && is_distance(T[k].low) &&
          ((low(k + 1) == "/" && in(low(k + 2), {"h", "hr", "hour"})) ||
           (in(low(k + 1), {"per", "an", "a"}) && low(k + 2) == "hour"))) {
        Fact f;
        f.kind = Fact::Price;
        f.noun = "hour";
        f.out = distance_unit(T[k].low);
        f.owner = owner_;
        f.value = v;
        f.expr = literal(t);
        f.text = text(i, k + 3);
        f.hint = "speed";
        facts.push_back(f);
        i = k + 2;
        continue;
      }
      // "8 hours a day for 5 days": so many per period, for so many periods.
      if (thing_at(k) && in(low(k + 1), {"a", "an", "per", "each", "every"}) && thing_at(k + 2) &&
          low(k + 3) == "for" && k + 5 < T.size() && T[k + 4].kind == K::Num && thing_at(k + 5) &&
          same_thing(T[k + 2].low, T[k + 5].low)) {
        Fact per;
        per.kind = Fact::Given;
        per.value = v;
        per.expr = literal(t);
        per.text = text(i, k + 3);
        per.hint =
            singular(py_name(T[k].low, "amount")) + "s_per_" + singular(py_name(T[k + 2].low));
        Fact periods = per;
        periods.value = std::stod(T[k + 4].low);
        periods.expr = literal(T[k + 4]);
        periods.text = text(k + 4, k + 6);
        periods.hint = py_name(T[k + 5].low, "periods");
        facts.push_back(per);
        facts.push_back(periods);
        Fact f = count_fact(T[k].low, verb, verb_word, per.value * periods.value);
        f.relation = true;
        f.expr = "@" + std::to_string(facts.size() - 2) + " * @" + std::to_string(facts.size() - 1);
        f.text = text(i, k + 6);
        facts.push_back(f);
        last_thing = T[k].low;
        i = k + 5;
        continue;
      }
      if (thing_at(k)) {
        // "8 hours a day", "4 km every day", "12 eggs each": a rate, not a count.
        if (in(low(k + 1), {"a", "an", "per", "each", "every"}) &&
            (low(k + 1) != "a" || word(k + 2)) &&
            (in(low(k + 2), {"day", "week", "month", "year", "hour", "minute"}) ||
             low(k + 1) != "a"))
          return open("the rate \"" + text(i, k + 3) + "\"");
        if (low(k + 1) == "/") return open("the rate \"" + text(i, k + 3) + "\"");
        Fact f = count_fact(T[k].low, verb, verb_word, v);
        f.expr = literal(t);
        f.text = text(i, k + 1);
        if (question && verb == Verb::None) f.verb = Verb::Have;
        facts.push_back(f);
        last_thing = T[k].low;
        i = k;
        continue;
      }
      // "gave 5 to Ben", "sold 12 of them", "lost 3.": more of the last thing counted.
      const bool bare_end = k >= T.size() ||
                            in(low(k), {"to", ".", ",", "and", "?", "on", "away"}) ||
                            (low(k) == "of" && low(k + 1) == "them");
      if (bare_end && (verb == Verb::Gain || verb == Verb::Lose || verb == Verb::Sell)) {
        const Fact* r = reference("");
        if (!r) return open("\"" + text(i, k) + "\" of nothing counted before");
        Fact f = count_fact(r->noun, verb, verb_word, v);
        f.expr = literal(t);
        f.text = text(i > 0 ? i - 1 : i, k);
        facts.push_back(f);
        if (low(k) == "of") {
          used[k] = true;
          i = k + 1;
        }
        continue;
      }
      return open("the number in \"" + text(i > 0 ? i - 1 : i, k + 1) + "\"");
    }
    return true;
  }

  bool open(const std::string& why) {
    if (why_open.empty()) why_open = why;
    return false;
  }

  size_t index_of(const Fact* f) const { return static_cast<size_t>(f - facts.data()); }

 private:
  // "Each pack has 6 stickers" after "5 packs", or "5 boxes with 12 pencils in each box": the
  // packs become a given, and the stickers are packs * stickers per pack.
  template <class Text>
  bool container(const std::vector<Tok>& T, size_t i, std::vector<bool>& used, Text text) {
    auto low = [&](size_t k) { return k < T.size() ? T[k].low : std::string(); };
    auto num = [&](size_t k) { return k < T.size() && T[k].kind == K::Num; };
    auto is_thing = [&](size_t k) {
      return k < T.size() && T[k].kind == K::Word && !is_function_word(T[k].low) &&
             verb_of(T[k].low) == Verb::None && !unsupported(T[k]);
    };
    if (!is_thing(i + 1)) return false;
    const std::string box = T[i + 1].low;
    size_t per_at = facts.size(), box_at = facts.size();
    size_t end = i + 2;
    std::string thing;
    if (in(low(i + 2), {"has", "holds", "contains", "have"}) && num(i + 3) && is_thing(i + 4)) {
      // "Each pack has 6 stickers."
      thing = T[i + 4].low;
      for (size_t k = facts.size(); k-- > 0;)
        if (facts[k].kind == Fact::Count && !facts[k].money) {
          if (same_thing(facts[k].noun, box)) box_at = k;
          break;
        }
      if (box_at == facts.size()) return open("\"each " + box + "\" of nothing counted");
      Fact per;
      per.kind = Fact::Given;
      per.value = std::stod(T[i + 3].low);
      per.expr = literal(T[i + 3]);
      per.text = text(i, i + 5);
      per.hint = py_name(thing, "items") + "_per_" + singular(py_name(box, "box"));
      per_at = facts.size();
      facts.push_back(per);
      end = i + 5;
    } else if (i > 0 && low(i - 1) == "in" && facts.size() >= 2 &&
               facts.back().kind == Fact::Count && !facts.back().money &&
               facts[facts.size() - 2].kind == Fact::Count &&
               same_thing(facts[facts.size() - 2].noun, box)) {
      // "5 boxes with 12 pencils in each box."
      per_at = facts.size() - 1;
      box_at = facts.size() - 2;
      thing = facts[per_at].noun;
      facts[per_at].kind = Fact::Given;
      facts[per_at].hint = py_name(thing, "items") + "_per_" + singular(py_name(box, "box"));
    } else {
      return open("\"each " + box + "\"");
    }
    Fact& b = facts[box_at];
    b.kind = Fact::Given;
    b.hint = py_name(b.noun, "boxes");
    Fact f = count_fact(thing, b.verb, b.verb_word, b.value * facts[per_at].value);
    f.owner = b.owner;
    f.relation = true;
    f.expr = "@" + std::to_string(box_at) + " * @" + std::to_string(per_at);
    f.text = b.text + ", " + facts[per_at].text;
    facts.push_back(f);
    for (size_t k = i; k < end && k < T.size(); ++k) used[k] = true;
    return true;
  }

  Fact count_fact(const std::string& noun, Verb verb, const std::string& verb_word, double v) {
    Fact f;
    f.noun = noun;
    f.owner = owner_;
    f.verb = verb;
    f.verb_word = verb_word;
    f.value = v;
    return f;
  }
  void add_price(const std::string& noun, const Tok& t, const std::string& text) {
    Fact f;
    f.kind = Fact::Price;
    f.noun = noun;
    f.owner = owner_;
    f.value = std::stod(t.low);
    f.expr = literal(t);
    f.text = text;
    facts.push_back(f);
  }
  template <class Ref, class Text>
  bool relation(const std::vector<Tok>& T, size_t at, size_t noun_at, double factor,
                const std::string& factor_lit, std::vector<bool>& used, Verb verb,
                const std::string& verb_word, Ref reference, Text text) {
    if (noun_at >= T.size() || T[noun_at].kind != K::Word || is_function_word(T[noun_at].low))
      return open("\"" + text(at, noun_at + 1) + "\" names no thing");
    std::string noun = T[noun_at].low;
    size_t end = noun_at + 1;
    std::string ref;
    if (end + 1 < T.size() && T[end].low == "as" && T[end + 1].kind == K::Word) {
      ref = T[end + 1].low == "the" && end + 2 < T.size() ? T[end + 2].low : T[end + 1].low;
      end += T[end + 1].low == "the" ? 3 : 2;
    }
    const Fact* r = reference(ref);
    if (!r) return open("\"" + text(at, end) + "\" refers to nothing counted");
    Fact f = count_fact(noun, verb, verb_word, factor * r->value);
    f.relation = true;
    f.expr = factor_lit + " * @" + std::to_string(index_of(r));
    f.text = text(at, end);
    relations.emplace_back(noun, f.text);
    facts.push_back(f);
    for (size_t m = at; m < end; ++m) used[m] = true;
    return true;
  }

  std::set<std::string> people_;
  std::string owner_;
};

// ---- the question ----------------------------------------------------------------------------

std::string fmt(double v) {
  if (std::fabs(v - std::round(v)) < 1e-9)
    return std::to_string(static_cast<long long>(std::round(v)));
  std::string s = std::to_string(v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  return s;
}

}  // namespace

Derivation derive_word_problem(const RequestAnalysis& a) {
  Derivation d;
  if (a.questions.size() != 1) {
    d.why_open = a.questions.empty() ? "no question" : "more than one question";
    return d;
  }
  Reader r(a);
  for (const auto& s : a.statements)
    if (!r.read(s, false)) break;
  const std::string& question = a.questions.front();
  if (r.why_open.empty()) r.read(question, true);
  d.relations = r.relations;
  if (!r.why_open.empty()) {
    d.why_open = r.why_open;
    return d;
  }
  auto& F = r.facts;
  const std::string q = to_lower(question);
  std::vector<size_t> counts, money, prices, paid;
  std::set<std::string> owners;
  for (size_t i = 0; i < F.size(); ++i) {
    if (F[i].kind == Fact::Price)
      prices.push_back(i);
    else if (F[i].kind == Fact::Paid)
      paid.push_back(i);
    else if (F[i].kind == Fact::Given)
      continue;  // used inside the relation that made it
    else if (F[i].money)
      money.push_back(i);
    else
      counts.push_back(i);
    if (F[i].kind == Fact::Count) owners.insert(F[i].owner);
  }
  // Whose total is asked: one person named (or "he"/"she") while several own things is a
  // different sum than "they ... together".
  // The question asks about someone who owns none of the things counted ("Liam gave 5 cards to
  // Mia. How many cards does Mia have?"): what that person had is not in the text.
  for (const auto& who : r.owners_in_question)
    if (!owners.count(who)) {
      d.why_open = "the question asks about " + who + ", who is given nothing counted";
      return d;
    }
  const bool plural = r.question_plural || r.owners_in_question.size() >= 2;
  if (owners.size() > 1 && !plural && !r.question_older) {
    d.why_open = "several people's things, and the question does not ask for all of them";
    return d;
  }

  // The final formula: terms (sign, expression) over fact indices.
  struct Term {
    char sign;
    std::string expr;
    double value;
  };
  std::vector<Term> terms;
  std::string result;
  auto ref = [](size_t i) {
    std::string s = std::to_string(i);
    s.insert(s.begin(), '@');  // not "@" + ...: GCC 12 warns falsely (-Wrestrict) there
    return s;
  };
  const bool asks_money = contains_word(q, "how much") || contains_word(q, "revenue") ||
                          contains_word(q, "cost") || contains_word(q, "change") ||
                          contains_word(q, "earn") || contains_word(q, "spend");
  const bool net = contains_word(q, "left") || contains_word(q, "now") ||
                   contains_word(q, "remain") || contains_word(q, "remaining");
  const bool sum = contains_word(q, "altogether") || contains_word(q, "together") ||
                   contains_word(q, "in total") || contains_word(q, "total") ||
                   contains_word(q, "in all") || contains_word(q, "combined");
  const size_t how_many = q.find("how many ");
  std::string noun;
  if (how_many != std::string::npos) {
    noun = q.substr(how_many + 9);
    noun = noun.substr(0, noun.find_first_of(" ?,."));
  }
  const bool distance = contains_word(q, "how far") || is_distance(noun);
  const bool nothing_else = prices.empty() && paid.empty() && money.empty();
  if (r.question_older) {
    // "How much older is A than B?": two ages, A's less B's.
    const bool ages = counts.size() == 2 && nothing_else && owners.size() == 2 &&
                      same_thing(F[counts[0]].noun, "years") &&
                      same_thing(F[counts[1]].noun, "years") && !r.question_people.empty();
    if (!ages) {
      d.why_open = "\"older\", but not two people's ages";
      return d;
    }
    const bool first = F[counts[0]].owner == r.question_people.front();
    terms.push_back({'+', ref(counts[first ? 0 : 1]), F[counts[first ? 0 : 1]].value});
    terms.push_back({'-', ref(counts[first ? 1 : 0]), F[counts[first ? 1 : 0]].value});
    result = "difference";
  } else if (r.divisor != std::string::npos || !r.question_each.empty()) {
    // "shares them equally among 4 friends. How many does each friend get?"
    const bool share = r.divisor != std::string::npos && !r.question_each.empty() &&
                       same_thing(r.question_each, r.sharers) && counts.size() == 1 &&
                       nothing_else && how_many != std::string::npos &&
                       same_thing(F[counts[0]].noun, noun);
    if (!share) {
      d.why_open = "a share that is not one count split among the ones asked about";
      return d;
    }
    terms.push_back(
        {'+', ref(counts[0]) + " / " + ref(r.divisor), F[counts[0]].value / F[r.divisor].value});
    result = "each_" + singular(py_name(r.sharers, "part"));
  } else if (how_many != std::string::npos && !asks_money && !distance) {
    if (!prices.empty() || !paid.empty() || !money.empty() || counts.empty()) {
      d.why_open = "prices or sums of money in a question that counts " + noun;
      return d;
    }
    for (size_t i : counts)
      if (!same_thing(F[i].noun, noun)) {
        d.why_open = "the question counts " + noun + ", the text also counts " + F[i].noun;
        return d;
      }
    if (net == sum) {
      d.why_open = net ? "both \"left\" and \"total\"" : "not asked as a total or what is left";
      return d;
    }
    if (net) {
      if (F[counts[0]].verb != Verb::Have && F[counts[0]].verb != Verb::Gain) {
        d.why_open = "what is left, but nothing held to begin with";
        return d;
      }
      for (size_t n = 0; n < counts.size(); ++n) {
        const Verb v = F[counts[n]].verb;
        if (n > 0 && v != Verb::Gain && v != Verb::Lose && v != Verb::Sell) {
          d.why_open = "\"" + F[counts[n]].text + "\" neither adds nor takes away";
          return d;
        }
        terms.push_back({n > 0 && (v == Verb::Lose || v == Verb::Sell) ? '-' : '+', ref(counts[n]),
                         F[counts[n]].value});
      }
      result = "left";
    } else {
      std::set<Verb> verbs;
      for (size_t i : counts) verbs.insert(F[i].verb == Verb::Have ? Verb::Gain : F[i].verb);
      if (verbs.size() != 1 || *verbs.begin() == Verb::None) {
        d.why_open = "the things counted are not all of one kind (held, got, given, sold)";
        return d;
      }
      for (size_t i : counts) terms.push_back({'+', ref(i), F[i].value});
      result = "total";
    }
  } else if (asks_money || distance) {
    // The rate's unit of what is asked: dollars, or the speed's distance unit.
    std::string out = "dollars";
    if (distance) {
      out.clear();
      for (size_t p : prices) out = F[p].out;
      if (out.empty() || (!noun.empty() && !same_thing(out, noun) && distance_unit(noun) != out)) {
        d.why_open = "a distance asked, but no speed in its unit";
        return d;
      }
    }
    if (net && !contains_word(q, "change") && !distance) {
      if (!prices.empty() || !paid.empty() || !counts.empty() || money.empty() ||
          (F[money[0]].verb != Verb::Have && F[money[0]].verb != Verb::Gain)) {
        d.why_open = "money left, but not as money held then spent";
        return d;
      }
      for (size_t n = 0; n < money.size(); ++n) {
        const Verb v = F[money[n]].verb;
        if (n > 0 && v != Verb::Lose && v != Verb::Gain) {
          d.why_open = "\"" + F[money[n]].text + "\" neither adds nor takes away";
          return d;
        }
        terms.push_back({n > 0 && v == Verb::Lose ? '-' : '+', ref(money[n]), F[money[n]].value});
      }
      result = "money_left";
    } else {
      // Count times price for each thing, every count priced and every price used once.
      if (!money.empty() || prices.empty() || counts.size() != prices.size() ||
          paid.size() > (contains_word(q, "change") ? 1u : 0u) ||
          (contains_word(q, "change") && paid.empty())) {
        d.why_open = "the counts, prices and payments do not pair up";
        return d;
      }
      std::set<size_t> priced;
      std::string cost;
      double cost_value = 0;
      for (size_t p : prices) {
        size_t match = F.size();
        for (size_t c : counts)
          if (same_thing(F[c].noun, F[p].noun)) {
            if (match != F.size())
              match = F.size() + 1;  // two counts of one priced thing
            else
              match = c;
          }
        if (match >= F.size() || priced.count(match)) {
          d.why_open = "the price \"" + F[p].text + "\" does not match one count";
          return d;
        }
        if (F[p].out != out) {
          d.why_open = "the rate \"" + F[p].text + "\" does not give " + out;
          return d;
        }
        priced.insert(match);
        cost += (cost.empty() ? "" : " + ") + ref(match) + " * " + ref(p);
        cost_value += F[match].value * F[p].value;
      }
      if (contains_word(q, "change")) {
        terms.push_back({'+', ref(paid[0]), F[paid[0]].value});
        terms.push_back({'-', prices.size() > 1 ? "(" + cost + ")" : cost, cost_value});
        result = "change";
      } else {
        terms.push_back({'+', cost, cost_value});
        result = distance                                                  ? "distance"
                 : contains_word(q, "revenue")                             ? "revenue"
                 : contains_word(q, "earn") || contains_word(q, "make")    ? "earnings"
                 : contains_word(q, "take in") || contains_word(q, "sold") ? "revenue"
                                                                           : "cost";
      }
    }
  } else {
    d.why_open = "the question is not \"how many\" or \"how much\"";
    return d;
  }

  // Names, then the steps in the order the text gives them.
  std::set<std::string> used = {"solve"};
  std::map<std::string, int> seen;  // (owner, noun) already named
  const bool by_owner = owners.size() > 1;
  for (auto& f : F) {
    std::string base;
    if (f.kind == Fact::Given || !f.hint.empty()) {
      base = f.hint;
    } else if (f.kind == Fact::Price) {
      base = singular(py_name(f.noun, "item")) + "_price";
    } else if (f.kind == Fact::Paid) {
      base = "paid";
    } else if (f.money) {
      base = f.verb == Verb::Lose ? py_name(f.verb_word, "spent") : "money";
    } else {
      const std::string key = f.owner + "|" + singular(f.noun);
      base = py_name(f.noun, "count");
      if (seen[key]++ > 0) base = py_name(f.verb_word, "more") + "_" + base;
      if (by_owner && !f.owner.empty()) base = py_name(f.owner) + "_" + base;
    }
    f.name = unique_name(base, used);
  }
  auto resolve = [&](std::string e) {
    for (size_t i = F.size(); i-- > 0;) {
      std::string at = std::to_string(i);
      at.insert(at.begin(), '@');  // not "@" + ...: GCC 12 warns falsely (-Wrestrict) there
      for (size_t p; (p = e.find(at)) != std::string::npos;) e.replace(p, at.size(), F[i].name);
    }
    return e;
  };
  for (const auto& f : F) d.steps.push_back({f.name, resolve(f.expr), "\"" + f.text + "\""});
  std::string final_expr;
  double value = 0;
  for (size_t n = 0; n < terms.size(); ++n) {
    final_expr +=
        n == 0 ? (terms[n].sign == '-' ? "-" : "") : std::string(" ") + terms[n].sign + " ";
    final_expr += resolve(terms[n].expr);
  }
  // The value, for the sanity check only: the plan's own arithmetic is what counts.
  for (const Term& t : terms) value += t.sign == '-' ? -t.value : t.value;
  if (value < 0) {
    d.steps.clear();
    d.why_open = "the text gives a negative " + result + " (" + fmt(value) + ")";
    return d;
  }
  d.steps.push_back({unique_name(result, used), final_expr, ""});
  d.certain = true;
  return d;
}

}  // namespace precis::planner
