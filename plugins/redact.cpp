// The redact plugin: hand-written linear scanners for e-mail, phone and card numbers (std::regex
// is slow and recursive on long inputs), std::regex for user patterns.
#include "plugins/redact.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <regex>

#include "plugins/settings.hpp"

namespace precis::plugins {

namespace {

const std::string kMetaPrefix = "redact:";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_alnum(char c) {
  return is_digit(c) || is_alpha(c) || c == '_';
}

struct Span {
  size_t begin = 0;
  size_t end = 0;
  std::string label;
};

// ---- e-mail ------------------------------------------------------------------------------------

bool email_local_char(char c) {
  return is_alnum(c) || c == '.' || c == '%' || c == '+' || c == '-';
}
bool email_domain_char(char c) {
  return is_digit(c) || is_alpha(c) || c == '.' || c == '-';
}

void find_emails(const std::string& s, std::vector<Span>& out) {
  size_t from = 0;
  while (true) {
    const size_t at = s.find('@', from);
    if (at == std::string::npos) return;
    from = at + 1;
    size_t b = at;
    while (b > 0 && at - b < 64 && email_local_char(s[b - 1])) --b;
    if (b > 0 && email_local_char(s[b - 1])) continue;  // local part longer than 64: not one
    while (b < at && s[b] == '.') ++b;
    if (b == at) continue;
    size_t e = at + 1;
    while (e < s.size() && e - at - 1 < 255 && email_domain_char(s[e])) ++e;
    while (e > at + 1 && (s[e - 1] == '.' || s[e - 1] == '-')) --e;  // "a@b.com." ends a sentence
    const std::string domain = s.substr(at + 1, e - at - 1);
    const size_t dot = domain.rfind('.');
    if (dot == std::string::npos || dot == 0 || domain.find("..") != std::string::npos ||
        domain.front() == '-' || domain.front() == '.')
      continue;
    const std::string tld = domain.substr(dot + 1);
    if (tld.size() < 2 || !std::all_of(tld.begin(), tld.end(), is_alpha)) continue;
    if (e < s.size() && (is_alnum(s[e]) || s[e] == '@')) continue;
    out.push_back({b, e, "EMAIL"});
    from = e;
  }
}

// ---- payment cards -----------------------------------------------------------------------------

void find_cards(const std::string& s, std::vector<Span>& out) {
  size_t i = 0;
  while (i < s.size()) {
    if (!is_digit(s[i]) || (i > 0 && (is_alnum(s[i - 1]) || s[i - 1] == '+'))) {
      ++i;
      continue;
    }
    // The longest run of digit groups joined by single spaces or dashes.
    std::vector<size_t> groups;
    size_t j = i, end = i, group = 0;
    while (j < s.size()) {
      if (is_digit(s[j])) {
        ++group, ++j, end = j;
      } else if ((s[j] == ' ' || s[j] == '-') && group > 0 && j + 1 < s.size() &&
                 is_digit(s[j + 1])) {
        groups.push_back(group);
        group = 0;
        ++j;
      } else {
        break;
      }
    }
    groups.push_back(group);
    size_t digits = 0;
    for (size_t g : groups) digits += g;
    const bool grouping_ok =
        groups.size() == 1 ||
        std::all_of(groups.begin(), groups.end(), [](size_t g) { return g >= 3 && g <= 6; });
    const bool boundary_ok = end == s.size() || !is_alnum(s[end]);
    if (digits >= 13 && digits <= 19 && grouping_ok && boundary_ok &&
        luhn_valid(s.substr(i, end - i)))
      out.push_back({i, end, "CARD"});
    i = end;
  }
}

// ---- phones ------------------------------------------------------------------------------------

bool phone_sep(char c) {
  return c == ' ' || c == '-' || c == '.';
}

// Is the character after a candidate phone number a place where a number may end?
bool phone_end_ok(const std::string& s, size_t end) {
  if (end >= s.size()) return true;
  if (is_alnum(s[end])) return false;
  if ((s[end] == '-' || s[end] == '.') && end + 1 < s.size() && is_digit(s[end + 1])) return false;
  return true;
}

// "+CC ..." with 7 to 15 digits; returns the end, or npos.
size_t match_international(const std::string& s, size_t i) {
  if (s[i] != '+' || i + 1 >= s.size() || !is_digit(s[i + 1])) return std::string::npos;
  if (i > 0 && (is_alnum(s[i - 1]) || s[i - 1] == '+')) return std::string::npos;
  size_t j = i + 1, end = j, digits = 0;
  while (j < s.size() && j - i <= 30) {
    if (is_digit(s[j])) {
      ++digits, ++j, end = j;
    } else if (phone_sep(s[j]) && j + 1 < s.size() && (is_digit(s[j + 1]) || s[j + 1] == '(')) {
      ++j;
    } else if (s[j] == '(') {
      size_t k = j + 1, n = 0;
      while (k < s.size() && is_digit(s[k]) && n < 4) ++k, ++n;
      if (n == 0 || k >= s.size() || s[k] != ')') break;
      digits += n;
      j = k + 1;
      end = j;
      if (j < s.size() && s[j] == ' ' && j + 1 < s.size() && is_digit(s[j + 1])) ++j;
    } else {
      break;
    }
  }
  if (digits < 7 || digits > 15 || !phone_end_ok(s, end)) return std::string::npos;
  return end;
}

bool digits_at(const std::string& s, size_t i, size_t n) {
  if (i + n > s.size()) return false;
  for (size_t k = 0; k < n; ++k)
    if (!is_digit(s[i + k])) return false;
  return true;
}

// US style: [1 sep] (AAA) EEE-LLLL | AAA sep EEE sep LLLL, area code starting with 2-9.
size_t match_us(const std::string& s, size_t i) {
  if (i > 0) {
    const char p = s[i - 1];
    if (is_alnum(p) || p == '+') return std::string::npos;
    if ((p == '-' || p == '.') && i >= 2 && is_digit(s[i - 2])) return std::string::npos;
  }
  size_t j = i;
  if (s[j] == '1' && j + 1 < s.size() && phone_sep(s[j + 1])) j += 2;
  if (j < s.size() && s[j] == '(') {
    if (!digits_at(s, j + 1, 3) || j + 4 >= s.size() || s[j + 4] != ')') return std::string::npos;
    if (s[j + 1] < '2') return std::string::npos;
    j += 5;
    if (j < s.size() && (s[j] == ' ' || s[j] == '-')) ++j;
  } else {
    if (!digits_at(s, j, 3) || s[j] < '2' || j + 3 >= s.size() || !phone_sep(s[j + 3]))
      return std::string::npos;
    j += 4;
  }
  if (!digits_at(s, j, 3) || j + 3 >= s.size() || !phone_sep(s[j + 3])) return std::string::npos;
  j += 4;
  if (!digits_at(s, j, 4)) return std::string::npos;
  j += 4;
  if (!phone_end_ok(s, j)) return std::string::npos;
  return j;
}

void find_phones(const std::string& s, std::vector<Span>& out) {
  size_t i = 0;
  while (i < s.size()) {
    size_t end = std::string::npos;
    if (s[i] == '+')
      end = match_international(s, i);
    else if (is_digit(s[i]) || s[i] == '(')
      end = match_us(s, i);
    if (end != std::string::npos) {
      out.push_back({i, end, "PHONE"});
      i = end;
    } else {
      ++i;
    }
  }
}

// ---- user patterns -----------------------------------------------------------------------------

struct Pattern {
  std::regex regex;
  std::string label;
};

void find_pattern(const std::string& s, const Pattern& p, std::vector<Span>& out) {
  for (auto it = std::sregex_iterator(s.begin(), s.end(), p.regex); it != std::sregex_iterator();
       ++it) {
    if (it->length(0) == 0) continue;
    const size_t b = static_cast<size_t>(it->position(0));
    out.push_back({b, b + static_cast<size_t>(it->length(0)), p.label});
  }
}

// ---- the stage ---------------------------------------------------------------------------------

struct RedactSettings {
  bool email = true;
  bool phone = true;
  bool card = true;
  bool restore = false;
  std::vector<Pattern> patterns;
};

bool valid_label(const std::string& l) {
  return !l.empty() && l.size() <= 32 && std::all_of(l.begin(), l.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
  });
}

RedactSettings parse_settings(const std::string& json_text) {
  SettingsReader r(json_text);
  RedactSettings st;
  if (auto v = r.boolean("email")) st.email = *v;
  if (auto v = r.boolean("phone")) st.phone = *v;
  if (auto v = r.boolean("card")) st.card = *v;
  if (auto v = r.boolean("restore")) st.restore = *v;
  if (const auto* v = r.get("patterns")) {
    if (!v->is_array())
      SettingsReader::fail("/patterns", std::string("expected an array, got ") + v->type_name());
    for (size_t i = 0; i < v->size(); ++i) {
      const auto& p = (*v)[i];
      const std::string path = "/patterns/" + std::to_string(i);
      std::string regex, label = "REDACTED";
      if (p.is_string()) {
        regex = p.get<std::string>();
      } else if (p.is_object()) {
        for (auto it = p.begin(); it != p.end(); ++it)
          if (it.key() != "regex" && it.key() != "label")
            SettingsReader::fail(path + "/" + it.key(), "unknown key (known: label, regex)");
        if (!p.contains("regex") || !p["regex"].is_string())
          SettingsReader::fail(path + "/regex", "expected a string");
        regex = p["regex"].get<std::string>();
        if (p.contains("label")) {
          if (!p["label"].is_string() || !valid_label(p["label"].get<std::string>()))
            SettingsReader::fail(path + "/label", "expected 1 to 32 of A-Z, 0-9 and _");
          label = p["label"].get<std::string>();
        }
      } else {
        SettingsReader::fail(path,
                             std::string("expected a string or an object, got ") + p.type_name());
      }
      if (regex.empty()) SettingsReader::fail(path, "empty regular expression");
      try {
        st.patterns.push_back({std::regex(regex, std::regex::ECMAScript), label});
      } catch (const std::regex_error& e) {
        SettingsReader::fail(path, "invalid regular expression \"" + regex + "\": " + e.what());
      }
    }
  }
  r.finish();
  return st;
}

// One request's masking state: value -> placeholder, and per-label counters.
class Masker {
 public:
  explicit Masker(const RedactSettings& st) : st_(st) {}

