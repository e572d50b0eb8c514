#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/gbnf_grammar.hpp"
#include "engine/json_grammar.hpp"
#include "middleware/cli/commands.hpp"
#include "middleware/cli/engine_options.hpp"
#include "middleware/cli/parse.hpp"

namespace po = boost::program_options;

namespace precis::cli {

namespace {

// --json-schema FILE: the schema compiled, or an error naming the file and what is wrong.
std::shared_ptr<const engine::JsonGrammar> load_schema(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("--json-schema: cannot read " + path);
  const nlohmann::json schema = nlohmann::json::parse(in, nullptr, false);
  if (schema.is_discarded()) throw std::invalid_argument("--json-schema: " + path + " is not JSON");
  try {
    return engine::JsonGrammar::from_schema(schema);
  } catch (const engine::UnsupportedSchema& e) {
    throw std::invalid_argument("--json-schema " + path + ": " + e.what());
  }
}

// --grammar FILE: a GBNF grammar compiled, or an error naming the file, line and problem.
std::shared_ptr<const engine::GbnfGrammar> load_grammar(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("--grammar: cannot read " + path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return std::make_shared<const engine::GbnfGrammar>(engine::GbnfGrammar::parse(text));
  } catch (const engine::GrammarError& e) {
    throw std::invalid_argument("--grammar " + path + ": " + e.what());
  }
}

}  // namespace

int cmd_generate(const Args& args) {
  EngineFlags ef;
  std::string prompt, prompt_file;
  engine::SamplingParams p;
  int64_t seed = -1;
  bool json = false, json_object = false;
  std::string json_schema, grammar;
  po::options_description desc("options");
  add_engine_flags(desc, ef);
  desc.add_options()("prompt", po::value(&prompt), "prompt text")(
      "prompt-file", po::value(&prompt_file), "read the prompt from this file")(
      "max-tokens", po::value(&p.max_tokens)->default_value(p.max_tokens),
      "tokens to generate at most")(
      "temperature", po::value(&p.temperature)->default_value(p.temperature), "0 = greedy")(
      "top-k", po::value(&p.top_k)->default_value(p.top_k),
      "keep the k most likely tokens (0 = off)")(
      "top-p", po::value(&p.top_p)->default_value(p.top_p), "nucleus sampling mass (1 = off)")(
      "min-p", po::value(&p.min_p)->default_value(p.min_p),
      "drop tokens below min-p x the top probability")(
      "repetition-penalty", po::value(&p.repetition_penalty)->default_value(p.repetition_penalty),
      "1 = off")("presence-penalty",
                 po::value(&p.presence_penalty)->default_value(p.presence_penalty), "-2..2")(
      "frequency-penalty", po::value(&p.frequency_penalty)->default_value(p.frequency_penalty),
      "-2..2")("n", po::value(&p.n)->default_value(p.n), "samples to return")(
      "best-of", po::value(&p.best_of)->default_value(p.best_of),
      "samples to draw; the n with the highest log-probability are returned (0 = n)")(
      "beam-width", po::value(&p.beam_width)->default_value(p.beam_width),
      "beam search with this many beams")("seed", po::value(&seed)->default_value(-1),
                                          "random seed (-1 = random); same seed, same output")(
      "stop", po::value(&p.stop)->composing(), "stop string (repeatable)")(
      "logprobs", po::value(&p.logprobs)->default_value(0), "top alternatives to report per token")(
      "ignore-eos", po::bool_switch(&p.ignore_eos),
      "keep generating past the end-of-sequence token")(
      "json-object", po::bool_switch(&json_object), "constrain the output to a JSON object")(
      "json-schema", po::value(&json_schema),
      "constrain the output to a value matching this JSON Schema file")(
      "grammar", po::value(&grammar),
      "constrain the output to a sentence of this GBNF grammar file (llama.cpp's format; the "
      "rule 'root' starts)")("json", po::bool_switch(&json), "print the result as JSON");
  if (auto rc = parse_args("generate", "Generates text on the embedded engine.", args, desc))
    return *rc;
  if (seed >= 0) p.seed = static_cast<uint64_t>(seed);
  if (json_object + !json_schema.empty() + !grammar.empty() > 1)
    throw std::invalid_argument("give one of --json-object, --json-schema and --grammar");
  if (json_object) p.constraint = engine::JsonGrammar::any_object();
  if (!json_schema.empty()) p.constraint = load_schema(json_schema);
  if (!grammar.empty()) p.grammar = load_grammar(grammar);
  p.validate();
  const std::string text = read_prompt(prompt, prompt_file);
  engine::Engine eng(to_engine_options(ef));

  const bool stream = !json && p.n == 1 && p.best_of <= 1 && p.beam_width <= 1;
  engine::StreamCallback on_text;
  if (stream) {
    std::fputs(text.c_str(), stdout);
    on_text = [](int, const std::string& delta) {
      std::fputs(delta.c_str(), stdout);
      std::fflush(stdout);
    };
  }
  const engine::GenerationResult r = eng.generate(text, p, on_text);
  if (!r.error.empty()) throw std::runtime_error(r.error);
  size_t generated = 0;
  for (const auto& c : r.completions) generated += c.tokens.size();
  const double tps = r.seconds > 0 ? static_cast<double>(generated) / r.seconds : 0.0;

  if (json) {
    nlohmann::json choices = nlohmann::json::array();
    for (const auto& c : r.completions) {
      nlohmann::json top = nlohmann::json::array();
      for (const auto& alts : c.top_logprobs) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& t : alts) a.push_back({{"token", t.token}, {"logprob", t.logprob}});
        top.push_back(a);
      }
      choices.push_back({{"index", c.index},
                         {"text", c.text},
                         {"tokens", c.tokens},
                         {"logprobs", c.logprobs},
                         {"top_logprobs", top},
                         {"cumulative_logprob", c.cumulative_logprob},
                         {"finish_reason", c.finish_reason}});
    }
    nlohmann::json out = {{"prompt_tokens", r.prompt_tokens.size()},
                          {"completion_tokens", generated},
                          {"choices", choices},
                          {"seconds", r.seconds},
                          {"tokens_per_second", tps}};
    // Generated bytes need not be valid UTF-8 (byte-fallback tokens); JSON shows U+FFFD there.
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else if (stream) {
    std::printf("\n");
    std::fprintf(stderr, "[%zu prompt tokens, %zu generated, %.1f tokens/s, finish: %s]\n",
                 r.prompt_tokens.size(), generated, tps, r.completions[0].finish_reason.c_str());
  } else {
    for (const auto& c : r.completions) {
      std::printf("--- sample %d (cumulative logprob %.3f, finish: %s)\n%s%s\n", c.index,
                  c.cumulative_logprob, c.finish_reason.c_str(), text.c_str(), c.text.c_str());
    }
    std::fprintf(stderr, "[%zu prompt tokens, %zu generated, %.1f tokens/s]\n",
                 r.prompt_tokens.size(), generated, tps);
  }
  return 0;
}

}  // namespace precis::cli
