// `precis compress`: compress a prompt under a token budget and print the result.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "engine/data_root.hpp"
#include "engine/engine.hpp"
#include "engine/gguf_model.hpp"
#include "engine/tokenizer.hpp"
#include "middleware/cli/commands.hpp"
#include "middleware/cli/engine_options.hpp"
#include "middleware/cli/parse.hpp"
#include "precis/compress.hpp"

namespace po = boost::program_options;

namespace precis::cli {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read --prompt-file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int cmd_compress(const Args& args) {
  std::string prompt, prompt_file, model, tokenizer_file, scorer = "stat", kv_cache_dtype = "f16";
  std::optional<std::string> prompt_arg;
  double rate = 0.0, kv_cache_mb = 0;
  DeviceOptions device;
  int target_tokens = 0;
  CompressOptions opt;
  bool json = false;
  std::string activations = "int8";
  po::options_description desc("options");
  desc.add_options()(
      "prompt", po::value(&prompt)->notifier([&](const std::string& p) { prompt_arg = p; }),
      "the prompt text")("prompt-file", po::value(&prompt_file), "read the prompt from this file")(
      "question", po::value(&opt.question), "question (kept verbatim; drives context ranking)")(
      "instruction", po::value(&opt.instruction), "instruction (kept verbatim)")(
      "rate", po::value(&rate), "keep this fraction of the tokens, in (0, 1] (default 0.5)")(
      "target-tokens", po::value(&target_tokens), "keep this many tokens instead of a rate")(
      "scorer", po::value(&scorer)->default_value(scorer),
      "stat (model-free) | lm (self-information under --model)")(
      "model", po::value(&model),
      "GGUF file or model directory (--scorer lm; default: the default model)")(
      "tokenizer", po::value(&tokenizer_file), "tokenizer.model to count tokens with")(
      "kv-cache-mb", po::value(&kv_cache_mb),
      ("--scorer lm: " + kv_cache_help(kDefaultCpuKvCacheMb)).c_str())(
      "kv-cache-dtype", po::value(&kv_cache_dtype)->default_value(kv_cache_dtype),
      (std::string("--scorer lm: ") + kKvCacheDtypeHelp).c_str())(
      "activations", po::value(&activations)->default_value(activations),
      (std::string("--scorer lm: ") + kActivationsHelp).c_str())(
      "force-token", po::value(&opt.force_tokens)->composing(),
      "text kept wherever it occurs (repeatable)")(
      "keep-structure", po::bool_switch(&opt.keep_structure),
      "keep code fences, JSON keys and brackets so structured text still parses")(
      "iterative-size", po::value(&opt.iterative_size)->default_value(opt.iterative_size),
      "tokens per segment of the fine level")(
      "context-rate-spread",
      po::value(&opt.context_rate_spread)->default_value(opt.context_rate_spread),
      "in [0, 1]: the best-ranked context keeps this much more of its tokens than --rate, the "
      "worst this much less, linearly by rank (LLMLingua's dynamic_context_compression_ratio); "
      "the total still meets the budget")(
      "json", po::bool_switch(&json),
      "print {text, original_tokens, compressed_tokens, ratio, seconds, note, kept, pieces}");
  add_device_flags(desc, device);
  if (auto rc =
          parse_args("compress", "Drop the least informative tokens of a prompt to meet a budget.",
                     args, desc))
    return *rc;

  if (prompt_arg && !prompt_file.empty())
    throw std::invalid_argument("give either --prompt or --prompt-file, not both");
  if (!prompt_arg && prompt_file.empty())
    throw std::invalid_argument("--prompt (or --prompt-file) is required");
  if (!prompt_file.empty()) prompt = read_file(prompt_file);
  if (rate != 0.0 && target_tokens != 0)
    throw std::invalid_argument("give either --rate or --target-tokens, not both");
  if (target_tokens != 0) {
    opt.target_tokens = target_tokens;
  } else {
    opt.rate = rate != 0.0 ? rate : 0.5;
  }
  opt.scorer = scorer_flag(scorer);
  opt.validate();
  const bool lm = opt.scorer == ScorerKind::lm;
  if (lm && model.empty()) model = default_model_path();
  if (lm && model.empty())
    throw std::invalid_argument("--scorer lm needs a model: pass --model FILE.gguf|DIR");

  std::unique_ptr<engine::Engine> eng;
  std::unique_ptr<engine::Tokenizer> tok;
  if (lm) {
    engine::EngineOptions eo;
    eo.model_dir = model;
    eo.kv_cache_mb = kv_cache_mb;
    eo.int8_activations = int8_activations_option(activations, "--activations");
    eo.kv_cache_dtype = kv_cache_dtype_option(kv_cache_dtype, "--kv-cache-dtype");
    apply_device(eo, device);
    eng = std::make_unique<engine::Engine>(eo);
  } else if (!model.empty()) {
    tok = engine::load_model_tokenizer(model);
  } else if (!tokenizer_file.empty()) {
    tok = engine::Tokenizer::load(tokenizer_file);
  } else if (const std::string def = (engine::data_root() / "models" / "default").string();
             std::filesystem::exists(def + "/tokenizer.model")) {
    tok = engine::Tokenizer::load(def + "/tokenizer.model");
  } else {
    throw std::invalid_argument("no tokenizer: pass --model DIR or --tokenizer FILE");
  }
  const engine::Tokenizer& tokenizer = eng ? eng->tokenizer() : *tok;

  const CompressResult r = compress(prompt, opt, tokenizer, eng.get());
  if (json) {
    nlohmann::json out = {{"text", r.text},
                          {"original_tokens", r.original_tokens},
                          {"compressed_tokens", r.compressed_tokens},
                          {"ratio", r.ratio},
                          {"seconds", r.seconds},
                          {"note", r.note},
                          {"kept", r.kept},
                          {"pieces", r.pieces}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << r.text << "\n";
    std::printf("-- %d -> %d tokens, ratio %.3f, %.1f ms%s%s\n", r.original_tokens,
                r.compressed_tokens, r.ratio, r.seconds * 1000.0, r.note.empty() ? "" : "; ",
                r.note.c_str());
  }
  return 0;
}

}  // namespace precis::cli