  std::string mask(const std::string& s) {
    std::vector<Span> found;
    // Priority order: an earlier detector's span wins over an overlapping later one.
    std::vector<std::vector<Span>> by_kind(3 + st_.patterns.size());
    if (st_.email) find_emails(s, by_kind[0]);
    if (st_.card) find_cards(s, by_kind[1]);
    if (st_.phone) find_phones(s, by_kind[2]);
    for (size_t p = 0; p < st_.patterns.size(); ++p)
      find_pattern(s, st_.patterns[p], by_kind[3 + p]);
    std::map<size_t, Span> accepted;  // by begin
    for (auto& kind : by_kind)
      for (auto& sp : kind) {
        auto next = accepted.lower_bound(sp.begin);
        if (next != accepted.end() && next->second.begin < sp.end) continue;
        if (next != accepted.begin() && std::prev(next)->second.end > sp.begin) continue;
        accepted.emplace(sp.begin, std::move(sp));
      }
    if (accepted.empty()) return s;
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    for (const auto& [begin, sp] : accepted) {
      out.append(s, pos, begin - pos);
      out += placeholder(s.substr(begin, sp.end - begin), sp.label);
      pos = sp.end;
    }
    out.append(s, pos, std::string::npos);
    return out;
  }

  const std::map<std::string, std::string>& originals() const { return original_; }
  size_t masked() const { return placeholder_.size(); }

