// engine/chat_template: the built-in renderers against the models' own Jinja templates.
//
// tests/data/chat_templates/<name>.jinja are the published templates; expected.json holds what
// jinja2 renders from them (tests/reference/render_chat_templates.py, set up as transformers
// does) for a fixed set of conversations. Each template must be recognised as its built-in and
// rendered byte for byte, errors included.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/chat_template.hpp"

using precis::engine::builtin_chat_template;
using precis::engine::chat_format_from_name;
using precis::engine::chat_format_name;
using precis::engine::ChatFormat;
using precis::engine::ChatMessage;
using precis::engine::ChatTemplateError;
using precis::engine::ChatTemplateInfo;
using precis::engine::recognise_chat_template;
using precis::engine::render_chat;
using precis::engine::render_chat_split;

namespace {

const std::string kDataDir = std::string(PRECIS_SOURCE_DIR) + "/tests/data/chat_templates/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const nlohmann::json& expected() {
  static const nlohmann::json j = nlohmann::json::parse(read_file(kDataDir + "expected.json"));
  return j;
}

std::vector<ChatMessage> conversation(const std::string& name) {
  std::vector<ChatMessage> out;
  for (const auto& m : expected().at("conversations").at(name))
    out.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  return out;
}

struct Expect {
  ChatFormat format;
  std::string default_system;
  std::string user_turn;  // how the last user message's turn begins
};

const std::map<std::string, Expect>& expectations() {
  static const std::map<std::string, Expect> m = {
      {"smollm2",
       {ChatFormat::kChatml, "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
        "<|im_start|>user\n"}},
      {"chatml", {ChatFormat::kChatml, "", "<|im_start|>user\n"}},
      {"qwen2", {ChatFormat::kQwen2, "You are a helpful assistant.", "<|im_start|>user\n"}},
      {"qwen2_5",
       {ChatFormat::kQwen2, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
        "<|im_start|>user\n"}},
      {"llama2", {ChatFormat::kLlama2, "", "<s>[INST] "}},
      {"llama3", {ChatFormat::kLlama3, "", "<|start_header_id|>user<|end_header_id|>\n\n"}},
      {"mistral", {ChatFormat::kMistral, "", "[INST] "}},
      {"phi3", {ChatFormat::kPhi3, "", "<|user|>\n"}},
      {"gemma", {ChatFormat::kGemma, "", "<start_of_turn>user\n"}},
  };
  return m;
}

bool has_user(const std::vector<ChatMessage>& ms) {
  for (const auto& m : ms)
    if (m.role == "user") return true;
  return false;
}

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

ChatTemplateInfo recognise_file(const std::string& name) {
  const auto& t = expected().at("templates").at(name);
  return recognise_chat_template(read_file(kDataDir + t.at("file").get<std::string>()),
                                 t.at("bos_token").get<std::string>(),
                                 t.at("eos_token").get<std::string>());
}

}  // namespace

TEST_CASE("chat_template: format names round-trip", "[chat_template]") {
  for (ChatFormat f :
       {ChatFormat::kChatml, ChatFormat::kLlama2, ChatFormat::kLlama3, ChatFormat::kMistral,
        ChatFormat::kPhi3, ChatFormat::kGemma, ChatFormat::kQwen2, ChatFormat::kPlain}) {
    const auto back = chat_format_from_name(chat_format_name(f));
    REQUIRE(back.has_value());
    CHECK(*back == f);
  }
  CHECK(std::string(chat_format_name(ChatFormat::kPhi3)) == "phi3");
  CHECK_FALSE(chat_format_from_name("auto").has_value());
  CHECK_FALSE(chat_format_from_name("ChatML").has_value());
  CHECK_FALSE(chat_format_from_name("").has_value());
}

