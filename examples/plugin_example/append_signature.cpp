// A plugin to copy: "append_signature" nudges the question and signs every answer.
//
//   settings: {"signature": "\n-- answered by precis", "question_suffix": " Answer briefly."}
//
// before() runs on the request before compression (here: adds a suffix to the question, when
// there is one); after() runs on the result (here: appends the signature to every choice). The
// stage object is shared by all requests and called from many threads: keep per-request state
// in Request::metadata, and guard anything else you mutate.
#include <nlohmann/json.hpp>

#include "precis/plugin.hpp"

namespace {

class AppendSignature : public precis::Stage {
 public:
  AppendSignature(std::string signature, std::string question_suffix)
      : signature_(std::move(signature)), question_suffix_(std::move(question_suffix)) {}

  std::string name() const override { return "append_signature"; }

  void before(precis::Request& request) override {
    if (!request.question.empty()) request.question += question_suffix_;
  }

  void after(const precis::Request&, precis::Result& result) override {
    for (auto& choice : result.choices) choice.text += signature_;
    if (!result.choices.empty()) result.text = result.choices[0].text;
  }

 private:
  const std::string signature_;
  const std::string question_suffix_;
};

// Settings arrive as JSON text; anything thrown here becomes the load error, prefixed with the
// plugin's name and its place in the config ("/plugins/2: plugin 'sign': factory failed: ...").
std::unique_ptr<AppendSignature> make(const std::string& settings_json) {
  const auto s = nlohmann::json::parse(settings_json);
  std::string signature = "\n-- answered by precis", suffix;
  for (auto it = s.begin(); it != s.end(); ++it) {
    if (it.key() == "signature")
      signature = it.value().get<std::string>();
    else if (it.key() == "question_suffix")
      suffix = it.value().get<std::string>();
    else
      throw std::runtime_error("unknown setting \"" + it.key() + "\"");
  }
  return std::make_unique<AppendSignature>(signature, suffix);
}

}  // namespace

// Exports precis_plugin_abi_version() and precis_plugin_create() (see precis/plugin.hpp).
PRECIS_DEFINE_PLUGIN(make)
