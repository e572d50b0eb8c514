#include "middleware/server/serve_config.hpp"

#include "middleware/pipeline_config.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace precis {

namespace {

constexpr double kBig = 1e12;

}  // namespace

void read_server_options(JsonReader r, ServerOptions& s, std::string& chat_template) {
  if (auto v = r.string("host")) s.host = *v;
  if (auto v = r.integer("port", 0, 65535)) s.port = static_cast<int>(*v);
  if (auto v = r.strings("api_keys")) s.api_keys = *v;
  if (auto v = r.integer("max_body_bytes", 1, int64_t{1} << 40)) s.max_body_bytes = *v;
  if (auto v = r.integer("max_header_bytes", 256, int64_t{1} << 30)) s.max_header_bytes = *v;
  if (auto v = r.number("read_timeout_s", 0, kBig, true)) s.read_timeout_s = *v;
  if (auto v = r.number("request_timeout_s", 0, kBig, true)) s.request_timeout_s = *v;
  if (auto v = r.integer("max_concurrent_requests", 1, 1 << 16))
    s.max_concurrent_requests = static_cast<int>(*v);
  if (auto v = r.integer("threads", 1, 256)) s.threads = static_cast<int>(*v);
  if (auto v = r.choice("chat_template", {"auto", "chatml", "llama2", "llama3", "mistral", "phi3",
                                          "gemma", "qwen2", "plain"}))
    chat_template = *v;
  if (auto v = r.string("model_name")) s.model_name = *v;
  if (auto v = r.number("shutdown_timeout_s", 0, kBig)) s.shutdown_timeout_s = *v;
  r.finish();
}

void read_upstream_options(JsonReader r, UpstreamOptions& u) {
  if (auto v = r.strings("urls")) {
    for (size_t i = 0; i < v->size(); ++i)
      if ((*v)[i].rfind("http://", 0) != 0 && (*v)[i].rfind("https://", 0) != 0)
        r.fail("urls/" + std::to_string(i), "must start with http:// or https://");
    u.urls = *v;
  }
  if (auto v = r.string("api_key")) u.api_key = *v;
  if (auto v = r.number("timeout_s", 0, kBig, true)) u.timeout_s = *v;
  if (auto v = r.string("model")) u.model = *v;
  if (auto v = r.string("ca_file")) {
    if (!std::filesystem::is_regular_file(*v)) r.fail("ca_file", "file not found: " + *v);
    u.ca_file = *v;
  }
  r.finish();
}

ServeConfig ServeConfig::from_json(const std::string& json_text) {
  ServeConfig c(PipelineConfig::from_json(json_text));  // checks the whole file
  const nlohmann::json j = nlohmann::json::parse(json_text);
  JsonReader root(j, "");
  if (auto m = root.object("server")) read_server_options(*m, c.server, c.chat_template);
  if (auto m = root.object("upstream")) read_upstream_options(*m, c.upstream);
  return c;  // the other sections were read above; root is not finished here
}

ServeConfig ServeConfig::from_file(const std::string& path) {
  return parse_config_file(path, &ServeConfig::from_json);
}

}  // namespace precis