TEST_CASE("chat_template: every published template renders as jinja2 renders it",
          "[chat_template]") {
  const auto& templates = expected().at("templates");
  REQUIRE(templates.size() == expectations().size());
  size_t texts = 0, errors = 0;
  for (const auto& [name, want] : expectations()) {
    INFO("template " << name);
    REQUIRE(templates.contains(name));
    const ChatTemplateInfo info = recognise_file(name);
    CHECK(info.format == want.format);
    CHECK(info.default_system == want.default_system);
    CHECK(info.eos_token == templates.at(name).at("eos_token").get<std::string>());
    for (const auto& c : templates.at(name).at("cases")) {
      const std::string conv = c.at("conversation").get<std::string>();
      const bool gen = c.at("add_generation_prompt").get<bool>();
      INFO("conversation " << conv << ", add_generation_prompt " << gen);
      const auto messages = conversation(conv);
      if (c.contains("error")) {
        const std::string message = c.at("error").get<std::string>();
        CHECK_THROWS_AS(render_chat(info, messages, gen), ChatTemplateError);
        CHECK_THROWS_WITH(render_chat(info, messages, gen), Catch::Contains(message));
        CHECK_THROWS_AS(render_chat_split(info, messages, gen), ChatTemplateError);
        ++errors;
        continue;
      }
      const std::string text = c.at("text").get<std::string>();
      CHECK(render_chat(info, messages, gen) == text);
      const auto split = render_chat_split(info, messages, gen);
      CHECK(split.prefix_history + split.final_turn == text);
      if (has_user(messages)) {
        // The final turn opens with the user's role marker, except in llama2 when the system
        // prompt shares the last user's [INST] (then the prefix ends with the system block).
        const bool ok = starts_with(split.final_turn, want.user_turn) ||
                        (want.format == ChatFormat::kLlama2 &&
                         ends_with(split.prefix_history, "\n<</SYS>>\n\n"));
        CHECK(ok);
      }
      ++texts;
    }
  }
  // Every conversation x {with, without generation prompt} x template is a case.
  CHECK(texts + errors == expectations().size() * expected().at("conversations").size() * 2);
  CHECK(errors > 0);
}

