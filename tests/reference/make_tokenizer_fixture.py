#!/usr/bin/env python3
"""Expected token ids for tests/test_bpe_tokenizer.cpp, from Hugging Face `tokenizers`.

Reads the byte-level BPE vocabulary of a GGUF model (SmolLM2-135M-Instruct: tokenizer.ggml.model
"gpt2", pre "smollm") with the `gguf` package, builds the tokenizer.json that Hugging Face ships
for SmolLM2 (BPE, no normalizer, pre-tokenizer Sequence[Digits(individual_digits),
ByteLevel(use_regex)], as StarCoder's), and encodes test strings with `tokenizers`:

  tests/data/smollm2_tokenizer.json           the tokenizer.json (compact; the C++ test loads it)
  tests/data/smollm2_tokenizer_expected.json  strings and their ids, special-token cases, and
                                              the pieces HF's pre-tokenizers cut strings into

    python3 -m venv /tmp/venv-tok && /tmp/venv-tok/bin/pip install tokenizers gguf numpy
    /tmp/venv-tok/bin/python tests/reference/make_tokenizer_fixture.py \
        [--gguf models/SmolLM2-135M-Instruct.Q4_1.gguf]

Special tokens written in the strings count as plain text in "ids" and as single ids in
"special". The strings are the lines of tests/data/tokenizer_mix.txt, the whole file, edge cases and
seeded random mixtures of fragments, so a rerun writes the same files.
"""

import argparse
import json
import os
import random
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")

# Hugging Face's spellings of the pre-tokenizer regexes (ByteLevel's own; the Split patterns of
# the Llama 3 and Qwen2 tokenizer.json files).
HF_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
HF_LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
HF_QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
            r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

FRAGMENTS = [
    "hello", "Hello", "HELLO", " world", "World", "the", " the", "'s", "'S", "'t", "'re", "'ve",
    "'m", "'ll", "'d", "'x", "don't", "it's", "1", "12", "123", "1234", "3.14", "1,000", "0x1F",
    "１２３", "٣", "²", "½", " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", "\u00a0",
    "\u2028", "\u2029", "\u3000", "\u200b", "\u2009", "\x0b", "\x0c", ".", ",", "!", "?", "...",
    "--", "->", "=>", "::", "{", "}", "(", ")", "[", "]", "<", ">", "/", "\\", "\"", "'", "`",
    "#", "@", "$", "%", "^", "&", "*", "_", "+", "=", "|", "~", "中", "中文", "你好", "世界",
    "日本", "ひらがな", "カタカナ", "한국어", "русский", "Ελληνικά", "עברית", "العربية", "हिन्दी",
    "ไทย", "e\u0301", "\u0301", "n\u0303", "é", "ß", "ﬁ", "Ǆ", "😀", "👍", "👍🏽", "🏽",
    "👨‍👩‍👧‍👦", "\u200d", "🏳️‍🌈", "❤️", "\ufe0f", "🇫🇷", "🦙", "\U0001F9D1\u200d\U0001F4BB",
    "def", " def", "return", "    ", "        ", "x = 1", "a[i]", "i++", "foo_bar", "FooBar",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im", "im_end|>", "<file_sep>", "<s>",
]

EDGE_CASES = [
    "", " ", "  ", "\n", "\n\n\n", "\t", "a", "'s", "'S", "''s", "1", "12345678901234567890",
    "   \t\n  x", " " * 40 + "x", "x" + " " * 40, "\r\n\r\n", "a\u00a0b", "\u00a0\u00a0x",
    "e\u0301e\u0301e\u0301", "😀" * 8, "Hello world", " Hello world", "Hello  world",
    "<|im_start|>user\nhi<|im_end|>", "<|im_start|><|im_end|>", "<|im_start|<|im_end|>>",
]

# Chat text with special tokens: ids with the special tokens parsed, and written out as text.
SPECIAL_CASES = [
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    "What is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text before<|endoftext|>text after",
    "<|im_start|><|im_end|><|im_start|>",
    "no special tokens here",
]


