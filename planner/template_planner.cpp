#include "planner/template_planner.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "planner/plan_eval.hpp"
#include "planner/plan_text.hpp"
#include "planner/word_problem.hpp"

namespace precis::planner {
namespace {

// How readily a statement is dropped to fit the budget: higher goes first.
enum Priority { kCore = 0, kInput = 1, kConstraint = 2, kStep = 3, kNote = 4 };

struct Stmt {
  std::string line;               // at the function body's indentation
  std::vector<std::string> body;  // nested lines, already indented relative to `line`
  int priority = kStep;
};

constexpr const char* kIndent = "    ";

class Builder {
 public:
  std::string header;
  std::vector<Stmt> stmts;
  std::set<std::string> used;                 // variable names taken
  size_t constraints_at = std::string::npos;  // where the answer's checks begin

  // Lines must stay within the grammar's length limit: a statement that would not loses its
  // trailing comment, and is left out if even that is not enough.
  void add(int priority, std::string line, std::vector<std::string> body = {}) {
    if (!fits(line, 1)) strip_comment(line);
    for (auto& l : body)
      if (!fits(l, 2)) strip_comment(l);
    if (!fits(line, 1)) return;
    for (const auto& l : body)
      if (!fits(l, 2)) return;  // `l` carries its own deeper indentation
    stmts.push_back({std::move(line), std::move(body), priority});
  }
  static bool fits(const std::string& l, size_t depth) {
    return l.size() + 4 * depth <= static_cast<size_t>(kMaxPlanLineChars);
  }
  // Comments are appended as "  # ..."; py_str collapses spaces, so that never occurs inside
  // a string literal.
  static void strip_comment(std::string& l) {
    const size_t at = l.find("  # ");
    if (at != std::string::npos) l.resize(at);
  }
  std::string render(const std::vector<bool>& keep) const {
    std::vector<std::string> lines = {header};
    for (size_t i = 0; i < stmts.size(); ++i) {
      if (!keep[i]) continue;
      lines.push_back(kIndent + stmts[i].line);
      for (const auto& b : stmts[i].body) lines.push_back(kIndent + std::string(kIndent) + b);
    }
    return join_lines(lines);
  }
  int lines(const std::vector<bool>& keep) const {
    int n = 1;
    for (size_t i = 0; i < stmts.size(); ++i)
      if (keep[i]) n += 1 + static_cast<int>(stmts[i].body.size());
    return n;
  }
};

std::string low_of(const RequestAnalysis& a) {
  std::string all = a.first_sentence;
  for (const auto& st : a.statements) all += " " + st;
  for (const auto& q : a.questions) all += " " + q;
  return to_lower(all);
}

bool any_word(const std::string& low, std::initializer_list<std::string_view> ws) {
  for (auto w : ws)
    if (contains_word(low, w)) return true;
  return false;
}

// `name = value  # "text"` for each quantity; returns the names in order.
std::vector<const Quantity*> add_quantities(Builder& b, const RequestAnalysis& a, int priority) {
  std::vector<const Quantity*> out;
  for (const auto& q : a.quantities) {
    if (out.size() >= 10) break;
    b.used.insert(q.name);
    b.add(priority, q.name + " = " + q.value + "  # " + comment_text("\"" + q.text + "\"", 60));
    out.push_back(&q);
  }
  return out;
}

std::string name_for(Builder& b, const std::string& wanted) {
  return unique_name(wanted, b.used);
}

std::string main_question(const RequestAnalysis& a) {
  if (!a.questions.empty()) return a.questions.front();
  if (!a.instruction.empty()) return a.instruction;
  return a.first_sentence;
}

// The request's demands on the answer, applied to `var` before it is returned.
// Constraints written inside one listed part apply to that part, not to the whole answer.
bool inside_an_item(const RequestAnalysis& a, const Constraint& c) {
  if (a.kind != TaskKind::multi_part) return false;
  const std::string t = to_lower(c.text);
  for (const auto& item : a.items)
    if (to_lower(item).find(t) != std::string::npos) return true;
  return false;
}

void add_constraints(Builder& b, const RequestAnalysis& a, const std::string& var) {
  b.constraints_at = b.stmts.size();
  std::vector<const Constraint*> formats;
  for (const auto& c : a.constraints) {
    if (inside_an_item(a, c)) continue;
    const std::string& k = c.kind;
    const std::string why = "  # " + comment_text("\"" + c.text + "\"", 50);
    if (k == "step_by_step") continue;  // stated up front, see add_step_flag
    if (k == "format") {
      formats.push_back(&c);
      continue;
    }
    if (k == "language") {
      b.add(kConstraint, var + " = translate(" + var + ", " + py_str(c.value) + ")" + why);
    } else if (k == "brief") {
      b.add(kConstraint, var + " = tighten(" + var + ")" + why);
    } else if (k == "cite") {
      b.add(kConstraint, var + " = add_sources(" + var + ")" + why);
    } else if (k == "audience") {
      b.add(kConstraint, var + " = adapt(" + var + ", audience=" + py_str(c.value, 30) + ")");
    } else if (k == "avoid") {
      b.add(kConstraint, "if mentions(" + var + ", " + py_str(c.value, 40) + "):",
            {var + " = rewrite_without(" + var + ", " + py_str(c.value, 40) + ")"});
    } else {
      // max_words, min_sentences, exact_items, ...
      const size_t us = k.find('_');
      if (us == std::string::npos) continue;
      const std::string limit = k.substr(0, us), unit = k.substr(us + 1);
      const std::string counter = unit == "chars"        ? "len(" + var + ")"
                                  : unit == "words"      ? "word_count(" + var + ")"
                                  : unit == "sentences"  ? "sentence_count(" + var + ")"
                                  : unit == "paragraphs" ? "paragraph_count(" + var + ")"
                                  : unit == "lines"      ? "line_count(" + var + ")"
                                                         : "item_count(" + var + ")";
      const std::string kw = unit == "words" ? "" : unit + "=";
      if (limit == "max")
        b.add(kConstraint, "if " + counter + " > " + c.value + ":" + why,
              {var + " = shorten(" + var + ", " + kw + c.value + ")"});
      else if (limit == "min")
        b.add(kConstraint, "if " + counter + " < " + c.value + ":" + why,
              {var + " = expand(" + var + ", " + kw + c.value + ")"});
      else
        b.add(kConstraint, "if " + counter + " != " + c.value + ":" + why,
              {var + " = fit(" + var + ", " + (unit == "words" ? "words=" : kw) + c.value + ")"});
    }
  }
  // Format last: it is the shape the reader receives.
  for (const Constraint* c : formats) {
    const std::string& f = c->value;
    const std::string fn = f == "json"            ? "to_json"
                           : f == "yaml"          ? "to_yaml"
                           : f == "csv"           ? "to_csv"
                           : f == "xml"           ? "to_xml"
                           : f == "table"         ? "as_table"
                           : f == "numbered_list" ? "as_numbered_list"
                           : f == "bullets"       ? "as_bullets"
                                                  : "as_markdown";
    b.add(kConstraint,
          var + " = " + fn + "(" + var + ")  # " + comment_text("\"" + c->text + "\"", 40));
  }
}

void add_step_flag(Builder& b, const RequestAnalysis& a) {
  for (const auto& c : a.constraints)
    if (c.kind == "step_by_step") {
      b.used.insert("show_work");
      b.add(kConstraint, "show_work = True  # " + comment_text("\"" + c.text + "\"", 40));
      return;
    }
}

// Names and figures the plan has not mentioned yet, so that every plan carries the request's
// own particulars whatever its kind.
void add_leftovers(Builder& b, const RequestAnalysis& a) {
  std::vector<bool> all(b.stmts.size(), true);
  const std::string so_far = b.render(all);
  std::vector<std::string> missing;
  for (const auto& e : a.entities)
    if (so_far.find(e) == std::string::npos) missing.push_back(e);
  for (const auto& e : a.identifiers)
    if (so_far.find(e) == std::string::npos) missing.push_back(e);
  if (missing.empty()) return;
  Stmt s{name_for(b, "also_given") + " = " + py_list(missing, 90, 36), {}, kStep};
  // Before the checks on the answer, which read best last.
  const size_t at = std::min(b.constraints_at, b.stmts.size());
  b.stmts.insert(b.stmts.begin() + static_cast<long>(at), std::move(s));
}

// ---- the kinds -------------------------------------------------------------------------------

// The number a certain derivation's steps compute ("240", "12.5"), by running them as the plan
// evaluator would; "" when they do not evaluate.
std::string certain_value(const Derivation& d) {
  std::string code = "def solve():\n";
  for (const auto& s : d.steps) code += "    " + s.name + " = " + s.expr + "\n";
  code += "    return " + d.steps.back().name + "\n";
  const PlanEvaluation e = evaluate_plan(code);
  if (!e.asserts || !std::isfinite(e.value)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", e.value);
  std::string out = buf;  // at most two decimals, trailing zeros dropped: "240", "12.5"
  while (out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  return out;
}

// A value is computed only from a derivation that is certain (word_problem.hpp); otherwise the
// plan names the quantities and leaves the computation to the model as one named sub-goal,
// because a plan that asserts a wrong value misleads more than no plan.
std::string build_arithmetic(Builder& b, const RequestAnalysis& a) {
  b.header = "def solve():";
  const Derivation d = derive_word_problem(a);
  if (d.certain) {
    b.add(kNote, "# arithmetic: every given quantity is used and the units agree");
    add_step_flag(b, a);
    for (const auto& s : d.steps) b.used.insert(s.name);
    const std::string value = certain_value(d);
    for (size_t i = 0; i < d.steps.size(); ++i) {
      const auto& s = d.steps[i];
      std::string comment = s.comment.empty() ? "" : comment_text(s.comment, 50);
      // The answer's value, worked out here: a small model copies a number far more reliably
      // than it multiplies. Certain by construction: it is what the plan's own code returns.
      if (i + 1 == d.steps.size() && !value.empty() && s.expr != value)
        comment = comment.empty() ? "= " + value : comment + ", = " + value;
      b.add(kCore, s.name + " = " + s.expr + (comment.empty() ? "" : "  # " + comment));
    }
    add_constraints(b, a, d.steps.back().name);
    return d.steps.back().name;
  }
  b.add(kNote, "# arithmetic: " + comment_text("not derived with certainty (" + d.why_open +
                                                   "), so solve() is left open",
                                               90));
  add_step_flag(b, a);
  if (!a.entities.empty()) b.add(kStep, name_for(b, "names") + " = " + py_list(a.entities));
  const auto qs = add_quantities(b, a, kInput);
  // solve("question", the quantities by name, relations in words), cut to the line limit.
  const std::string result = name_for(b, "result");
  std::string call = result + " = solve(" + py_str(main_question(a), 50);
  std::set<std::string> args;
  auto append = [&](const std::string& arg) {
    if (call.size() + arg.size() + 3 + 4 <= static_cast<size_t>(kMaxPlanLineChars))
      call += ", " + arg;
  };
  for (const Quantity* q : qs) append(q->name);
  for (const auto& [noun, phrase] : d.relations) {
    const std::string key = py_name(noun, "related") + "_is";
    if (args.insert(key).second) append(key + "=" + py_str(phrase, 30));
  }
  b.add(kCore, call + ")");
  add_constraints(b, a, result);
  return result;
}

// "the spouse of the director of Titanic" -> hops spouse <- director <- Titanic.
std::vector<std::string> of_chain(const std::string& question) {
  std::string q = question;
  while (!q.empty() && (q.back() == '?' || q.back() == '.')) q.pop_back();
  const std::string low = to_lower(q);
  size_t the = low.find(" the ");
  if (the == std::string::npos) return {};
  std::string np = q.substr(the + 1);
  std::vector<std::string> parts;
  size_t from = 0;
  const std::string npl = to_lower(np);
  for (size_t at; (at = npl.find(" of ", from)) != std::string::npos; from = at + 4)
    parts.push_back(np.substr(from, at - from));
  parts.push_back(np.substr(from));
  for (auto& p : parts) {
    for (std::string_view det : {"the ", "a ", "an ", "The "})
      if (p.rfind(det, 0) == 0) p = p.substr(det.size());
    p = trim_copy(p);
  }
  if (parts.size() < 2) return {};
  return parts;
}

std::string build_multi_hop(Builder& b, const RequestAnalysis& a) {
  b.header = "def answer():";
  b.add(kNote, "# multi-hop: answer each hop in order, feeding each answer into the next");
  add_step_flag(b, a);
  if (!a.entities.empty()) b.add(kInput, name_for(b, "known") + " = " + py_list(a.entities));
  add_quantities(b, a, kInput);
  const std::string q = main_question(a);
  const std::string ql = to_lower(q);
  const std::string result = name_for(b, "result");
  static const std::vector<std::pair<std::string_view, std::string_view>> kCompare = {
      {"older", "birth date"}, {"younger", "birth date"}, {"earlier", "date"}, {"later", "date"},
      {"first", "date"},       {"taller", "height"},      {"larger", "size"},  {"bigger", "size"},
      {"smaller", "size"},     {"longer", "length"}};
  std::string attribute;
  if (const size_t same = ql.find("same "); same != std::string::npos) {
    size_t e = ql.find_first_of(" ?.,", same + 5);
    attribute = q.substr(same + 5, (e == std::string::npos ? q.size() : e) - same - 5);
  }
  for (const auto& [w, attr] : kCompare)
    if (attribute.empty() && contains_word(ql, w)) attribute = std::string(attr);
  if (attribute.empty() && a.entities.size() >= 2 && contains_word(ql, "both"))
    attribute = "the property asked about";

  const auto chain = a.questions.empty() ? std::vector<std::string>{} : of_chain(q);
  if (!attribute.empty() && a.entities.size() >= 2) {
    // Comparison: the same lookup for each named thing, then compare.
    const std::string facts = name_for(b, "facts");
    b.add(kCore, facts + " = {}");
    std::vector<std::string> names(a.entities.begin(),
                                   a.entities.begin() + std::min<size_t>(a.entities.size(), 4));
    b.add(kCore, "for name in " + py_list(names, 70) + ":",
          {facts + "[name] = lookup(name, " + py_str(attribute, 30) + ")"});
    b.add(kCore, result + " = compare(" + facts + ", " + py_str(q, 60) + ")");
  } else if (a.questions.size() >= 2) {
    const std::string facts = name_for(b, "facts");
    b.add(kCore, facts + " = {}");
    b.add(kCore, "for q in " + py_list(a.questions, 90, 44) + ":",
          {facts + "[q] = lookup(q, given=" + facts + ")  # later hops use earlier answers"});
    b.add(kCore, result + " = combine(" + facts + ")");
  } else if (chain.size() >= 2) {
    // Resolve from the innermost thing outwards.
    std::string prev = name_for(b, py_name(chain.back(), "start"));
    b.add(kCore, prev + " = find(" + py_str(chain.back(), 60) + ")");
    for (size_t k = chain.size() - 1; k-- > 0;) {
      const std::string v = name_for(b, py_name(chain[k], "hop"));
      b.add(kCore, v + " = relation(" + prev + ", " + py_str(chain[k], 40) + ")");
      prev = v;
    }
    b.add(kCore, result + " = " + prev);
  } else {
    // One question with a relative clause: resolve the clause first.
    std::string inner, outer = q;
    for (std::string_view m : {" that ", " who ", " which ", " where ", " whose ", " whom "}) {
      const size_t at = ql.find(m);
      if (at == std::string::npos || at < ql.find(' ')) continue;
      size_t np = ql.rfind(' ', at - 1);
      np = np == std::string::npos ? 0 : np + 1;
      inner = q.substr(np);
      outer = trim_copy(q.substr(0, np));
      // "Who wrote the" + novel -> "Who wrote" + novel.
      for (std::string_view det : {" the", " a", " an"})
        if (outer.size() > det.size() &&
            to_lower(outer).compare(outer.size() - det.size(), det.size(), det) == 0)
          outer.resize(outer.size() - det.size());
      break;
    }
    if (!inner.empty()) {
      while (!inner.empty() && inner.back() == '?') inner.pop_back();
      const std::string v = name_for(b, py_name(inner.substr(0, inner.find(' ')), "bridge"));
      b.add(kCore, v + " = find(" + py_str(inner, 70) + ")  # the inner hop first");
      b.add(kCore, result + " = ask(" + py_str(trim_copy(outer), 50) + ", " + v + ")");
    } else {
      b.add(kCore, result + " = lookup(" + py_str(q, 70) + ")");
    }
  }
  b.add(kStep, "if not supported(" + result + "):",
        {result + " = recheck(" + result + ")  # each hop must be backed by a fact"});
  add_constraints(b, a, result);
  return result;
}

std::string build_code_change(Builder& b, const RequestAnalysis& a) {
  b.header = "def change_code():";
  b.add(kNote, "# code change: find the code, understand it, change it, verify it");
  const std::string low = low_of(a);
  // The goal is the sentence that asks for the change ("Fix it so that ..."), not the one that
  // introduces the code.
  std::string goal = a.instruction.empty() ? main_question(a) : a.instruction;
  for (const auto& st : a.statements)
    if (any_word(to_lower(st), {"fix", "refactor", "rename", "implement", "add", "change", "make",
                                "optimize", "optimise", "remove", "rewrite", "update", "port",
                                "migrate", "support", "debug"})) {
      goal = st;
      break;
    }
  b.add(kCore, name_for(b, "goal") + " = " + py_str(goal, 80));
  std::vector<std::string> targets = a.identifiers;
  for (const auto& e : a.entities) targets.push_back(e);
  std::string code = name_for(b, "code");
  if (!targets.empty()) {
    b.add(kInput, name_for(b, "targets") + " = " + py_list(targets, 90, 32));
    b.add(kCore, code + " = read(targets)");
  } else {
    b.add(kCore, code + " = read(" + py_str("the code the request shows", 40) + ")");
  }
  add_quantities(b, a, kInput);
  const std::string patch = name_for(b, "patch");
  if (any_word(low, {"bug", "fix", "error", "crash", "crashes", "exception", "fails", "failing",
                     "broken", "wrong", "segfault", "debug", "incorrect"})) {
    b.add(kCore, name_for(b, "failure") + " = reproduce(goal)");
    b.add(kCore, name_for(b, "cause") + " = find_cause(" + code + ", failure)");
    b.add(kCore, patch + " = edit(" + code + ", fix=cause)");
  } else if (any_word(low, {"refactor", "clean up", "simplify", "rename", "restructure", "split",
                            "extract"})) {
    b.add(kCore, patch + " = refactor(" + code + ", goal, keep_behaviour=True)");
  } else if (any_word(low, {"optimize", "optimise", "faster", "speed up", "performance", "slow",
                            "memory"})) {
    b.add(kCore, name_for(b, "baseline") + " = measure(" + code + ")");
    b.add(kCore, patch + " = optimise(" + code + ", goal)");
    b.add(kStep, "if measure(" + patch + ") >= baseline:",
          {patch + " = rethink(" + code + ", goal)  # no gain: try another approach"});
  } else {
    b.add(kCore, patch + " = implement(" + code + ", goal)");
  }
  if (!a.identifiers.empty())
    b.add(kStep, "for caller in callers(" + py_str(a.identifiers.front(), 40) + "):",
          {"update(caller, " + patch + ")  # keep every call site consistent"});
  add_step_flag(b, a);
  if (any_word(low, {"test", "tests", "unit test", "unit tests"}))
    b.add(kStep, "add_tests(" + patch + ")");
  b.add(kStep, "if not tests_pass(" + patch + "):", {patch + " = revise(" + patch + ")"});
  add_constraints(b, a, patch);
  return patch;
}

// Steps and edge cases a request's own words call for: (cue, step) and (cue, edge case).
struct Cue {
  std::initializer_list<std::string_view> words;
  std::string_view what;
};

// "reverses" -> "reverse", "matches" -> "match", "sorts" -> "sort".
std::string verb_stem(const std::string& w) {
  if (w.size() < 4 || w.back() != 's' || w[w.size() - 2] == 's') return w;
  for (std::string_view end : {"sses", "shes", "ches", "xes", "zes"})
    if (w.size() > end.size() && w.compare(w.size() - end.size(), end.size(), end) == 0)
      return w.substr(0, w.size() - 2);
  return w.substr(0, w.size() - 1);
}

// The function's name: the verb and object of "that returns the k most frequent words",
// "to reverse a linked list" ("returns" itself is dropped), articles and one-letter names out.
std::string function_name(const std::string& low) {
  size_t at = std::string::npos;
  for (std::string_view m : {" that ", " which ", " to "})
    if (const size_t p = low.find(m); p != std::string::npos && p < at) at = p + m.size();
  if (at == std::string::npos) return "solution";
  std::vector<std::string> words;
  size_t i = at;
  while (i < low.size() && words.size() < 5) {
    size_t j = i;
    while (j < low.size() && (std::isalnum(static_cast<unsigned char>(low[j])) || low[j] == '_'))
      ++j;
    if (j == i) break;
    const std::string w = low.substr(i, j - i);
    if (any_word(w, {"in", "of", "from", "for", "with", "given", "into", "on", "over", "by", "and",
                     "or", "ignoring", "using", "without", "while"}))
      break;
    if (w == "whether" || w == "if") {
      // A yes/no question is a predicate: "whether a list has duplicates" -> has_duplicates.
      for (std::string_view v : {" has ", " have ", " is ", " are ", " contains ", " contain "})
        if (const size_t p = low.find(v, j); p != std::string::npos) {
          size_t s = p + v.size();
          for (std::string_view art : {"a ", "an ", "the ", "any "})
            if (low.compare(s, art.size(), art) == 0) s += art.size();
          size_t e = s;
          while (e < low.size() && std::isalpha(static_cast<unsigned char>(low[e]))) ++e;
          if (e > s) return py_name(trim_copy(v) + "_" + low.substr(s, e - s), "solution");
        }
    }
    if (w.size() > 1 && !any_word(w, {"the", "an", "returns", "return", "whether", "is", "are",
                                      "if", "all", "every", "each"}))
      words.push_back(words.empty() ? verb_stem(w) : w);
    i = j;
    if (i < low.size() && (low[i] == ',' || low[i] == '.')) break;
    while (i < low.size() && low[i] == ' ') ++i;
  }
  std::string name;
  for (const auto& w : words) name += (name.empty() ? "" : "_") + w;
  return py_name(name, "solution");
}

// Parameters: the one-letter names the request uses ("k"), then the things it works on ("in a
// text" -> text, "a list of numbers" -> numbers).
std::vector<std::string> parameters(const std::string& low) {
  std::vector<std::string> params;
  auto add = [&](const std::string& p) {
    if (!p.empty() && std::find(params.begin(), params.end(), p) == params.end())
      params.push_back(p);
  };
  for (std::string_view lead : {"list of ", "array of ", "sequence of ", "set of ", "string of ",
                                " in a ", " in an ", " of a ", " of an ", " from a ", " from an ",
                                " given a ", " given an ", " takes a ", " takes an "}) {
    const size_t p = low.find(lead);
    if (p == std::string::npos) continue;
    size_t s = p + lead.size();
    size_t e = s;
    while (e < low.size() && (std::isalpha(static_cast<unsigned char>(low[e])) || low[e] == '_'))
      ++e;
    const std::string w = low.substr(s, e - s);
    if (w.size() > 1 && !any_word(w, {"list", "array", "sequence", "set", "given", "number"}))
      add(py_name(w, "data"));
  }
  for (size_t i = 0; i + 1 < low.size(); ++i)
    if ((i == 0 || low[i - 1] == ' ') && low[i] >= 'a' && low[i] <= 'z' && low[i] != 'a' &&
        low[i] != 'i' && (low[i + 1] == ' ' || low[i + 1] == ',' || low[i + 1] == '.'))
      add(std::string(1, low[i]));
  if (params.empty()) add("data");
  return params;
}

std::string build_code(Builder& b, const RequestAnalysis& a) {
  b.header = "def write_code():";
  b.add(kNote, "# code: a signature, the steps, the edge cases, then a test");
  add_step_flag(b, a);
  const std::string low = low_of(a);
  const std::string goal = a.instruction.empty() ? main_question(a) : a.instruction;
  b.add(kNote, name_for(b, "goal") + " = " + py_str(goal, 90));
  const std::string fn = function_name(to_lower(goal));
  const std::vector<std::string> params = parameters(to_lower(goal));
  std::string sig = fn + "(";
  for (size_t i = 0; i < params.size(); ++i) sig += (i ? ", " : "") + params[i];
  sig += ")";
  const std::string signature = name_for(b, "signature");
  b.add(kCore, signature + " = " + py_str("def " + sig, 70));
  const bool has_k = std::find(params.begin(), params.end(), "k") != params.end() ||
                     std::find(params.begin(), params.end(), "n") != params.end();
  const std::string kn = std::find(params.begin(), params.end(), "k") != params.end() ? "k" : "n";
  static const Cue kSteps[] = {
      {{"ignoring case", "case-insensitive", "case insensitive", "ignore case"}, "lower-case"},
      {{"word", "words"}, "split into words"},
      {{"frequent", "frequency", "count", "occurrences", "most common"}, "count each"},
      {{"frequent", "most common", "top"}, "sort by count, high first"},
      {{"duplicate", "duplicates", "unique", "distinct"}, "keep a set of items seen"},
      {{"reverse", "reverses", "reversed"}, "walk from the end"},
      {{"palindrome"}, "compare it with its reverse"},
      {{"sort", "sorted", "sorts"}, "sort the items"},
      {{"largest", "smallest", "maximum", "minimum", "max", "min"}, "scan once, keep the best"},
      {{"prime", "primes"}, "trial division up to the square root"},
      {{"sum", "total"}, "add the values up"},
      {{"parse", "valid", "validate"}, "check each part, reject bad input"}};
  std::vector<std::string> steps;
  for (const Cue& c : kSteps)
    if (any_word(low, c.words)) steps.emplace_back(c.what);
  if (has_k) steps.push_back("take the first " + kn);
  if (steps.empty()) steps = {"read the input", "compute what is asked", "return it"};
  b.add(kCore, name_for(b, "steps") + " = " + py_list(steps, 104, 30));
  std::vector<std::string> edges;
  for (const auto& p : params)
    if (p.size() > 1) edges.push_back("empty " + p);
  if (has_k) {
    edges.push_back(kn + " <= 0");
    edges.push_back(kn + " > number of items");
  }
  static const Cue kEdges[] = {
      {{"frequent", "most common", "top"}, "ties"},
      {{"word", "words"}, "punctuation"},
      {{"ignoring case", "case-insensitive", "case insensitive", "ignore case"}, "mixed case"},
      {{"number", "numbers", "integers", "integer"}, "negative numbers"},
      {{"duplicate", "duplicates"}, "all items the same"}};
  for (const Cue& c : kEdges)
    if (any_word(low, c.words)) edges.emplace_back(c.what);
  if (edges.empty()) edges.push_back("empty input");
  const std::string edge = name_for(b, "edge_cases");
  b.add(kCore, edge + " = " + py_list(edges, 60, 24));
  const std::string code = name_for(b, "code");
  b.add(kCore, code + " = implement(signature, steps, handle=" + edge + ")");
  const std::string test = name_for(b, "test");
  b.add(kCore, test + " = write_test(signature, " + edge + ")");
  b.add(kStep, "if not passes(" + code + ", " + test + "):",
        {code + " = revise(" + code + ", " + test + ")"});
  add_constraints(b, a, code);
  return code;
}

std::string build_summary(Builder& b, const RequestAnalysis& a) {
  b.header = "def summarize(text):";
  b.add(kNote, "# summary: each part's main point, keep the facts that matter, condense");
  add_step_flag(b, a);
  if (!a.instruction.empty() || !a.questions.empty())
    b.add(kNote, "# asked: " + comment_text("\"" + main_question(a) + "\"", 80));
  const std::string points = name_for(b, "points");
  b.add(kCore, points + " = []");
  const std::string unit = a.paragraphs > 1 ? "paragraphs" : "sentences";
  const int n = a.paragraphs > 1 ? a.paragraphs : a.sentences;
  b.add(kCore,
        "for part in " + unit + "(text):  # " + std::to_string(n) + " " +
            (n == 1 ? unit.substr(0, unit.size() - 1) : unit),
        {points + ".append(main_point(part))"});
  if (!a.entities.empty())
    b.add(kInput,
          name_for(b, "names") + " = " + py_list(a.entities, 90, 30) + "  # keep these names");
  std::vector<std::string> figures;
  for (const auto& q : a.quantities) figures.push_back(q.text);
  if (!figures.empty())
    b.add(kInput,
          name_for(b, "figures") + " = " + py_list(figures, 90, 30) + "  # keep these figures");
  const std::string summary = name_for(b, "summary");
  b.add(kCore, summary + " = condense(" + points + ")");
  b.add(kStep, "for fact in " + std::string(figures.empty() ? "names" : "figures") + ":",
        {"if fact not in " + summary + " and matters(fact):",
         std::string(kIndent) + summary + " = include(" + summary + ", fact)"});
  if (a.entities.empty() && figures.empty()) b.stmts.pop_back();
  add_constraints(b, a, summary);
  return summary;
}

// "extract all the email addresses from the text" -> "email addresses".
std::string extraction_target(const RequestAnalysis& a) {
  const std::string src = a.instruction.empty() ? main_question(a) : a.instruction;
  const std::string low = to_lower(src);
  for (std::string_view cue : {"extract all", "extract every", "extract", "list all", "list every",
                               "list each", "list the", "find all", "find every", "identify all",
                               "pull out", "get all", "collect all", "enumerate all"}) {
    size_t at = low.find(cue);
    if (at == std::string::npos) continue;
    size_t from = at + cue.size();
    for (std::string_view det : {" of the ", " the ", " of "})
      if (low.compare(from, det.size(), det) == 0) from += det.size() - 1;
    size_t end = low.size();
    for (std::string_view stop :
         {" from ", " in ", " mentioned", " that ", " which ", ":", ".", "?", " as ", " into "}) {
      const size_t s = low.find(stop, from);
      if (s != std::string::npos && s < end) end = s;
    }
    const std::string t = trim_copy(src.substr(from, end - from));
    if (!t.empty()) return t;
  }
  return "the items asked for";
}

std::string build_extraction(Builder& b, const RequestAnalysis& a) {
  b.header = "def extract(text):";
  b.add(kNote, "# extraction: scan everything, keep each match once, in order of appearance");
  add_step_flag(b, a);
  b.add(kCore, name_for(b, "target") + " = " + py_str(extraction_target(a), 50));
  const std::string found = name_for(b, "found");
  b.add(kCore, found + " = []");
  b.add(kCore, "for sentence in sentences(text):",
        {"for item in matches(sentence, target):",
         std::string(kIndent) + "if item not in " + found + ":",
         std::string(kIndent) + kIndent + found + ".append(item)"});
  if (!a.entities.empty())
    b.add(kInput, name_for(b, "mentioned") + " = " + py_list(a.entities, 90, 30) +
                      "  # check each against target");
  std::vector<std::string> figures;
  for (const auto& q : a.quantities) figures.push_back(q.text);
  if (!figures.empty()) b.add(kInput, name_for(b, "figures") + " = " + py_list(figures, 90, 30));
  b.add(kStep, "if not " + found + ":",
        {found + " = " + "[\"none found\"]  # say so, do not invent"});
  add_constraints(b, a, found);
  return found;
}

std::string build_multi_part(Builder& b, const RequestAnalysis& a) {
  b.header = "def respond():";
  b.add(kNote, "# multi-part: do every part, in order, one section each");
  add_step_flag(b, a);
  if (!a.instruction.empty() && a.instruction.size() < 200 &&
      std::find(a.items.begin(), a.items.end(), a.instruction) == a.items.end())
    b.add(kNote, "# context: " + comment_text("\"" + a.instruction + "\"", 80));
  const std::string sections = name_for(b, "sections");
  b.add(kCore, sections + " = []");
  for (size_t i = 0; i < a.items.size() && i < 12; ++i)
    b.add(i < 3 ? kCore : kStep, sections + ".append(do(" + py_str(a.items[i], 76) + "))  # part " +
                                     std::to_string(i + 1));
  add_quantities(b, a, kStep);
  const std::string response = name_for(b, "response");
  b.add(kCore, response + " = join(" + sections + ")");
  b.add(kStep, "if len(" + sections + ") < " + std::to_string(a.items.size()) + ":",
        {response + " = complete(" + response + ")  # no part may be skipped"});
  add_constraints(b, a, response);
  return response;
}

std::string build_general(Builder& b, const RequestAnalysis& a) {
  b.header = "def answer(question):";
  b.add(kNote, "# general: pin down what is asked, recall what is needed, answer, check");
  add_step_flag(b, a);
  const std::string asked = name_for(b, "asked");
  b.add(kCore, asked + " = " + py_str(main_question(a), 90));
  if (!a.entities.empty()) b.add(kInput, name_for(b, "names") + " = " + py_list(a.entities));
  add_quantities(b, a, kInput);
  const std::string facts = name_for(b, "facts");
  if (a.questions.size() >= 2) {
    b.add(kCore, facts + " = []");
    b.add(kCore, "for q in " + py_list(a.questions, 90, 44) + ":", {facts + ".append(recall(q))"});
  } else {
    b.add(kCore, facts + " = recall(" + asked +
                     (a.entities.empty() ? std::string() : ", about=names") + ")");
  }
  const std::string draft = name_for(b, "draft");
  b.add(kCore, draft + " = explain(" + asked + ", " + facts + ")");
  b.add(kStep, "if not covers(" + draft + ", " + asked + "):",
        {draft + " = revise(" + draft + ", " + asked + ")"});
  add_constraints(b, a, draft);
  return draft;
}

}  // namespace

TemplatePlan template_plan(const RequestAnalysis& a, int budget_tokens, int max_lines,
                           const TokenCounter& count) {
  Builder b;
  std::string result;
  if (a.kind == TaskKind::arithmetic)
    result = build_arithmetic(b, a);
  else if (a.kind == TaskKind::multi_hop)
    result = build_multi_hop(b, a);
  else if (a.kind == TaskKind::code_change)
    result = build_code_change(b, a);
  else if (a.kind == TaskKind::code)
    result = build_code(b, a);
  else if (a.kind == TaskKind::summary)
    result = build_summary(b, a);
  else if (a.kind == TaskKind::extraction)
    result = build_extraction(b, a);
  else if (a.kind == TaskKind::multi_part)
    result = build_multi_part(b, a);
  else
    result = build_general(b, a);
  add_leftovers(b, a);
  b.add(kCore, "return " + result);

  TemplatePlan out;
  out.kind = a.kind;
  std::vector<bool> keep(b.stmts.size(), true);
  int dropped = 0;
  for (;;) {
    const std::string code = b.render(keep);
    const int tokens = count(code);
    if (tokens <= budget_tokens && b.lines(keep) <= max_lines) {
      out.code = code;
      out.tokens = tokens;
      break;
    }
    // Drop the least important statement; among equals, the latest. The final return stays.
    int victim = -1;
    for (int i = static_cast<int>(b.stmts.size()) - 2; i >= 0; --i) {
      if (!keep[static_cast<size_t>(i)]) continue;
      if (victim < 0 ||
          b.stmts[static_cast<size_t>(i)].priority > b.stmts[static_cast<size_t>(victim)].priority)
        victim = i;
    }
    if (victim < 0) {
      out.note = "the plan budget of " + std::to_string(budget_tokens) +
                 " tokens cannot hold even a minimal plan";
      return out;
    }
    keep[static_cast<size_t>(victim)] = false;
    ++dropped;
  }
  // Greedy dropping can overshoot (a big statement went after a small one had already gone):
  // put back what still fits, most important first.
  if (dropped > 0) {
    std::vector<size_t> order;
    for (size_t i = 0; i < keep.size(); ++i)
      if (!keep[i]) order.push_back(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return b.stmts[x].priority < b.stmts[y].priority; });
    for (size_t i : order) {
      keep[i] = true;
      const std::string code = b.render(keep);
      const int tokens = count(code);
      if (tokens <= budget_tokens && b.lines(keep) <= max_lines) {
        out.code = code;
        out.tokens = tokens;
        --dropped;
      } else {
        keep[i] = false;
      }
    }
  }
  if (dropped > 0)
    out.note = "dropped " + std::to_string(dropped) + " of " + std::to_string(b.stmts.size()) +
               " statements to fit the budget of " + std::to_string(budget_tokens) + " tokens";
  return out;
}

}  // namespace precis::planner
