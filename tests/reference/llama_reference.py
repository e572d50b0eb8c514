#!/usr/bin/python3
"""Independent reference forward pass of Hugging Face LlamaForCausalLM.

Reads an HF model directory (config.json + *.safetensors) with its own
safetensors parser, runs the forward pass in float64 (default) with PyTorch,
and writes the logits of every position as little-endian float32 [T, V].

It deliberately imports nothing from precis, transformers or safetensors, so
that agreement with the C++ engine is evidence, not a tautology.

    llama_reference.py --model DIR --tokens 1,5,9 --out logits.f32 [--dtype float64|float32]
    llama_reference.py --self-test
"""
import argparse
import glob
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np
import torch


class RefError(Exception):
    """A problem with the input; reported on stderr with exit status 2."""


# ---------------------------------------------------------------- config

def load_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        raise RefError(f"{path}: missing")
    try:
        with open(path) as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise RefError(f"{path}: cannot parse: {e}")

    def need(key):
        if key not in raw:
            raise RefError(f"{path}: missing field '{key}'")
        return raw[key]

    cfg = {
        "hidden": int(need("hidden_size")),
        "inter": int(need("intermediate_size")),
        "layers": int(need("num_hidden_layers")),
        "heads": int(need("num_attention_heads")),
        "vocab": int(need("vocab_size")),
        "eps": float(need("rms_norm_eps")),
        "theta": float(raw.get("rope_theta", 10000.0)),
        "tied": bool(raw.get("tie_word_embeddings", False)),
        # Qwen2: the Llama layout plus q/k/v projection biases.
        "qkv_bias": raw.get("model_type") == "qwen2",
    }
    cfg["kv_heads"] = int(raw.get("num_key_value_heads") or cfg["heads"])
    # Newer configs may state head_dim explicitly; HF falls back to hidden/heads.
    cfg["head_dim"] = int(raw.get("head_dim") or cfg["hidden"] // cfg["heads"])
    if cfg["heads"] % cfg["kv_heads"] != 0:
        raise RefError(f"{path}: num_attention_heads {cfg['heads']} not a multiple "
                       f"of num_key_value_heads {cfg['kv_heads']}")
    if cfg["head_dim"] % 2 != 0:
        raise RefError(f"{path}: head_dim {cfg['head_dim']} must be even for rotary")
    # Refuse variants this reference does not implement rather than silently differ.
    if raw.get("rope_scaling"):
        raise RefError(f"{path}: rope_scaling is not supported by the reference")
    if (raw.get("attention_bias") and not cfg["qkv_bias"]) or raw.get("mlp_bias"):
        raise RefError(f"{path}: attention_bias/mlp_bias are not supported by the reference")
    if raw.get("hidden_act", "silu") != "silu":
        raise RefError(f"{path}: hidden_act '{raw['hidden_act']}' is not supported")
    return cfg


# ---------------------------------------------------------------- safetensors

_DTYPES = {"F32": (np.dtype("<f4"), 4), "F16": (np.dtype("<f2"), 2), "BF16": (np.dtype("<u2"), 2)}


def read_header(path):
    """Returns (header dict without __metadata__, byte offset of the data area, file size)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise RefError(f"{path}: shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise RefError(f"{path}: header length {n} runs past end of file ({size} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise RefError(f"{path}: header is not valid JSON: {e}")
    header.pop("__metadata__", None)
    return header, 8 + n, size


def read_tensor(path, name, info, data_start, size):
    """Reads one tensor as float32 numpy, validating dtype, shape and offsets."""
    dtype = info.get("dtype")
    if dtype not in _DTYPES:
        raise RefError(f"{path}: tensor {name}: unsupported dtype {dtype}")
    np_dtype, itemsize = _DTYPES[dtype]
    shape = [int(d) for d in info.get("shape", [])]
    begin, end = (int(x) for x in info.get("data_offsets", [-1, -1]))
    count = math.prod(shape)
    if begin < 0 or end < begin or data_start + end > size:
        raise RefError(f"{path}: tensor {name}: data_offsets [{begin},{end}] outside the file")
    if end - begin != count * itemsize:
        raise RefError(f"{path}: tensor {name}: {end - begin} bytes but shape {shape} x {dtype} "
                       f"needs {count * itemsize}")
    with open(path, "rb") as f:
        f.seek(data_start + begin)
        arr = np.frombuffer(f.read(end - begin), dtype=np_dtype)
    if dtype == "BF16":
        # bf16 is the top half of an IEEE float32.
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.astype(np.float32).reshape(shape)


def load_tensors(model_dir):
    """Returns {name: float32 ndarray} for every tensor of the model."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.isfile(index):
        try:
            with open(index) as f:
                weight_map = json.load(f)["weight_map"]
        except (OSError, ValueError, KeyError) as e:
            raise RefError(f"{index}: cannot read weight_map: {e}")
        files = sorted(set(weight_map.values()))
    else:
        weight_map = None
        files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(model_dir, "*.safetensors")))
        if not files:
            raise RefError(f"{model_dir}: no *.safetensors files and no model.safetensors.index.json")
    tensors = {}
    for fname in files:
        path = os.path.join(model_dir, fname)
        if not os.path.isfile(path):
            raise RefError(f"{path}: missing (named by {index})")
        header, data_start, size = read_header(path)
        for name, info in header.items():
            if weight_map is not None and weight_map.get(name) != fname:
                continue  # the index says this tensor lives elsewhere
            if name in tensors:
                raise RefError(f"{path}: tensor {name} appears in more than one file")
            tensors[name] = read_tensor(path, name, info, data_start, size)
    return tensors


