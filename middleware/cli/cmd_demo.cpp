// `precis demo`: the whole pipeline on a long, real prompt, shown step by step for someone who
// has never heard of precis.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/bpe_tokenizer.hpp"
#include "engine/data_root.hpp"
#include "engine/spm_vocab_tokenizer.hpp"
#include "middleware/cli/commands.hpp"
#include "middleware/cli/engine_options.hpp"
#include "middleware/cli/parse.hpp"
#include "middleware/cli/result_json.hpp"
#include "precis/precis.hpp"

namespace po = boost::program_options;

namespace precis::cli {

namespace {

// A vocabulary piece as text: byte-level BPE ("Ġthe"), SentencePiece ("▁the") or a byte-fallback
// piece ("<0x0A>").
std::string piece_text(const std::string& piece) {
  if (piece.find("\xc4\xa0") != std::string::npos || piece.find("\xc4\x8a") != std::string::npos)
    return engine::unmap_bytes(piece);  // "Ġ"/"Ċ": a byte-level BPE vocabulary
  if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>')
    return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  return engine::spm_piece_text(piece);
}

// The original prompt with dropped tokens struck through (ANSI on a terminal, ~~...~~ else).
std::string marked_original(const CompressResult& c, bool tty) {
  const std::string open = tty ? "\x1b[2;9m" : "~~", close = tty ? "\x1b[0m" : "~~";
  std::string out, run;
  auto flush = [&] {
    if (run.empty()) return;
    size_t lead = run.find_first_not_of(' ');
    if (lead == std::string::npos) lead = run.size();
    out += run.substr(0, lead);
    std::string dropped = run.substr(lead);
    // A whole dropped passage would bury the kept text: show its ends and its size.
    if (dropped.size() > 240) {
      size_t words = 1;
      for (char ch : dropped) words += ch == ' ';
      size_t cut_head = dropped.rfind(' ', 80), cut_tail = dropped.find(' ', dropped.size() - 60);
      if (cut_head == std::string::npos) cut_head = 80;
      if (cut_tail == std::string::npos) cut_tail = dropped.size() - 60;
      dropped = dropped.substr(0, cut_head) + " [... " + std::to_string(words) +
                " words dropped ...]" + dropped.substr(cut_tail);
    }
    if (!dropped.empty()) out += open + dropped + close;
    run.clear();
  };
  for (size_t i = 0; i < c.pieces.size(); ++i) {
    const std::string text = piece_text(c.pieces[i]);
    if (i < c.kept.size() && !c.kept[i]) {
      run += text;
    } else {
      flush();
      out += text;
    }
  }
  flush();
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void heading(const char* text) {
  std::printf("\n\x1b[1m%s\x1b[0m\n", text);
}

}  // namespace

int cmd_demo(const Args& args) {
  std::string model, documents = (engine::data_root() / "data" / "demo" / "documents.txt").string();
  std::string question = "Whom did Boaz take to be his wife, and what was the name of their son?";
  double rate = 0.25;
  int max_tokens = 48;
  std::string scorer = "stat", planner = "template";
  po::options_description desc("options");
  desc.add_options()(
      "model", po::value(&model),
      "GGUF file or Hugging Face directory (default: the default model, see models/README.md)")(
      "documents", po::value(&documents), "the long prompt: passages separated by blank lines")(
      "question", po::value(&question), "the question asked about them")(
      "rate", po::value(&rate)->default_value(rate), "fraction of the prompt's tokens to keep")(
      "scorer", po::value(&scorer)->default_value(scorer), "stat | lm")(
      "planner", po::value(&planner)->default_value(planner), "template | lm | none")(
      "max-tokens", po::value(&max_tokens)->default_value(max_tokens), "answer length at most");
  DeviceOverride device;
  add_device_override_flags(desc, device);
  if (auto rc = parse_args("demo", "The whole precis pipeline on a long real prompt.", args, desc))
    return *rc;
  const bool tty = ::isatty(STDOUT_FILENO);

  PipelineConfig cfg;
  cfg.model.path = model.empty() ? default_model_path() : model;
  device.apply(cfg.model);
  if (cfg.model.path.empty())
    throw std::invalid_argument(
        "no model: the default model is not fetched (bash scripts/fetch-default-model.sh) and "
        "the fallback models/default is missing; pass --model FILE.gguf|DIR");
  cfg.compress.rate = rate;
  cfg.compress.scorer = scorer_flag(scorer);
  const PlannerKind planner_kind = planner_flag(planner);
  cfg.plan_enabled = planner_kind != PlannerKind::none;
  if (cfg.plan_enabled) cfg.plan.planner = planner_kind;
  cfg.plan.when = "always";  // the demo shows every stage (a served request plans on "auto")
  cfg.plan.budget_tokens = 90;
  cfg.generate.max_tokens = max_tokens;
  cfg.generate.temperature = 0.0f;  // greedy: the demo reads the same every time
  cfg.generate.repetition_penalty = 1.2f;
  const std::string text = read_file(documents);

  std::printf(
      "\x1b[1mprecis\x1b[0m shortens a long prompt to its most informative tokens, writes a short\n"
      "code-form plan of how to answer, and generates the answer from the shortened,\n"
      "plan-guided prompt. Model: %s\n",
      cfg.model.path.c_str());
  Pipeline pipeline(cfg);
  // As an application sends it: one user message with the documents and the question. The
  // pipeline splits it (documents compressed, question kept) and renders the model's template.
  Request req;
  req.messages = {{"user", text + "\n\n" + question}};

  heading("1. The request");
  std::printf("question: %s\ndocuments: %s\n", question.c_str(), documents.c_str());

  std::string answer;
  Result r = pipeline.run(req, [&](const std::string& d) { answer += d; });

  heading("2. Compression: struck-through tokens are dropped");
  std::printf("%s\n", marked_original(r.compression, tty).c_str());
  heading("   The compressed prompt the model sees");
  std::printf("%s\n", r.compressed_prompt.c_str());
  std::printf("\n%d -> %d tokens: %.0f%% kept (target %.0f%%), scorer '%s'%s%s\n",
              r.original_tokens, r.compressed_tokens,
              100.0 * r.compressed_tokens / std::max(1, r.original_tokens), rate * 100,
              scorer.c_str(), r.compression.note.empty() ? "" : "; ", r.compression.note.c_str());

  if (cfg.plan_enabled) {
    heading("3. The plan (pseudo-code placed before the question)");
    std::printf("```python\n%s\n```\nplanner '%s', task kind '%s'%s\n", r.plan.code.c_str(),
                planner_text(r.plan).c_str(), task_kind_text(r.plan).c_str(),
                r.plan.fell_back ? (" (fell back: " + r.plan.fallback_reason + ")").c_str() : "");
  }

  heading("4. The answer");
  std::printf("%s\n\n%d tokens at %.1f tokens/s (finish: %s)\n", r.text.c_str(),
              r.completion_tokens, r.generation_tokens_per_second,
              r.choices.empty() ? "-" : r.choices[0].finish_reason.c_str());

  heading("5. Time per stage");
  double total = 0;
  for (const auto& t : r.timings) {
    std::printf("   %-10s %9.1f ms\n", t.stage.c_str(), t.ms);
    total += t.ms;
  }
  std::printf("   %-10s %9.1f ms\n", "total", total);

  if (model.empty() && cfg.model.path == kjv_model_dir()) {
    std::printf(
        "\nThis ran on the fallback model: tiny (a few million parameters, trained on the King\n"
        "James Bible only), so its answers are KJV-flavoured and often wrong. Fetch the default\n"
        "model (SmolLM2-135M-Instruct) with `bash scripts/fetch-default-model.sh`, or run\n"
        "  precis demo --model FILE.gguf|DIR\n");
  }
  return 0;
}

}  // namespace precis::cli
