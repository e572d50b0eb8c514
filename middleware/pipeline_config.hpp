// Pieces of the JSON config reader shared with the HTTP server (which reads the same sampling
// fields from request bodies).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "middleware/json_reader.hpp"
#include "precis/precis.hpp"

namespace precis {

// Reads the sampling fields (max_tokens, temperature, top_p, ..., stop as a list of strings) that
// `r` holds into `g`, checking their JSON types only; leaves the other keys for the caller (call
// r.finish() afterwards).
void read_generate_options(JsonReader& r, GenerateOptions& g);
// g.validate() (the engine's own check), its refusal as a ConfigError at the field's JSON path
// under `r` ("/generate/top_p: must be in (0, 1], got 1.5").
void validate_generate_options(const JsonReader& r, const GenerateOptions& g);

// `parse(text)` of the config file at `path`; a ConfigError names the file.
template <class Parse>
auto parse_config_file(const std::string& path, Parse parse) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read config file");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return parse(ss.str());
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  }
}

}  // namespace precis