 private:
  std::string placeholder(const std::string& value, const std::string& label) {
    auto it = placeholder_.find(value);
    if (it != placeholder_.end()) return it->second;
    const std::string ph = "[" + label + "_" + std::to_string(++count_[label]) + "]";
    placeholder_.emplace(value, ph);
    original_.emplace(ph, value);
    return ph;
  }

  const RedactSettings& st_;
  std::map<std::string, std::string> placeholder_;  // value -> placeholder
  std::map<std::string, std::string> original_;     // placeholder -> value
  std::map<std::string, int> count_;
};

bool placeholder_char(char c) {
  return (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

// Replaces "[LABEL_N]" and, since compression may drop the brackets, a bare LABEL_N word, when
// the request's mapping knows it. Other text (including unknown placeholders) is kept.
std::string restore(const std::string& s, const std::map<std::string, std::string>& meta) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (!(s[i] >= 'A' && s[i] <= 'Z') || (i > 0 && is_alnum(s[i - 1]))) {
      out += s[i++];
      continue;
    }
    size_t j = i;
    while (j < s.size() && placeholder_char(s[j]) && j - i <= 40) ++j;
    auto it = (j < s.size() && is_alnum(s[j]))
                  ? meta.end()
                  : meta.find(kMetaPrefix + "[" + s.substr(i, j - i) + "]");
    if (it == meta.end()) {
      out.append(s, i, j - i);
      i = j;
      continue;
    }
    const bool bracketed = i > 0 && s[i - 1] == '[' && j < s.size() && s[j] == ']';
    if (bracketed) out.pop_back();  // the '[' just copied
    out += it->second;
    i = bracketed ? j + 1 : j;
  }
  return out;
}

// Streamed text with the request's placeholders put back. A delta may end inside a placeholder
// ("...[EMA" + "IL_1]..."), so a tail that could still become one is held back until the next
// delta or the end: the tail from the last '[' or from the start of a trailing run of A-Z, 0-9
// and _ (a bare LABEL_N), when it is short enough to be a placeholder.
class RestoreFilter : public StreamFilter {
 public:
  explicit RestoreFilter(const std::map<std::string, std::string>& meta) : meta_(meta) {}

