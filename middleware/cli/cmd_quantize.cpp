// `precis quantize`: an HF Llama directory to a GGUF file (q8_0, q4_0, q4_1, f16 or f32) that
// precis and llama.cpp both load; prints the sizes and the error per tensor type.
#include <cstdio>
#include <stdexcept>

#include "engine/gguf_quantize.hpp"
#include "middleware/cli/commands.hpp"
#include "middleware/cli/parse.hpp"

namespace po = boost::program_options;

namespace precis::cli {

int cmd_quantize(const Args& args) {
  std::string model, type_name, out;
  po::options_description desc("options");
  desc.add_options()("model", po::value(&model)->required(),
                     "Hugging Face Llama directory (f32/f16/bf16 safetensors, tokenizer.model)")(
      "type", po::value(&type_name)->required(), "q8_0 | q4_0 | q4_1 | f16 | f32")(
      "out", po::value(&out)->required(), "the GGUF file to write");
  if (auto rc = parse_args("quantize",
                           "Writes a Hugging Face Llama directory as a GGUF file in llama.cpp's "
                           "layout (norms stay f32).",
                           args, desc))
    return *rc;
  engine::GgmlType type;
  if (type_name == "q8_0")
    type = engine::GgmlType::Q8_0;
  else if (type_name == "q4_0")
    type = engine::GgmlType::Q4_0;
  else if (type_name == "q4_1")
    type = engine::GgmlType::Q4_1;
  else if (type_name == "f16")
    type = engine::GgmlType::F16;
  else if (type_name == "f32")
    type = engine::GgmlType::F32;
  else
    throw std::invalid_argument("--type must be q8_0, q4_0, q4_1, f16 or f32, got '" + type_name +
                                "'");
  const engine::QuantizeReport r = engine::quantize_model(model, type, out);
  std::printf("wrote %s: %.1f MiB -> %.1f MiB (%.2fx smaller)\n", out.c_str(),
              r.bytes_before / 1048576.0, r.bytes_after / 1048576.0,
              r.bytes_after ? double(r.bytes_before) / r.bytes_after : 0.0);
  for (const auto& [t, e] : r.relative_rms_error)
    std::printf("  %-5s %4d tensors, RMS error %.3g%% of the weights' RMS\n", t.c_str(),
                r.tensors.at(t), 100 * e);
  return 0;
}

}  // namespace precis::cli
