#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "middleware/cli/commands.hpp"
#include "middleware/cli/engine_options.hpp"
#include "middleware/cli/parse.hpp"

namespace po = boost::program_options;

namespace precis::cli {

int cmd_score(const Args& args) {
  EngineFlags ef;
  std::string prompt, prompt_file;
  bool json = false;
  po::options_description desc("options");
  add_engine_flags(desc, ef);
  desc.add_options()("prompt", po::value(&prompt), "text to score")(
      "prompt-file", po::value(&prompt_file), "read the text from this file")(
      "json", po::bool_switch(&json), "print {\"tokens\", \"pieces\", \"logprobs\"} as JSON");
  if (auto rc =
          parse_args("score", "Per-token log-probabilities of a text (BOS prepended).", args, desc))
    return *rc;
  const std::string text = read_prompt(prompt, prompt_file);
  engine::Engine eng(to_engine_options(ef));
  engine::ScoreResult r = eng.score(text);
  if (json) {
    nlohmann::json lp = nlohmann::json::array();
    for (float v : r.logprobs)
      lp.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
    nlohmann::json out = {{"tokens", r.tokens}, {"pieces", r.pieces}, {"logprobs", lp}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    double total = 0.0;
    for (size_t i = 0; i < r.tokens.size(); ++i) {
      if (i > 0) total += r.logprobs[i];
      std::printf("%6d  %-20s  %s\n", r.tokens[i], r.pieces[i].c_str(),
                  i == 0 ? "     -" : std::to_string(r.logprobs[i]).c_str());
    }
    const size_t n = r.tokens.size() > 1 ? r.tokens.size() - 1 : 1;
    std::printf("tokens %zu  total logprob %.4f  perplexity %.3f\n", r.tokens.size(), total,
                std::exp(-total / static_cast<double>(n)));
  }
  return 0;
}

}  // namespace precis::cli
