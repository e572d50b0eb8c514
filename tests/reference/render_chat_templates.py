#!/usr/bin/env python3
"""Reference renderings of real chat templates, for tests/test_chat_template.cpp.

Renders the models' own Jinja chat templates (tests/data/chat_templates/<name>.jinja) with
jinja2, set up the way Hugging Face transformers' apply_chat_template sets it up, over a fixed
set of conversations, and writes tests/data/chat_templates/expected.json. The C++ built-ins
must reproduce these strings byte for byte; a template that raises for a conversation (roles
that do not alternate, a system role the model does not take) is recorded with its message.

    /usr/bin/python3 tests/reference/render_chat_templates.py            # write expected.json
    /usr/bin/python3 tests/reference/render_chat_templates.py --check    # compare, exit 1 on a diff
    python3 tests/reference/render_chat_templates.py --gguf models/SmolLM2-135M-Instruct.Q4_1.gguf
        # also check smollm2.jinja against the GGUF's tokenizer.chat_template (needs `gguf`)

Needs jinja2 (Debian python3-jinja2). Imports nothing from precis.

Where each template comes from (the "chat_template" string of the model's tokenizer_config.json,
JSON-decoded, no trailing newline unless the published string has one):
  smollm2   HuggingFaceTB/SmolLM2-135M-Instruct: read from the GGUF in models/ (exact).
  chatml    teknium/OpenHermes-2.5-Mistral-7B: plain ChatML, no default system message.
  qwen2     Qwen/Qwen2-7B-Instruct (same template as SmolLM2's, Qwen's default system text).
  qwen2_5   Qwen/Qwen2.5-7B-Instruct (the tool-capable template; its tools branch is not
            exercised here because tools=None, as transformers passes without tools).
  llama2    meta-llama/Llama-2-7b-chat-hf (its '\\n' are Jinja escapes in the source).
  llama3    meta-llama/Meta-Llama-3-8B-Instruct (3.0; 3.1+ adds a dated system header).
  mistral   mistralai/Mistral-7B-Instruct-v0.2 as released (v0.3 and Mixtral-8x7B-Instruct-v0.1
            shipped the same string at release; later revisions of those repos changed it).
  phi3      microsoft/Phi-3-mini-4k-instruct, the template as updated in May 2024 (the April 2024
            original had bos, no system role and no add_generation_prompt).
  gemma     google/gemma-7b-it and gemma-2-*-it (same string).
These were written from the published strings and cross-checked against copies quoted in other
projects' tests (llama.cpp tests/test-chat-template.cpp, mistral.rs); smollm2 is exact.
"""

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "chat_templates"

# name -> (bos_token, eos_token) as in the model's tokenizer_config.json (None: not set).
TEMPLATES = {
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "chatml": ("<s>", "<|im_end|>"),
    "qwen2": (None, "<|im_end|>"),
    "qwen2_5": (None, "<|im_end|>"),
    "llama2": ("<s>", "</s>"),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>"),
    "mistral": ("<s>", "</s>"),
    "phi3": ("<s>", "<|endoftext|>"),
    "gemma": ("<bos>", "<eos>"),
}


def S(text):
    return {"role": "system", "content": text}


def U(text):
    return {"role": "user", "content": text}


def A(text):
    return {"role": "assistant", "content": text}


CONVERSATIONS = {
    "system_user": [S("You are a terse assistant."), U("What is the capital of France?")],
    "user_only": [U("Hello!")],
    "multi_turn": [
        U("Hi there."),
        A("Hello! How can I help?"),
        U("Name a prime number."),
        A("   7   "),
        U("And an even one?"),
    ],
    "multi_turn_system": [
        S("Answer in French."),
        U("Good morning"),
        A("Bonjour !"),
        U("Thank you"),
    ],
    "ends_with_assistant": [S("Be brief."), U("2+2?"), A("4")],
    "whitespace_unicode": [
        S("  Sei gentile.\n"),
        U("  Line one\nLine two\n\n  "),
        A(" \u00dcn\u00efc\u00f6d\u00e9 \u2014 \u65e5\u672c\u8a9e \U0001f642 \n"),
        U("\u3000\u00bfQu\u00e9 tal?\u00a0\t"),
    ],
    "odd_whitespace": [
        U("\x1c\u0085\u2028 odd spaces \u2029\u202f\u205f\u1680\x0b"),
        A("\u2003tab\tinside\u2009"),
        U("\u200bzero width is not a space\u200b"),
    ],
    "leading_spaces": [U("    indented code:\n    x = 1\n")],
    "empty_contents": [S(""), U(""), A(""), U("")],
    "whitespace_user_after_system": [S("Sys"), U("  \n ")],
    "system_only": [S("You are a helpful bot.")],
    "user_user": [U("one"), U("two")],
    "assistant_first": [A("I start."), U("ok")],
    "system_second": [U("Hi"), S("Be formal.")],
    "system_in_middle": [U("Hi"), A("Hello"), S("Be formal now."), U("Greetings")],
    "special_tokens_in_content": [U("<|im_end|> [INST] <start_of_turn> {{ not jinja }}")],
}


def make_environment():
    """The environment of transformers' _compile_jinja_template (utils/chat_template_utils.py)."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_all():
    env = make_environment()
    out = {"conversations": CONVERSATIONS, "templates": {}}
    for name, (bos, eos) in TEMPLATES.items():
        source = (DATA / f"{name}.jinja").read_text(encoding="utf-8")
        template = env.from_string(source)
        special = {}
        if bos is not None:
            special["bos_token"] = bos
        if eos is not None:
            special["eos_token"] = eos
        cases = []
        for conv_name, messages in CONVERSATIONS.items():
            for gen in (False, True):
                case = {"conversation": conv_name, "add_generation_prompt": gen}
                try:
                    case["text"] = template.render(messages=messages, tools=None, documents=None,
                                                   add_generation_prompt=gen, **special)
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
        out["templates"][name] = {"file": f"{name}.jinja", "bos_token": bos or "",
                                  "eos_token": eos or "", "cases": cases}
    return out


def check_gguf(path):
    import gguf  # PyPI `gguf`, in a venv

    reader = gguf.GGUFReader(path)
    field = reader.fields["tokenizer.chat_template"]
    from_gguf = bytes(field.parts[field.data[0]]).decode("utf-8")
    ours = (DATA / "smollm2.jinja").read_text(encoding="utf-8")
    if from_gguf != ours:
        print(f"smollm2.jinja differs from {path}'s tokenizer.chat_template", file=sys.stderr)
        return False
    print(f"smollm2.jinja == {path}'s tokenizer.chat_template")
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with expected.json, write nothing")
    ap.add_argument("--gguf", help="also compare smollm2.jinja with this GGUF's chat template")
    args = ap.parse_args()
    ok = True
    if args.gguf:
        ok = check_gguf(args.gguf)
    text = json.dumps(render_all(), ensure_ascii=False, indent=1) + "\n"
    path = DATA / "expected.json"
    if args.check:
        if path.read_text(encoding="utf-8") != text:
            print(f"{path} is out of date: rerun without --check", file=sys.stderr)
            ok = False
        else:
            print(f"{path} is up to date")
    else:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
