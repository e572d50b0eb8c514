#!/usr/bin/env python3
"""Writes a Llama GGUF file (llama.cpp layout) as a Hugging Face directory: config.json,
model.safetensors (f32, dequantized), tokenizer.json, tokenizer_config.json,
special_tokens_map.json and generation_config.json, for tools that load models with
transformers (bench/peer_llmlingua.sh runs LLMLingua on the default model this way).

    python bench/gguf_to_hf.py --gguf models/SmolLM2-135M-Instruct.Q4_1.gguf --out DIR
    python bench/gguf_to_hf.py --gguf FILE --out DIR --check build/precis [--prompt-file F]

Needs the PyPI packages gguf (its reader and dequantizers), numpy and safetensors; --check also
torch and transformers. --check converts nothing: it compares DIR under transformers with the
GGUF file under `precis score` and `precis generate` on one prompt (default: the first item of
data/eval/qa_lookup.jsonl, passages and question, ~940 tokens): token ids, per-token log-probs
(largest and mean difference) and 16 greedy tokens, and prints the figures. It fails only when
the token ids differ; log-probs differ a little by design (precis computes on the quantized
blocks with 8-bit activations and an f16 KV cache; DIR holds the dequantized f32 values).

What it undoes of llama.cpp's converter (convert_hf_to_gguf.py):
  - names: token_embd -> model.embed_tokens, blk.N.attn_q -> model.layers.N.self_attn.q_proj, ...
  - the rotary permutation of attn_q / attn_k rows (llama.cpp pairs each head's rotary halves
    as interleaved rows; HF keeps the two halves apart);
  - quantization: every tensor is dequantized to f32 with gguf's reference dequantizers, so the
    HF model computes with exactly the values precis reads from the GGUF file (Q4_1 and Q8_0
    blocks in the default model). A missing output.weight means tied embeddings.
The tokenizer: a byte-level BPE (tokenizer.ggml.model "gpt2") with the file's vocabulary and
merges; the pre-tokenizer is chosen by tokenizer.ggml.pre ("smollm": single digits, then
GPT-2's regex, as SmolLM2's own tokenizer.json; "gpt2"/"default": GPT-2's regex alone). Tokens
of type CONTROL become special added tokens. The chat template is copied.

Only what the default model needs is supported (architecture llama, a gpt2 tokenizer); anything
else is an error naming the file and the field. The directory is written to OUT.tmp and renamed,
so a half-written one is never taken for a finished one.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np


def fail(path, msg):
    sys.exit(f"gguf_to_hf: {path}: {msg}")


def field_value(reader, key, path, default=None):
    import gguf

    f = reader.fields.get(key)
    if f is None:
        if default is not None:
            return default
        fail(path, f"missing field {key}")
    t = f.types[0]
    if t == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    if t == gguf.GGUFValueType.ARRAY:
        sub = f.types[-1]
        if sub == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    return f.parts[f.data[0]].tolist()[0]


def unpermute(w, n_head):
    """Inverse of llama.cpp's LlamaModel.permute(w, n_head, n_head) on rows."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def pre_tokenizer(pre, path):
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    if pre == "smollm":
        return {"type": "Sequence",
                "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]}
    if pre in ("gpt2", "default"):
        return byte_level
    fail(path, f"tokenizer.ggml.pre {pre!r} is not supported (smollm, gpt2, default)")


def convert(gguf_path, out):
    import gguf
    from safetensors.numpy import save_file

    r = gguf.GGUFReader(gguf_path)
    arch = field_value(r, "general.architecture", gguf_path)
    if arch != "llama":
        fail(gguf_path, f"general.architecture is {arch!r}, only 'llama' is supported")
    n_layer = int(field_value(r, "llama.block_count", gguf_path))
    n_embd = int(field_value(r, "llama.embedding_length", gguf_path))
    n_ff = int(field_value(r, "llama.feed_forward_length", gguf_path))
    n_head = int(field_value(r, "llama.attention.head_count", gguf_path))
    n_kv = int(field_value(r, "llama.attention.head_count_kv", gguf_path, n_head))
    ctx = int(field_value(r, "llama.context_length", gguf_path))
    theta = float(field_value(r, "llama.rope.freq_base", gguf_path, 10000.0))
    eps = float(field_value(r, "llama.attention.layer_norm_rms_epsilon", gguf_path))
    tok_model = field_value(r, "tokenizer.ggml.model", gguf_path)
    if tok_model != "gpt2":
        fail(gguf_path, f"tokenizer.ggml.model is {tok_model!r}, only 'gpt2' (byte-level BPE)")
    tokens = field_value(r, "tokenizer.ggml.tokens", gguf_path)
    types = field_value(r, "tokenizer.ggml.token_type", gguf_path)
    merges = field_value(r, "tokenizer.ggml.merges", gguf_path)
    bos = int(field_value(r, "tokenizer.ggml.bos_token_id", gguf_path))
    eos = int(field_value(r, "tokenizer.ggml.eos_token_id", gguf_path))
    unk = int(field_value(r, "tokenizer.ggml.unknown_token_id", gguf_path, -1))
    pad = int(field_value(r, "tokenizer.ggml.padding_token_id", gguf_path, -1))
    add_bos = bool(field_value(r, "tokenizer.ggml.add_bos_token", gguf_path, False))
    pre = field_value(r, "tokenizer.ggml.pre", gguf_path, "default")
    chat_template = field_value(r, "tokenizer.chat_template", gguf_path, "")
    vocab = len(tokens)

    names = {"token_embd.weight": "model.embed_tokens.weight",
             "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    per_layer = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
                 "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                 "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
                 "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                 "ffn_down": "mlp.down_proj"}
    tensors = {}
    for t in r.tensors:
        name = t.name
        if name in names:
            hf = names[name]
        else:
            parts = name.split(".")
            if len(parts) != 4 or parts[0] != "blk" or parts[2] not in per_layer:
                fail(gguf_path, f"tensor {name}: unexpected name")
            hf = f"model.layers.{int(parts[1])}.{per_layer[parts[2]]}.{parts[3]}"
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        want = tuple(int(d) for d in reversed(t.shape.tolist()))
        if w.shape != want:
            w = w.reshape(want)
        if name.endswith("attn_q.weight"):
            w = unpermute(w, n_head)
        elif name.endswith("attn_k.weight"):
            w = unpermute(w, n_kv)
        tensors[hf] = np.ascontiguousarray(w)
    tied = "lm_head.weight" not in tensors
    expect = 3 + 9 * n_layer - (1 if tied else 0)
    if len(tensors) != expect:
        fail(gguf_path, f"{len(tensors)} tensors, expected {expect} for {n_layer} layers")
    if tensors["model.embed_tokens.weight"].shape != (vocab, n_embd):
        fail(gguf_path, f"token_embd.weight shape {tensors['model.embed_tokens.weight'].shape}")

    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    save_file(tensors, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": n_embd, "intermediate_size": n_ff, "num_hidden_layers": n_layer,
        "num_attention_heads": n_head, "num_key_value_heads": n_kv,
        "max_position_embeddings": ctx, "rope_theta": theta, "rms_norm_eps": eps,
        "vocab_size": vocab, "tie_word_embeddings": tied, "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "rope_scaling": None,
        "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad if pad >= 0 else None,
        "torch_dtype": "float32", "initializer_range": 0.02, "use_cache": True,
    }
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(tmp, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": bos, "eos_token_id": eos}, f, indent=2)

    CONTROL = 3
    added = [{"id": i, "content": tokens[i], "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for i in range(vocab) if types[i] == CONTROL]
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": pre_tokenizer(pre, gguf_path),
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }
    with open(os.path.join(tmp, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    special = {"bos_token": tokens[bos], "eos_token": tokens[eos]}
    if unk >= 0:
        special["unk_token"] = tokens[unk]
    if pad >= 0:
        special["pad_token"] = tokens[pad]
    tok_config = dict(special, tokenizer_class="PreTrainedTokenizerFast", model_max_length=ctx,
                      add_bos_token=add_bos, clean_up_tokenization_spaces=False,
                      chat_template=chat_template or None)
    with open(os.path.join(tmp, "tokenizer_config.json"), "w") as f:
        json.dump(tok_config, f, indent=2)
    with open(os.path.join(tmp, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    print(f"gguf_to_hf: {gguf_path} -> {out}: {n_layer} layers, {n_embd} wide, vocab {vocab}, "
          f"{sum(v.size for v in tensors.values()) / 1e6:.1f}M parameters (f32), "
          f"tied embeddings {tied}, pre-tokenizer {pre}")


def check(gguf_path, hf_dir, precis, prompt_file, threads):
    import subprocess
    import tempfile

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if prompt_file:
        with open(prompt_file, encoding="utf-8") as f:
            text = f.read()
    else:
        data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "eval",
                            "qa_lookup.jsonl")
        with open(data, encoding="utf-8") as f:
            item = json.loads(f.readline())
        text = "\n\n".join(item["contexts"]) + "\n\n" + item["question"]
    env = dict(os.environ, PRECIS_THREADS=str(threads))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        score = json.loads(subprocess.run(
            [precis, "score", "--model", gguf_path, "--prompt-file", f.name, "--json"],
            check=True, capture_output=True, text=True, env=env).stdout)
        gen = json.loads(subprocess.run(
            [precis, "generate", "--model", gguf_path, "--prompt-file", f.name, "--max-tokens",
             "16", "--temperature", "0", "--json"],
            check=True, capture_output=True, text=True, env=env).stdout)
    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()
    ids = tok(text, add_special_tokens=False).input_ids
    if score["tokens"] and score["tokens"][0] != ids[0] and score["logprobs"][0] is None \
            and score["tokens"][1:] == ids:
        ids = [score["tokens"][0]] + ids  # precis put a BOS first
    if ids != score["tokens"]:
        first = next((i for i, (a, b) in enumerate(zip(ids, score["tokens"])) if a != b),
                     min(len(ids), len(score["tokens"])))
        sys.exit(f"gguf_to_hf: check: token ids differ from precis's at position {first} "
                 f"({len(ids)} vs {len(score['tokens'])} tokens)")
    with torch.no_grad():
        x = torch.tensor([ids])
        lp = torch.log_softmax(model(x).logits[0].float(), -1)
        hf_lp = [lp[i - 1, ids[i]].item() for i in range(1, len(ids))]
        out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=16,
                             do_sample=False, pad_token_id=tok.eos_token_id)
    hf_greedy = out[0, len(ids):].tolist()
    pr_lp = score["logprobs"][1:]
    diffs = [abs(a - b) for a, b in zip(hf_lp, pr_lp)]
    pr_greedy = gen["choices"][0]["tokens"]
    same = next((i for i, (a, b) in enumerate(zip(hf_greedy, pr_greedy)) if a != b),
                min(len(hf_greedy), len(pr_greedy)))
    print(f"gguf_to_hf: check on {len(ids)} tokens: token ids identical; log-probs |HF - precis| "
          f"max {max(diffs):.4f}, mean {sum(diffs) / len(diffs):.4f} nats; greedy: first {same} "
          f"of {len(hf_greedy)} tokens identical (HF {tok.decode(hf_greedy)!r}, precis "
          f"{gen['choices'][0]['text']!r})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", required=True, help="Llama GGUF file (llama.cpp layout)")
    ap.add_argument("--out", required=True, help="directory to write (replaced if present)")
    ap.add_argument("--check", metavar="PRECIS", help="compare --out with the GGUF under precis")
    ap.add_argument("--prompt-file", help="--check's prompt (default: an eval item)")
    ap.add_argument("--threads", type=int, default=2, help="--check's threads (both sides)")
    a = ap.parse_args()
    if not os.path.isfile(a.gguf):
        sys.exit(f"gguf_to_hf: {a.gguf}: no such file")
    if a.check:
        check(a.gguf, a.out, a.check, a.prompt_file, a.threads)
    else:
        convert(a.gguf, a.out)


if __name__ == "__main__":
    main()