  std::string push(const std::string& delta) override {
    held_ += delta;
    const size_t keep = held_tail();
    std::string out = restore(held_.substr(0, held_.size() - keep), meta_);
    held_.erase(0, held_.size() - keep);
    return out;
  }
  std::string finish() override {
    std::string out = restore(held_, meta_);
    held_.clear();
    return out;
  }

 private:
  // How many trailing bytes of held_ may still be (part of) a placeholder.
  size_t held_tail() const {
    constexpr size_t kLongest = 48;  // "[" + 32-char label + "_" + digits + "]"
    size_t b = held_.size();
    while (b > 0 && placeholder_char(held_[b - 1]) && held_.size() - b < kLongest) --b;
    if (b > 0 && held_[b - 1] == '[') --b;
    if (b == held_.size()) return 0;
    // A run that starts inside a word is not a placeholder (restore() skips it too).
    if (held_[b] != '[' && b > 0 && is_alnum(held_[b - 1])) return 0;
    return held_.size() - b;
  }

  const std::map<std::string, std::string>& meta_;
  std::string held_;
};

// Every string of a JSON text (object keys included) masked; text that is not JSON is masked as
// text, so that nothing leaves unmasked.
nlohmann::json mask_json_value(const nlohmann::json& v, Masker& m) {
  if (v.is_string()) return m.mask(v.get<std::string>());
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : v) out.push_back(mask_json_value(e, m));
    return out;
  }
  if (v.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[m.mask(it.key())] = mask_json_value(*it, m);
    return out;
  }
  return v;
}

std::string mask_json_strings(const std::string& text, Masker& m) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return m.mask(text);
  return mask_json_value(j, m).dump();
}

class RedactStage : public Stage {
 public:
  explicit RedactStage(RedactSettings st) : st_(std::move(st)) {}

  std::string name() const override { return "redact"; }

  void before(Request& request) override {
    requests_.fetch_add(1, std::memory_order_relaxed);
    Masker m(st_);
    request.prompt = m.mask(request.prompt);
    request.question = m.mask(request.question);
    for (auto& c : request.contexts) c = m.mask(c);
    for (auto& msg : request.messages) msg.content = m.mask(msg.content);
    // The rest of the request's text the model (or an upstream) is given: stop strings, and every
    // string of a response_format schema (an enum of e-mail addresses, say).
    if (request.generate) {
      for (auto& stop : request.generate->stop) stop = m.mask(stop);
      if (!request.generate->json_schema.empty())
        request.generate->json_schema = mask_json_strings(request.generate->json_schema, m);
    }
    masked_.fetch_add(m.masked(), std::memory_order_relaxed);
    if (st_.restore)
      for (const auto& [ph, value] : m.originals()) request.metadata[kMetaPrefix + ph] = value;
  }

  void after(const Request& request, Result& result) override {
    if (!st_.restore) return;
    for (auto& c : result.choices) c.text = restore(c.text, request.metadata);
    result.text = restore(result.text, request.metadata);
  }

  std::unique_ptr<StreamFilter> stream_filter(const Request& request) const override {
    if (!st_.restore) return nullptr;
    return std::make_unique<RestoreFilter>(request.metadata);
  }

  std::vector<std::pair<std::string, double>> metrics() const override {
    return {{"precis_redact_requests_total", static_cast<double>(requests_.load())},
            {"precis_redact_masked_total", static_cast<double>(masked_.load())}};
  }

 private:
  const RedactSettings st_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> masked_{0};
};

}  // namespace

bool luhn_valid(const std::string& digits) {
  int sum = 0, n = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (!is_digit(*it)) continue;
    int d = *it - '0';
    if (n++ % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return n > 0 && sum % 10 == 0;
}

std::unique_ptr<Stage> make_redact_stage(const std::string& settings_json) {
  return std::make_unique<RedactStage>(parse_settings(settings_json));
}

}  // namespace precis::plugins
