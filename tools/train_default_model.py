#!/usr/bin/python3
"""Trains precis's default model: a small Llama-architecture language model on the King James
Bible (public domain, from Debian's bible-kjv package), exported in the Hugging Face layout the
engine loads (config.json, model.safetensors in f16, tokenizer.model).

    tools/train_default_model.py --out models/default --minutes 45
    tools/train_default_model.py --score models/default "In the beginning"   # log-probs, JSON

Runs on CPU with Debian's python3-torch (or on a GPU when torch sees one). Needs the
`bible-kjv` and `sentencepiece` Debian packages (for the text and `spm_train`).
"""
import argparse
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG = dict(hidden_size=256, intermediate_size=688, num_hidden_layers=5, num_attention_heads=8,
              num_key_value_heads=4, vocab_size=4096, rms_norm_eps=1e-5, rope_theta=10000.0,
              max_position_embeddings=512, tie_word_embeddings=False)


# ----------------------------------------------------------------------------- data

def kjv_chapters():
    """Every chapter of the KJV as (book, chapter, text), from the `bible` program."""
    out = subprocess.run(["bible", "-l0", "Ge1:1-Re22:21"], capture_output=True, text=True,
                         check=True).stdout
    chapters, current, head = [], [], None
    for line in out.splitlines():
        m = re.match(r"^(\S.*) (\d+)$", line)
        if m and not line.startswith(" "):
            if head and current:
                chapters.append((head[0], int(head[1]), " ".join(current)))
            head, current = (m.group(1), m.group(2)), []
            continue
        v = re.sub(r"^\s*\d+ ", "", line).strip()
        if v:
            current.append(v)
    if head and current:
        chapters.append((head[0], int(head[1]), " ".join(current)))
    return chapters


def split(chapters):
    # Every 25th chapter is held out: same style, unseen text.
    train = [c for i, c in enumerate(chapters) if i % 25 != 7]
    held = [c for i, c in enumerate(chapters) if i % 25 == 7]
    return train, held


def train_tokenizer(train, out_dir, vocab):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w") as f:
            for _, _, text in train:
                # One verse-ish sentence per line keeps SentencePiece's sentence sampling sane.
                for s in re.split(r"(?<=[.;:?!])\s+", text):
                    f.write(s + "\n")
        prefix = os.path.join(out_dir, "tokenizer")
        subprocess.run(["spm_train", f"--input={corpus}", f"--model_prefix={prefix}",
                        f"--vocab_size={vocab}", "--model_type=bpe", "--byte_fallback=true",
                        "--character_coverage=1.0", "--pad_id=-1", "--unk_id=0", "--bos_id=1",
                        "--eos_id=2", "--num_threads=2", "--minloglevel=2"], check=True)
        os.remove(prefix + ".vocab")
    return prefix + ".model"


def encode_all(tok_model, chapters):
    """Token ids of each chapter (BOS-prefixed), via spm_encode."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.txt")
        with open(src, "w") as f:
            for _, _, text in chapters:
                f.write(text + "\n")
        out = subprocess.run(["spm_encode", f"--model={tok_model}", "--output_format=id",
                              f"--input={src}"], capture_output=True, text=True, check=True).stdout
    return [[1] + [int(x) for x in line.split()] for line in out.splitlines()]


# ----------------------------------------------------------------------------- model

class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, nh, nkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.nh, self.nkv, self.hd = nh, nkv, H // nh
        self.input_layernorm = RMSNorm(H, c["rms_norm_eps"])
        self.q_proj = nn.Linear(H, nh * self.hd, bias=False)
        self.k_proj = nn.Linear(H, nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(H, nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(nh * self.hd, H, bias=False)
        self.post_attention_layernorm = RMSNorm(H, c["rms_norm_eps"])
        I = c["intermediate_size"]
        self.gate_proj = nn.Linear(H, I, bias=False)
        self.up_proj = nn.Linear(H, I, bias=False)
        self.down_proj = nn.Linear(I, H, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o_proj(o)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Block(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        hd = c["hidden_size"] // c["num_attention_heads"]
        self.register_buffer("inv_freq", 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd)),
                             persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids):
        T = ids.shape[1]
        freqs = torch.arange(T, device=ids.device).float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat([freqs, freqs], -1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))

    def hf_state(self):
        """Tensors under Hugging Face's LlamaForCausalLM names."""
        out = {"model.embed_tokens.weight": self.embed_tokens.weight, "model.norm.weight": self.norm.weight,
               "lm_head.weight": self.lm_head.weight}
        for i, L in enumerate(self.layers):
            p = f"model.layers.{i}."
            out[p + "input_layernorm.weight"] = L.input_layernorm.weight
            out[p + "post_attention_layernorm.weight"] = L.post_attention_layernorm.weight
            for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
                out[p + f"self_attn.{n}.weight"] = getattr(L, n).weight
            for n in ("gate_proj", "up_proj", "down_proj"):
                out[p + f"mlp.{n}.weight"] = getattr(L, n).weight
        return out


# ----------------------------------------------------------------------------- safetensors

