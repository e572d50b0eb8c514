// constraint_bench: the cost of constrained decoding per token. The same engine decodes at a
// fixed batch (8 by default) with and without a JSON constraint, in the same run; requests are
// resubmitted as they finish so the batch stays full, and only decode steps (no prefill in them)
// are timed. Prints both throughputs and their ratio (issue 13's goal: >= 0.80).
//
//   constraint_bench [--model PATH] [--batch 8] [--steps 200] [--temperature 1]
//                    [--rounds 4] [--schema FILE | --json-object | --grammar FILE] [--seed 1]
//
// The default constraint is a small object schema; the mask cache starts empty at the start of
// the constrained run, so its cold misses are in the figure.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include "engine/engine.hpp"
#include "engine/gbnf_grammar.hpp"
#include "engine/json_grammar.hpp"
#include "engine/token_constraint.hpp"
#include "precis/precis.hpp"

using namespace precis::engine;
using Clock = std::chrono::steady_clock;

namespace {

const char* const kSchema = R"({"type": "object", "properties": {
    "name": {"type": "string"}, "age": {"type": "integer"},
    "species": {"enum": ["cat", "dog", "bird"]}, "vaccinated": {"type": "boolean"},
    "toys": {"type": "array", "items": {"type": "string"}}},
  "required": ["name", "age", "species"], "additionalProperties": false})";

struct Figures {
  double decode_s = 0;  // time in decode-only steps
  long tokens = 0;      // tokens those steps decoded
  int finished = 0;     // requests completed (and replaced) during the run
  double tokens_per_s() const { return decode_s > 0 ? tokens / decode_s : 0; }
  void add(const Figures& o) {
    decode_s += o.decode_s;
    tokens += o.tokens;
    finished += o.finished;
  }
};

Figures run(Engine& e, const std::vector<int>& prompt, SamplingParams p, int batch, int steps) {
  uint64_t seed = p.seed.value_or(1);
  std::set<RequestId> live;
  auto submit = [&] {
    p.seed = seed++;
    live.insert(e.add_request(prompt, p));
  };
  for (int b = 0; b < batch; ++b) submit();
  Figures f;
  for (int s = 0; s < steps; ++s) {
    const auto t = Clock::now();
    e.step();
    const double dt = std::chrono::duration<double>(Clock::now() - t).count();
    const StepStats st = e.last_step();
    if (st.prefill_tokens == 0 && st.decode_sequences > 0) {
      f.decode_s += dt;
      f.tokens += st.decode_sequences;
    }
    for (auto& r : e.take_finished()) {
      if (!r.error.empty()) throw std::runtime_error(r.error);
      ++f.finished;
      live.erase(r.id);
      submit();
    }
  }
  for (RequestId id : live) e.abort(id);  // the rest are not needed
  e.take_finished();
  return f;
}

// One uncached mask: the whole-vocabulary trie scan a new state costs, inside a string (where
// nearly every token fits, the slowest case) and after an object's opening brace.
void time_cold_masks(const Tokenizer& tok, const std::vector<int>& end_ids) {
  auto t0 = Clock::now();
  auto trie = std::make_shared<const TokenTrie>(TokenTrie::from_tokenizer(tok));
  const double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::printf("vocabulary trie: %zu nodes for %d tokens, built in %.1f ms\n", trie->nodes().size(),
              tok.vocab_size(), build_ms);
  for (const char* prefix : {"{", "{\"name\": \"ab"}) {
    TokenConstraint tc(JsonGrammar::any_object(), trie, end_ids);
    JsonRecognizer rec(tc.grammar());
    JsonState s = tc.start();
    rec.feed(s, prefix);
    t0 = Clock::now();
    const auto m = tc.mask(s);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::printf("uncached mask after '%s': %.2f ms, %d tokens allowed\n", prefix, ms, m->allowed);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, schema_file, grammar_file;
  bool json_object = false;
  int batch = 8, steps = 200, rounds = 4;
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 1;
  p.max_tokens = 96;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--model")
        model = next();
      else if (a == "--batch")
        batch = std::stoi(next());
      else if (a == "--steps")
        steps = std::stoi(next());
      else if (a == "--rounds")
        rounds = std::stoi(next());
      else if (a == "--temperature")
        p.temperature = std::stof(next());
      else if (a == "--seed")
        p.seed = std::stoull(next());
      else if (a == "--schema")
        schema_file = next();
      else if (a == "--grammar")
        grammar_file = next();
      else if (a == "--json-object")
        json_object = true;
      else
        throw std::invalid_argument("unknown option " + a);
    }
    if (model.empty()) model = precis::default_model_path();
    std::shared_ptr<const JsonGrammar> grammar;
    std::shared_ptr<const GbnfGrammar> gbnf;
    if (!grammar_file.empty()) {
      std::ifstream in(grammar_file);
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      gbnf = std::make_shared<const GbnfGrammar>(GbnfGrammar::parse(text));
    } else if (json_object) {
      grammar = JsonGrammar::any_object();
    } else if (!schema_file.empty()) {
      std::ifstream in(schema_file);
      grammar = JsonGrammar::from_schema(nlohmann::json::parse(in));
    } else {
      grammar = JsonGrammar::from_schema(nlohmann::json::parse(kSchema));
    }
    EngineOptions o;
    o.model_dir = model;
    o.kv_cache_mb = 256;
    Engine e(o);
    const std::vector<int> prompt =
        e.tokenizer().encode("Describe a pet as a JSON object with its name and age:\n", true);
    std::printf(
        "model %s, batch %d, %d steps each in %d alternating rounds, temperature %.2f, "
        "max_tokens %d\n",
        model.c_str(), batch, steps, rounds, p.temperature, p.max_tokens);
    time_cold_masks(e.tokenizer(), e.tokenizer().eos_ids());
    run(e, prompt, p, batch, 4);  // warm-up: first-touch of weights and buffers
    // Alternating rounds, so that load from elsewhere on the machine falls on both alike.
    SamplingParams pc = p;
    if (gbnf)
      pc.grammar = gbnf;
    else
      pc.constraint = grammar;
    Figures free, constrained;
    for (int r = 0; r < rounds; ++r) {
      free.add(run(e, prompt, p, batch, steps / rounds));
      constrained.add(run(e, prompt, pc, batch, steps / rounds));
    }
    std::printf("%-14s %12s %10s %10s\n", "", "decode tok/s", "tokens", "finished");
    std::printf("%-14s %12.1f %10ld %10d\n", "unconstrained", free.tokens_per_s(), free.tokens,
                free.finished);
    std::printf("%-14s %12.1f %10ld %10d\n",
                gbnf          ? "gbnf"
                : json_object ? "json_object"
                              : "json_schema",
                constrained.tokens_per_s(), constrained.tokens, constrained.finished);
    std::printf("ratio constrained/unconstrained: %.3f (goal >= 0.80)\n",
                free.tokens_per_s() > 0 ? constrained.tokens_per_s() / free.tokens_per_s() : 0.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "constraint_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
