#!/usr/bin/env python3
"""Independent reference for a llama-architecture GGUF model: greedy tokens and their log-probs.

The weights come from the `gguf` package (its GGUFReader and its own dequantizers, not precis'),
q/k rows are put back into Hugging Face's layout (undoing llama.cpp's converter permutation), and
the forward pass is llama_reference.py's float64 PyTorch implementation with rotate_half rotary.
precis instead keeps the file's layout and rotates adjacent pairs, so agreement checks its GGUF
reader, its dequantization and its rotary layout at once.

    python3 -m venv --system-site-packages /tmp/venv-ref && /tmp/venv-ref/bin/pip install gguf
    /tmp/venv-ref/bin/python tests/reference/gguf_reference.py \
        --gguf models/SmolLM2-135M-Instruct.Q4_1.gguf --tokens 1,504,... --steps 16 --out F.json

Writes {"prompt": [ids], "tokens": [greedy ids], "logprobs": [log p of each], "top2_gap": [...]}
(top2_gap: the margin between the best and second-best log-prob at each step, so a test can tell
a near-tie, where float rounding may pick either token, from a real disagreement).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from gguf import GGUFReader
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as ref  # noqa: E402


def field(reader, key):
    f = reader.fields[key]
    v = f.parts[f.data[0]]
    return v.tolist()[0] if hasattr(v, "tolist") and len(v) == 1 else v


def unpermute(w, n_head):
    """Inverse of llama.cpp convert_hf_to_gguf's permute() on q/k weight rows."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load(path):
    r = GGUFReader(path)
    arch = bytes(field(r, "general.architecture")).decode()
    if arch != "llama":
        raise SystemExit(f"{path}: only llama is covered by this reference (got {arch})")
    p = arch + "."
    cfg = {
        "heads": int(field(r, p + "attention.head_count")),
        "kv_heads": int(field(r, p + "attention.head_count_kv")),
        "eps": float(field(r, p + "attention.layer_norm_rms_epsilon")),
        "theta": float(field(r, p + "rope.freq_base")) if p + "rope.freq_base" in r.fields else 10000.0,
        "layers": int(field(r, p + "block_count")),
    }
    tensors = {}
    for t in r.tensors:
        dims = [int(d) for d in t.shape]  # GGUF order: dims[0] is the row length
        values = dequantize(t.data, t.tensor_type).astype(np.float64)
        tensors[t.name] = values.reshape(list(reversed(dims)))
    hidden = tensors["token_embd.weight"].shape[1]
    cfg["head_dim"] = hidden // cfg["heads"]
    T = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    w = {"embed": T(tensors["token_embd.weight"]), "norm": T(tensors["output_norm.weight"]),
         "layers": []}
    w["lm_head"] = T(tensors.get("output.weight", tensors["token_embd.weight"]))
    for i in range(cfg["layers"]):
        b = f"blk.{i}."
        w["layers"].append({
            "in_norm": T(tensors[b + "attn_norm.weight"]),
            "q": T(unpermute(tensors[b + "attn_q.weight"], cfg["heads"])),
            "k": T(unpermute(tensors[b + "attn_k.weight"], cfg["kv_heads"])),
            "v": T(tensors[b + "attn_v.weight"]),
            "o": T(tensors[b + "attn_output.weight"]),
            "post_norm": T(tensors[b + "ffn_norm.weight"]),
            "gate": T(tensors[b + "ffn_gate.weight"]),
            "up": T(tensors[b + "ffn_up.weight"]),
            "down": T(tensors[b + "ffn_down.weight"]),
        })
    return cfg, w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--tokens", required=True, help="prompt token ids, comma-separated")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cfg, w = load(a.gguf)
    prompt = [int(t) for t in a.tokens.split(",")]
    seq, out, lps, gaps = list(prompt), [], [], []
    with torch.no_grad():
        for _ in range(a.steps):
            logits = ref.forward(cfg, w, seq, torch.float64)[-1]
            logp = torch.log_softmax(logits, dim=-1)
            top = torch.topk(logp, 2)
            tok = int(top.indices[0])
            out.append(tok)
            lps.append(float(top.values[0]))
            gaps.append(float(top.values[0] - top.values[1]))
            seq.append(tok)
    with open(a.out, "w") as f:
        json.dump({"gguf": os.path.basename(a.gguf), "prompt": prompt, "tokens": out,
                   "logprobs": lps, "top2_gap": gaps}, f, indent=1)


if __name__ == "__main__":
    main()