def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = tensors[name].detach().cpu().to(torch.float16).numpy()
        data = arr.tobytes()
        header[name] = {"dtype": "F16", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            b, e = meta["data_offsets"]
            f.seek(base + b)
            arr = np.frombuffer(f.read(e - b), dtype=np.float16).reshape(meta["shape"])
            out[name] = torch.from_numpy(arr.astype(np.float32))
        return out


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    c = {k: cfg[k] for k in CONFIG}
    m = Llama(c)
    state = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    with torch.no_grad():
        for name, p in m.hf_state().items():
            p.copy_(state[name])
    return m.eval()


# ----------------------------------------------------------------------------- training

def batches(seqs, seq_len, batch, rng):
    stream = [t for s in seqs for t in s]
    n = len(stream) - seq_len - 1
    data = torch.tensor(stream, dtype=torch.long)
    while True:
        starts = [rng.randrange(n) for _ in range(batch)]
        x = torch.stack([data[s:s + seq_len] for s in starts])
        y = torch.stack([data[s + 1:s + seq_len + 1] for s in starts])
        yield x, y


@torch.no_grad()
def held_out_loss(model, seqs, seq_len, device, max_tokens=60000):
    model.eval()
    stream = [t for s in seqs for t in s][:max_tokens]
    total, count = 0.0, 0
    for i in range(0, len(stream) - 1, seq_len):
        chunk = torch.tensor(stream[i:i + seq_len + 1], device=device)[None]
        if chunk.shape[1] < 2:
            break
        with torch.autocast(device, dtype=torch.bfloat16):
            logits = model(chunk[:, :-1])
        total += F.cross_entropy(logits[0].float(), chunk[0, 1:], reduction="sum").item()
        count += chunk.shape[1] - 1
    model.train()
    return total / count


def train(args):
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    chapters = kjv_chapters()
    tr, held = split(chapters)
    print(f"KJV: {len(chapters)} chapters, {len(tr)} train, {len(held)} held out", flush=True)
    if args.init:
        tok = os.path.join(args.out, "tokenizer.model")
        if os.path.abspath(args.init) != os.path.abspath(args.out):
            import shutil
            shutil.copy(os.path.join(args.init, "tokenizer.model"), tok)
    else:
        tok = train_tokenizer(tr, args.out, CONFIG["vocab_size"])
    tr_ids, held_ids = encode_all(tok, tr), encode_all(tok, held)
    n_train = sum(map(len, tr_ids))
    print(f"tokens: {n_train} train, {sum(map(len, held_ids))} held out", flush=True)

    model = Llama(CONFIG).to(device)
    if args.init:
        # Continue from an exported model (f16 weights, fresh optimizer state).
        model.load_state_dict(load_model(args.init).state_dict())
        print(f"initialised from {args.init}", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params / 1e6:.2f} M", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    it = batches(tr_ids, args.seq_len, args.batch, rng)
    start = time.time()
    budget = args.minutes * 60
    step, seen, log = 0, 0, []
    # Cosine schedule over the time budget (steps are not known in advance on a shared CPU).
    while time.time() - start < budget:
        frac = (time.time() - start) / budget
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = next(it)
        x, y = x.to(device), y.to(device)
        # bf16 autocast: on CPUs with AVX512-BF16 oneDNN runs the matmuls ~10x faster than
        # Debian's generic fp32 BLAS; master weights and the optimizer stay in fp32.
        with torch.autocast(device, dtype=torch.bfloat16):
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, CONFIG["vocab_size"]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen += x.numel()
        if step % 50 == 0:
            print(f"step {step}  tokens {seen}  loss {loss.item():.3f}  lr {lr:.2e}  "
                  f"{seen / (time.time() - start):.0f} tok/s", flush=True)
        if step % 500 == 0:
            export(model, args.out)
    elapsed = time.time() - start
    hl = held_out_loss(model, held_ids, args.seq_len, device)
    export(model, args.out)
    report = {"parameters": n_params, "steps": step, "tokens_seen": seen, "train_tokens": n_train,
              "seconds": round(elapsed), "device": device, "threads": args.threads,
              "held_out_loss": round(hl, 4), "held_out_perplexity": round(math.exp(hl), 2),
              "seq_len": args.seq_len, "batch": args.batch, "lr": args.lr, "seed": args.seed}
    with open(os.path.join(args.out, "training_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report), flush=True)


def export(model, out):
    save_safetensors(os.path.join(out, "model.safetensors"), model.hf_state())
    cfg = dict(CONFIG, architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
               torch_dtype="float16", bos_token_id=1, eos_token_id=2)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def score(model_dir, text):
    """Per-token log-probs of `text` (BOS first) under the exported f16 weights, this file's model."""
    model = load_model(model_dir).double()
    ids = [1] + [int(x) for x in subprocess.run(
        ["spm_encode", f"--model={os.path.join(model_dir, 'tokenizer.model')}", "--output_format=id"],
        input=text, capture_output=True, text=True, check=True).stdout.split()]
    with torch.no_grad():
        lp = model(torch.tensor([ids])).log_softmax(-1)[0]
    out = [None] + [lp[i - 1, ids[i]].item() for i in range(1, len(ids))]
    print(json.dumps({"tokens": ids, "logprobs": out}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/default")
    ap.add_argument("--minutes", type=float, default=75)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="continue training from this exported model directory")
    ap.add_argument("--score", nargs=2, metavar=("MODEL_DIR", "TEXT"))
    args = ap.parse_args()
    if args.score:
        score(*args.score)
    else:
        train(args)


if __name__ == "__main__":
    main()