# ---------------------------------------------------------------- weights

def gather_weights(cfg, tensors, dtype):
    """Picks the HF-named tensors, checks their shapes, converts to torch `dtype`."""
    H, I, V = cfg["hidden"], cfg["inter"], cfg["vocab"]
    q_out, kv_out = cfg["heads"] * cfg["head_dim"], cfg["kv_heads"] * cfg["head_dim"]

    def get(name, shape):
        if name not in tensors:
            raise RefError(f"tensor {name}: missing from the model files")
        t = tensors[name]
        if list(t.shape) != list(shape):
            raise RefError(f"tensor {name}: shape {list(t.shape)}, expected {list(shape)}")
        return torch.from_numpy(t).to(dtype)

    w = {"embed": get("model.embed_tokens.weight", [V, H]), "norm": get("model.norm.weight", [H])}
    # Tied: the output projection is the embedding matrix; HF ties after loading,
    # so it ignores a stray lm_head.weight in the files, and so do we.
    w["lm_head"] = w["embed"] if cfg["tied"] else get("lm_head.weight", [V, H])
    w["layers"] = []
    for i in range(cfg["layers"]):
        p = f"model.layers.{i}."
        w["layers"].append({
            "in_norm": get(p + "input_layernorm.weight", [H]),
            "q": get(p + "self_attn.q_proj.weight", [q_out, H]),
            "k": get(p + "self_attn.k_proj.weight", [kv_out, H]),
            "v": get(p + "self_attn.v_proj.weight", [kv_out, H]),
            "o": get(p + "self_attn.o_proj.weight", [H, q_out]),
            "post_norm": get(p + "post_attention_layernorm.weight", [H]),
            "gate": get(p + "mlp.gate_proj.weight", [I, H]),
            "up": get(p + "mlp.up_proj.weight", [I, H]),
            "down": get(p + "mlp.down_proj.weight", [H, I]),
        })
        if cfg["qkv_bias"]:
            L = w["layers"][-1]
            L["bq"] = get(p + "self_attn.q_proj.bias", [q_out])
            L["bk"] = get(p + "self_attn.k_proj.bias", [kv_out])
            L["bv"] = get(p + "self_attn.v_proj.bias", [kv_out])
    return w


# ---------------------------------------------------------------- forward