def read_gguf(path):
    import gguf

    reader = gguf.GGUFReader(path)

    def field(name):
        f = reader.fields.get(name)
        if f is None:
            return None
        return f.contents()

    model = field("tokenizer.ggml.model")
    if model != "gpt2":
        sys.exit(f"{path}: tokenizer.ggml.model is {model!r}, not 'gpt2'")
    return {
        "tokens": field("tokenizer.ggml.tokens"),
        "types": field("tokenizer.ggml.token_type"),
        "merges": field("tokenizer.ggml.merges"),
        "pre": field("tokenizer.ggml.pre"),
    }


def build_tokenizer_json(vocab):
    tokens, types = vocab["tokens"], vocab["types"]
    added = []
    for i, (t, ty) in enumerate(zip(tokens, types)):
        if ty in (3, 4):  # control, user-defined
            added.append({"id": i, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": ty == 4, "special": ty == 3})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": True},
        ]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)},
                  "merges": list(vocab["merges"])},
    }


def test_strings():
    with open(os.path.join(DATA, "tokenizer_mix.txt"), "rb") as f:
        mix = f.read().decode("utf-8")
    lines = [line for line in re.split(r"(?<=\n)", mix) if line]
    rng = random.Random(20240601)
    mixtures = []
    for _ in range(400):
        n = rng.randint(1, 12)
        mixtures.append("".join(rng.choice(FRAGMENTS) for _ in range(n)))
    strings = lines + [mix] + EDGE_CASES + mixtures
    seen = set()
    unique = []
    for s in strings:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    return unique, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", default=os.path.join(ROOT, "models",
                                                   "SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()

    from tokenizers import Regex, Tokenizer, pre_tokenizers

    vocab = read_gguf(args.gguf)
    tj = build_tokenizer_json(vocab)
    text = json.dumps(tj, ensure_ascii=False, separators=(",", ":"))
    tok = Tokenizer.from_str(text)
    tok_path = os.path.join(DATA, "smollm2_tokenizer.json")
    if len(text.encode("utf-8")) >= 3 * 1024 * 1024:
        sys.exit("tokenizer.json would be 3 MB or more; not written")
    with open(tok_path, "w", encoding="utf-8", newline="") as f:
        f.write(text)

    strings, lines = test_strings()
    # "ids": special tokens written in the text are plain text (encode_special_tokens); "special":
    # they are single ids (HF's default), only where that differs.
    cases = []
    for s in strings:
        tok.encode_special_tokens = True
        ids = tok.encode(s, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        parsed = tok.encode(s, add_special_tokens=False).ids
        for i in (ids, parsed):
            back = tok.decode(i, skip_special_tokens=False)
            if back != s:
                sys.exit(f"HF does not round-trip {s!r}: {back!r}")
        case = {"text": s, "ids": ids}
        if parsed != ids:
            case["special"] = parsed
        cases.append(case)

    special = []
    for s in SPECIAL_CASES:
        tok.encode_special_tokens = False
        parsed = tok.encode(s, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        plain = tok.encode(s, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        special.append({"text": s, "parse_special": parsed, "plain": plain})

    def split_with(pre, strs):
        return [[p for p, _ in pre.pre_tokenize_str(s)] for s in strs]

    def isolated(pattern):
        return pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)

    pre_strings = lines + EDGE_CASES + strings[len(lines) + 1:][:150]
    pre_strings = [s for s in dict.fromkeys(pre_strings) if s]
    pretok = {
        "strings": pre_strings,
        "gpt2": split_with(isolated(HF_GPT2), pre_strings),
        "llama3": split_with(isolated(HF_LLAMA3), pre_strings),
        "qwen2": split_with(isolated(HF_QWEN2), pre_strings),
        "smollm": split_with(pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), isolated(HF_GPT2)]), pre_strings),
    }

    expected = {
        "generator": "tests/reference/make_tokenizer_fixture.py",
        "tokenizers_version": __import__("tokenizers").__version__,
        "gguf_pre": vocab["pre"],
        "cases": cases,
        "special": special,
        "pretokenizer": pretok,
    }
    out = os.path.join(DATA, "smollm2_tokenizer_expected.json")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(expected, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        f.write("\n")
    print(json.dumps({"tokenizer_json_bytes": len(text.encode("utf-8")), "cases": len(cases),
                      "special": len(special), "pretokenizer_strings": len(pre_strings)}))


if __name__ == "__main__":
    main()
