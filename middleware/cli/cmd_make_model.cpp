#include <cstdio>
#include <stdexcept>

#include "engine/make_model.hpp"
#include "middleware/cli/commands.hpp"
#include "middleware/cli/parse.hpp"

namespace po = boost::program_options;

namespace precis::cli {

int cmd_make_model(const Args& args) {
  engine::MakeModelOptions o;
  std::string dtype = "f32";
  po::options_description desc("options");
  desc.add_options()("out", po::value(&o.out_dir)->required(), "output directory (created)")(
      "preset", po::value(&o.preset)->default_value("tiny"),
      "tiny | small | tinyllama-shape | llama2-7b-shape")(
      "seed", po::value(&o.seed)->default_value(0), "random seed; same seed, same bytes")(
      "dtype", po::value(&dtype)->default_value("f32"), "f32 | f16 | bf16")(
      "tokenizer", po::value(&o.tokenizer),
      "copy this tokenizer.model instead of training one on the shipped corpus");
  if (auto rc = parse_args("make-model", "Writes a random Llama model in Hugging Face layout.",
                           args, desc))
    return *rc;
  auto dt = engine::dtype_from_cli(dtype);
  if (!dt) throw std::invalid_argument("--dtype must be f32, f16 or bf16, got '" + dtype + "'");
  o.dtype = *dt;
  engine::preset_config(o.preset);  // rejects an unknown preset before any work
  const engine::ModelConfig c = engine::make_model(o);
  std::fprintf(stderr, "wrote %s: preset %s, %d layers, hidden %d, vocab %d, %s\n",
               o.out_dir.c_str(), o.preset.c_str(), c.num_hidden_layers, c.hidden_size,
               c.vocab_size, dtype.c_str());
  return 0;
}

}  // namespace precis::cli