TEST_CASE("chat_template: split places the last user turn last", "[chat_template]") {
  SECTION("SmolLM2's default system turn is history") {
    const auto info = recognise_file("smollm2");
    const auto s = render_chat_split(info, {{"user", "Hello!"}}, true);
    CHECK(s.prefix_history ==
          "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
          "Face<|im_end|>\n");
    CHECK(s.final_turn == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n");
  }
  SECTION("llama2: the system prompt stays in history though it shares the [INST]") {
    const auto info = recognise_file("llama2");
    const auto s = render_chat_split(info, {{"system", "Sys"}, {"user", " Q "}}, true);
    CHECK(s.prefix_history == "<s>[INST] <<SYS>>\nSys\n<</SYS>>\n\n");
    CHECK(s.final_turn == " Q [/INST]");  // strip() applies to the whole block, not to Q alone
  }
  SECTION("llama3: bos is history") {
    const auto info = recognise_file("llama3");
    const auto s = render_chat_split(info, {{"user", "Hi"}}, true);
    CHECK(s.prefix_history == "<|begin_of_text|>");
    CHECK(s.final_turn ==
          "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n");
  }
  SECTION("later assistant turns belong to the final part") {
    const auto info = recognise_file("chatml");
    const auto s = render_chat_split(
        info, {{"user", "a"}, {"assistant", "b"}, {"user", "c"}, {"assistant", "d"}}, false);
    CHECK(s.prefix_history ==
          "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n");
    CHECK(s.final_turn == "<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\nd<|im_end|>\n");
  }
  SECTION("without a user message the final part is the generation prompt") {
    const auto info = recognise_file("llama3");
    const auto s = render_chat_split(info, {{"system", "S"}}, true);
    CHECK(s.final_turn == "<|start_header_id|>assistant<|end_header_id|>\n\n");
    const auto none = render_chat_split(info, {{"system", "S"}}, false);
    CHECK(none.final_turn.empty());
    CHECK(none.prefix_history == render_chat(info, {{"system", "S"}}, false));
  }
}

TEST_CASE("chat_template: default system message is read from the template text",
          "[chat_template]") {
  const auto smol = recognise_file("smollm2");
  CHECK(smol.default_system ==
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  // A given system message replaces the default.
  CHECK(render_chat(smol, {{"system", "Be brief."}, {"user", "Hi"}}, true) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n");

  // Made up: double quotes, an escaped quote, Jinja's \n escape, whitespace control.
  const std::string made_up =
      "{%- for message in messages %}{%- if loop.first and messages[0][\"role\"] != \"system\" "
      "%}{{- \"<|im_start|>system\\nYou are \\\"Bob\\\".<|im_end|>\\n\" }}{%- endif %}"
      "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
      "'\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
      "{%- endif %}";
  const auto bob = recognise_chat_template(made_up, "", "<|im_end|>");
  CHECK(bob.format == ChatFormat::kChatml);
  CHECK(bob.default_system == "You are \"Bob\".");
  CHECK(render_chat(bob, {{"user", "Hi"}}, false) ==
        "<|im_start|>system\nYou are \"Bob\".<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");

  // Plain ChatML has none; by name, qwen2 gets Qwen2's.
  CHECK(recognise_file("chatml").default_system.empty());
  CHECK(builtin_chat_template(ChatFormat::kQwen2, "", "").default_system ==
        "You are a helpful assistant.");
  CHECK(builtin_chat_template(ChatFormat::kChatml, "", "").default_system.empty());
}

TEST_CASE("chat_template: unknown templates are refused, naming --chat-template",
          "[chat_template]") {
  const std::vector<std::string> refused = {
      // made up
      "{% for m in messages %}<<{{ m['role'] }}>> {{ m['content'] }}\n{% endfor %}",
      // empty: the model has no template
      "",
      "  \n",
      // Llama 3.1+ (dated system header)
      "{{- bos_token }}{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}"
      "{{- \"Cutting Knowledge Date: December 2023\\n\" }}",
      // Mistral v0.1 (a space after eos)
      "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
      "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' "
      "%}{{ message['content'] + eos_token + ' ' }}{% endif %}{% endfor %}",
      // Mistral v3-tekken spacing
      "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
      "{{ '[INST]' + message['content'] + '[/INST]' }}{% else %}{{ message['content'] + "
      "eos_token }}{% endif %}{% endfor %}",
      // Gemma 3 (system text prepended to the first user turn)
      "{{ bos_token }}{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
      "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}",
      // Phi-3 April 2024 (no system role, no generation prompt)
      "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}"
      "{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + "
      "'\\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + "
      "'\\n'}}{% endif %}{% endfor %}",
  };
  for (const auto& src : refused) {
    INFO("template: " << src);
    CHECK_THROWS_AS(recognise_chat_template(src, "<s>", "</s>"), ChatTemplateError);
    CHECK_THROWS_AS(recognise_chat_template(src, "<s>", "</s>"), std::invalid_argument);
    CHECK_THROWS_WITH(recognise_chat_template(src, "<s>", "</s>"),
                      Catch::Contains("not recognised") && Catch::Contains("--chat-template") &&
                          Catch::Contains("chatml, llama2, llama3, mistral, phi3, gemma, qwen2, "
                                          "plain"));
  }
}

TEST_CASE("chat_template: markers in Jinja comments are not markers", "[chat_template]") {
  const std::string src =
      "{# not [INST], not <start_of_turn> #}" + read_file(kDataDir + "chatml.jinja");
  CHECK(recognise_chat_template(src, "", "").format == ChatFormat::kChatml);
  CHECK_THROWS_AS(recognise_chat_template("{# <|im_start|> #}hello", "", ""), ChatTemplateError);
}

TEST_CASE("chat_template: special tokens and stop strings", "[chat_template]") {
  const auto llama3 = recognise_file("llama3");
  CHECK(llama3.bos_token == "<|begin_of_text|>");
  CHECK(llama3.stop_strings == std::vector<std::string>{"<|eot_id|>"});
  CHECK(recognise_file("gemma").stop_strings == std::vector<std::string>{"<end_of_turn>", "<eos>"});
  CHECK(recognise_file("phi3").stop_strings ==
        std::vector<std::string>{"<|end|>", "<|endoftext|>"});
  CHECK(recognise_file("smollm2").stop_strings == std::vector<std::string>{"<|im_end|>"});
  CHECK(recognise_file("mistral").stop_strings == std::vector<std::string>{"</s>"});
  // A model that does not say its bos gets the family's usual one where the template emits it.
  const auto gemma = recognise_chat_template(read_file(kDataDir + "gemma.jinja"), "", "");
  CHECK(starts_with(render_chat(gemma, {{"user", "x"}}, true), "<bos><start_of_turn>user\n"));
}

TEST_CASE("chat_template: plain format", "[chat_template]") {
  const auto info = builtin_chat_template(ChatFormat::kPlain, "", "");
  const std::vector<ChatMessage> ms = {
      {"system", "S"}, {"user", "U"}, {"assistant", "A"}, {"user", "U2"}};
  CHECK(render_chat(info, ms, true) ==
        "System: S\n\nUser: U\n\nAssistant: A\n\nUser: U2\n\nAssistant:");
  CHECK(render_chat(info, ms, false) == "System: S\n\nUser: U\n\nAssistant: A\n\nUser: U2");
  const auto s = render_chat_split(info, ms, true);
  CHECK(s.prefix_history == "System: S\n\nUser: U\n\nAssistant: A\n\n");
  CHECK(s.final_turn == "User: U2\n\nAssistant:");
  CHECK(info.stop_strings == std::vector<std::string>{"\n\nUser:"});
}

TEST_CASE("chat_template: conversations the built-ins refuse", "[chat_template]") {
  const auto info = recognise_file("chatml");
  CHECK_THROWS_AS(render_chat(info, {}, true), ChatTemplateError);
  CHECK_THROWS_WITH(render_chat(info, {{"tool", "{}"}}, true), Catch::Contains("tool"));
}
