#include <cstdio>
#include <iostream>

#include "middleware/cli/commands.hpp"
#include "middleware/cli/engine_options.hpp"
#include "middleware/cli/parse.hpp"
#include "middleware/cli/result_json.hpp"
#include "precis/precis.hpp"

namespace po = boost::program_options;

namespace precis::cli {

int cmd_run(const Args& args) {
  std::string config, prompt, prompt_file, question;
  int64_t seed = -1;
  bool json = false;
  po::options_description desc("options");
  desc.add_options()("config", po::value(&config)->required(),
                     "pipeline config (JSON); see examples/*.json")(
      "prompt", po::value(&prompt), "the prompt")("prompt-file", po::value(&prompt_file),
                                                  "read the prompt from this file")(
      "question", po::value(&question), "a question about the prompt (kept verbatim, planned for)")(
      "seed", po::value(&seed)->default_value(-1),
      "override generate.seed (-1: keep the config's)")("json", po::bool_switch(&json),
                                                        "print the whole result as JSON");
  DeviceOverride device;
  add_device_override_flags(desc, device);
  if (auto rc = parse_args("run", "Runs a prompt through the pipeline a config file describes.",
                           args, desc))
    return *rc;
  PipelineConfig cfg = PipelineConfig::from_file(config);
  if (seed >= 0) cfg.generate.seed = static_cast<uint64_t>(seed);
  device.apply(cfg.model);
  Request req;
  req.prompt = read_prompt(prompt, prompt_file);
  req.question = question;
  Pipeline pipeline(std::move(cfg));
  TextCallback stream;
  if (!json)
    stream = [](const std::string& d) { std::fputs(d.c_str(), stdout), std::fflush(stdout); };
  Result r = pipeline.run(req, stream);
  if (json) {
    std::cout << result_to_json(r).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    std::printf("\n");
    std::fprintf(stderr, "[prompt %d -> %d tokens, %d generated, %.1f tokens/s]\n",
                 r.original_tokens, r.compressed_tokens, r.completion_tokens,
                 r.generation_tokens_per_second);
  }
  return 0;
}

}  // namespace precis::cli
