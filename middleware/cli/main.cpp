// precis: prompt compression and plan-guided generation. This file only dispatches to the
// subcommands; each lives in its own cmd_*.cpp.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "engine/cpu_isa.hpp"
#include "middleware/cli/commands.hpp"

namespace {

const char* kUsage =
    "usage: precis <command> [options]\n"
    "\n"
    "commands:\n"
    "  make-model   write a deterministic random Llama model (config.json, model.safetensors,\n"
    "               tokenizer.model) for tests and benchmarks\n"
    "  quantize     write a Hugging Face Llama directory as a GGUF file (q8_0, q4_0, q4_1)\n"
    "  generate     generate text from a prompt on the embedded engine\n"
    "  score        per-token log-probabilities of a text under a model\n"
    "  plan         write a code-form plan of how to answer a request\n"
    "  compress     drop the least informative tokens of a prompt to meet a token budget\n"
    "  run          run a prompt through a configured pipeline (compress, plan, generate)\n"
    "  demo         the whole pipeline on a long real prompt, step by step\n"
    "  serve        the OpenAI-compatible HTTP server (completions, chat, models, metrics)\n"
    "\n"
    "Run `precis <command> --help` for the options of a command; `precis --version` for the\n"
    "version and the CPU kernels' instruction set.\n";

// The version, and which CPU kernel variant runs here (PRECIS_CPU_ISA applied), so a user can
// tell what a machine gets without a benchmark. A bad PRECIS_CPU_ISA fails here as it would in
// any command.
int print_version() {
  std::printf("precis %s\n", PRECIS_VERSION);
  try {
    const precis::engine::CpuIsa isa = precis::engine::active_cpu_isa();
    std::string available;
    for (precis::engine::CpuIsa a : precis::engine::available_cpu_isas())
      available += (available.empty() ? "" : ", ") + std::string(precis::engine::cpu_isa_name(a));
    std::printf("cpu kernels: %s (this CPU and build: %s; PRECIS_CPU_ISA chooses)\n",
                precis::engine::cpu_isa_name(isa), available.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "precis: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) return print_version();
  const std::string cmd = argv[1];
  precis::cli::Args args(argv + 2, argv + argc);
  try {
    if (cmd == "make-model") return precis::cli::cmd_make_model(args);
    if (cmd == "quantize") return precis::cli::cmd_quantize(args);
    if (cmd == "generate") return precis::cli::cmd_generate(args);
    if (cmd == "score") return precis::cli::cmd_score(args);
    if (cmd == "plan") return precis::cli::cmd_plan(args);
    if (cmd == "compress") return precis::cli::cmd_compress(args);
    if (cmd == "run") return precis::cli::cmd_run(args);
    if (cmd == "demo") return precis::cli::cmd_demo(args);
    if (cmd == "serve") return precis::cli::cmd_serve(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "precis %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "precis: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
  return 2;
}