def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(cfg, w, tokens, dtype):
    """Batched (over positions) forward; returns logits [T, V] in `dtype`."""
    T, nh, nkv, hd = len(tokens), cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    ids = torch.tensor(tokens, dtype=torch.long)
    x = w["embed"][ids]                                                  # [T, H]

    # HF keeps rotary tables, RMSNorm and softmax in float32 even for a float64
    # model; we stay in float64 throughout. That costs ~1e-6 relative against HF
    # (far below the engine's 1e-4 tolerance) and is the more accurate truth.
    inv_freq = 1.0 / (cfg["theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(dtype)[None], emb.sin().to(dtype)[None]      # [1, T, hd]

    mask = torch.full((T, T), float("-inf"), dtype=dtype).triu(1)        # causal
    for L in w["layers"]:
        h = rms_norm(x, L["in_norm"], cfg["eps"])
        q, k, v = h @ L["q"].T, h @ L["k"].T, h @ L["v"].T
        if "bq" in L:
            q, k, v = q + L["bq"], k + L["bk"], v + L["bv"]
        q = q.view(T, nh, hd).transpose(0, 1)                            # [nh, T, hd]
        k = k.view(T, nkv, hd).transpose(0, 1)                           # [nkv, T, hd]
        v = v.view(T, nkv, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # GQA: kv head j serves query heads j*group .. j*group+group-1.
        group = nh // nkv
        k = k.repeat_interleave(group, dim=0)
        v = v.repeat_interleave(group, dim=0)
        scores = q @ k.transpose(1, 2) / math.sqrt(hd) + mask
        attn = torch.softmax(scores, dim=-1) @ v                         # [nh, T, hd]
        x = x + attn.transpose(0, 1).reshape(T, nh * hd) @ L["o"].T
        h = rms_norm(x, L["post_norm"], cfg["eps"])
        x = x + (torch.nn.functional.silu(h @ L["gate"].T) * (h @ L["up"].T)) @ L["down"].T
    return rms_norm(x, w["norm"], cfg["eps"]) @ w["lm_head"].T


def run(model_dir, tokens, dtype):
    cfg = load_config(model_dir)
    for t in tokens:
        if not 0 <= t < cfg["vocab"]:
            raise RefError(f"token id {t} outside the vocabulary [0, {cfg['vocab']})")
    w = gather_weights(cfg, load_tensors(model_dir), dtype)
    with torch.no_grad():
        return forward(cfg, w, tokens, dtype)


# ---------------------------------------------------------------- self-test

def write_safetensors(path, tensors):
    """Minimal writer: tensors is {name: (dtype_str, float32 ndarray)}."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, arr) in tensors.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if dtype == "F32":
            blob = arr.astype("<f4").tobytes()
        elif dtype == "F16":
            blob = arr.astype("<f2").tobytes()
        else:  # BF16: truncate; self-test values are chosen bf16-exact
            blob = (arr.view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    hjson = json.dumps(header).encode()
    hjson += b" " * (-len(hjson) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)) + hjson + b"".join(blobs))


def naive_forward(cfg, tensors, tokens):
    """Slow float64 numpy recomputation: one position at a time, explicit loops
    over heads and keys, rotary as explicit pair rotations (i, i+hd/2)."""
    W = {k: v.astype(np.float64) for k, v in tensors.items()}
    nh, nkv, hd, eps = cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["eps"]
    half = hd // 2

    def norm(x, w):
        return x / math.sqrt(sum(float(e) * float(e) for e in x) / len(x) + eps) * w

    def rope(vec, pos):
        out = vec.copy()
        for i in range(half):
            a = pos * cfg["theta"] ** (-2.0 * i / hd)
            x1, x2 = vec[i], vec[i + half]
            out[i] = x1 * math.cos(a) - x2 * math.sin(a)
            out[i + half] = x2 * math.cos(a) + x1 * math.sin(a)
        return out

    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    nl = cfg["layers"]
    cache_k = [[] for _ in range(nl)]  # per layer: list over positions of [nkv, hd]
    cache_v = [[] for _ in range(nl)]
    logits = []
    for pos, tok in enumerate(tokens):
        x = W["model.embed_tokens.weight"][tok].copy()
        for l in range(nl):
            p = f"model.layers.{l}."
            h = norm(x, W[p + "input_layernorm.weight"])
            q = (W[p + "self_attn.q_proj.weight"] @ h).reshape(nh, hd)
            k = (W[p + "self_attn.k_proj.weight"] @ h).reshape(nkv, hd)
            v = (W[p + "self_attn.v_proj.weight"] @ h).reshape(nkv, hd)
            cache_k[l].append(np.stack([rope(k[j], pos) for j in range(nkv)]))
            cache_v[l].append(v)
            out = np.zeros(nh * hd)
            for hq in range(nh):
                j = hq // (nh // nkv)
                qr = rope(q[hq], pos)
                s = [float(qr @ cache_k[l][t][j]) / math.sqrt(hd) for t in range(pos + 1)]
                m = max(s)
                e = [math.exp(si - m) for si in s]
                z = sum(e)
                acc = np.zeros(hd)
                for t in range(pos + 1):
                    acc += e[t] / z * cache_v[l][t][j]
                out[hq * hd:(hq + 1) * hd] = acc
            x = x + W[p + "self_attn.o_proj.weight"] @ out
            h = norm(x, W[p + "post_attention_layernorm.weight"])
            g = W[p + "mlp.gate_proj.weight"] @ h
            u = W[p + "mlp.up_proj.weight"] @ h
            act = np.array([gi / (1.0 + math.exp(-gi)) * ui for gi, ui in zip(g, u)])
            x = x + W[p + "mlp.down_proj.weight"] @ act
        logits.append(head @ norm(x, W["model.norm.weight"]))
    return np.stack(logits)


def make_tiny_model(model_dir, seed, tied, sharded):
    """Random tiny Llama (GQA, mixed dtypes) in HF layout; returns its tensors."""
    rng = np.random.default_rng(seed)
    H, I, V, nh, nkv, nl = 32, 48, 61, 4, 2, 2
    hd = H // nh
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H,
           "intermediate_size": I, "num_hidden_layers": nl, "num_attention_heads": nh,
           "num_key_value_heads": nkv, "vocab_size": V, "rms_norm_eps": 1e-5,
           "rope_theta": 500.0, "tie_word_embeddings": tied, "hidden_act": "silu",
           "max_position_embeddings": 64, "torch_dtype": "float32"}

    def rand(*shape, scale=0.3, mean=0.0):
        # Round to bf16 so every dtype in the file stores the same value exactly.
        a = (mean + rng.standard_normal(shape) * scale).astype(np.float32)
        return ((a.view(np.uint32) + 0x8000) & 0xFFFF0000).view(np.float32)

    t = {"model.embed_tokens.weight": rand(V, H, scale=1.0), "model.norm.weight": rand(H, scale=0.1, mean=1.0)}
    if not tied:
        t["lm_head.weight"] = rand(V, H)
    for i in range(nl):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = rand(H, scale=0.1, mean=1.0)
        t[p + "post_attention_layernorm.weight"] = rand(H, scale=0.1, mean=1.0)
        for n, shape in [("q", (nh * hd, H)), ("k", (nkv * hd, H)), ("v", (nkv * hd, H)), ("o", (H, nh * hd))]:
            t[p + f"self_attn.{n}_proj.weight"] = rand(*shape)
        for n, shape in [("gate", (I, H)), ("up", (I, H)), ("down", (H, I))]:
            t[p + f"mlp.{n}_proj.weight"] = rand(*shape)
    # float16 cannot hold every bf16 value exactly; keep F16 for small-range tensors.
    dtypes = {n: ("F32" if i % 3 == 0 else "BF16" if i % 3 == 1 else "F16") for i, n in enumerate(t)}
    for n, a in t.items():
        if dtypes[n] == "F16":
            t[n] = a.astype(np.float16).astype(np.float32)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f)
    names = list(t)
    if sharded:
        parts = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
        with open(os.path.join(model_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": {n: fn for fn, ns in parts.items() for n in ns}}, f)
    else:
        parts = {"model.safetensors": names}
    for fn, ns in parts.items():
        write_safetensors(os.path.join(model_dir, fn), {n: (dtypes[n], t[n]) for n in ns})
    return t


def self_test():
    ok = True

    def check(what, cond, detail=""):
        nonlocal ok
        ok &= bool(cond)
        print(f"{'ok  ' if cond else 'FAIL'} {what} {detail}")

    tokens = [3, 17, 0, 60, 42, 8, 8, 25, 11]
    for tied, sharded in [(False, False), (True, True)]:
        with tempfile.TemporaryDirectory() as d:
            ref = make_tiny_model(d, seed=7 + tied, tied=tied, sharded=sharded)
            tag = f"[tied={tied} sharded={sharded}]"
            cfg = load_config(d)
            loaded = load_tensors(d)
            same = set(loaded) == set(ref) and all(np.array_equal(loaded[n], ref[n]) for n in ref)
            check(f"{tag} safetensors round trip (F32/F16/BF16)", same)

            got = run(d, tokens, torch.float64).numpy()
            want = naive_forward(cfg, loaded, tokens)
            err = np.abs(got - want).max() / np.abs(want).max()
            check(f"{tag} batched vs naive loop forward, float64", err < 1e-10, f"max rel err {err:.2e}")

            longer = run(d, tokens + [5, 9, 33], torch.float64).numpy()
            check(f"{tag} causality (appending tokens keeps earlier logits)",
                  np.abs(longer[:len(tokens)] - got).max() <= 1e-12 * np.abs(got).max())

            got32 = run(d, tokens, torch.float32).numpy()
            err32 = np.abs(got32 - want).max() / np.abs(want).max()
            check(f"{tag} float32 path close to float64", err32 < 1e-4, f"max rel err {err32:.2e}")

    with tempfile.TemporaryDirectory() as d:
        make_tiny_model(d, seed=1, tied=False, sharded=False)
        tensors = load_tensors(d)
        del tensors["model.layers.1.mlp.up_proj.weight"]
        try:
            gather_weights(load_config(d), tensors, torch.float64)
            check("missing tensor is reported", False)
        except RefError as e:
            check("missing tensor is reported", "up_proj" in str(e), f"({e})")
    print("self-test " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


# ---------------------------------------------------------------- main

def make_qwen2(src, dst, seed):
    """A Qwen2 directory from a Llama one: the same weights plus random q/k/v biases (large
    enough to matter), model_type qwen2. Written as f32."""
    os.makedirs(dst, exist_ok=True)
    cfg = load_config(src)
    tensors = load_tensors(src)
    rng = np.random.default_rng(seed)
    out = {name: ("F32", np.asarray(t, dtype=np.float32)) for name, t in tensors.items()}
    q_out, kv_out = cfg["heads"] * cfg["head_dim"], cfg["kv_heads"] * cfg["head_dim"]
    for i in range(cfg["layers"]):
        p = f"model.layers.{i}.self_attn."
        for name, n in (("q_proj", q_out), ("k_proj", kv_out), ("v_proj", kv_out)):
            out[p + name + ".bias"] = ("F32", rng.normal(0.0, 0.5, n).astype(np.float32))
    write_safetensors(os.path.join(dst, "model.safetensors"), out)
    with open(os.path.join(src, "config.json")) as f:
        raw = json.load(f)
    raw["model_type"] = "qwen2"
    raw["architectures"] = ["Qwen2ForCausalLM"]
    raw["torch_dtype"] = "float32"
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(raw, f, indent=1)
    for extra in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(src, extra)):
            with open(os.path.join(src, extra), "rb") as a, open(os.path.join(dst, extra), "wb") as b:
                b.write(a.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="HF model directory (config.json + *.safetensors)")
    ap.add_argument("--tokens", help="comma-separated token ids, e.g. 1,5,9")
    ap.add_argument("--out", help="output file: float32 LE logits, row-major [T, V]")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--self-test", action="store_true", help="run the built-in checks and exit")
    ap.add_argument("--make-qwen2", nargs=2, metavar=("SRC", "DST"),
                    help="write a Qwen2 directory: SRC's weights plus random q/k/v biases")
    args = ap.parse_args()
    if args.make_qwen2:
        make_qwen2(*args.make_qwen2, seed=5)
        return 0
    if args.self_test:
        return self_test()
    if not (args.model and args.tokens and args.out):
        ap.error("--model, --tokens and --out are required")
    try:
        try:
            tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
        except ValueError:
            raise RefError(f"--tokens: not a comma-separated list of integers: {args.tokens!r}")
        if not tokens:
            raise RefError("--tokens: empty")
        logits = run(args.model, tokens, getattr(torch, args.dtype))
        logits.numpy().astype("<f4").tofile(args.out)
    except (RefError, OSError) as e:
        print(f"llama_reference: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"tokens": logits.shape[0], "vocab": logits.shape[1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
