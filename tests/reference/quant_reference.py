#!/usr/bin/env python3
"""Golden data for the quantized weight kernels (engine/quant*.cpp), made by the `gguf` Python
package (llama.cpp's gguf-py: gguf.quants), which the C++ code does not share any code with.

    python3 -m venv /tmp/venv-gguf && /tmp/venv-gguf/bin/pip install gguf numpy
    /tmp/venv-gguf/bin/python tests/reference/quant_reference.py --seed 1 \
        --out tests/data/quant_golden.bin [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]

Records (all little-endian):
    magic  b"PQGOLD01", u32 record count, then per record:
    u32 kind (0: dequantize, 1: quantize), u32 ggml type id, u32 elements,
    u32 label length + label (utf-8),
    u32 input length + input, u32 output length + output.
For kind 0 the input is the blocks' bytes and the output gguf.quants.dequantize's float32 values;
for kind 1 the input is float32 values and the output gguf.quants.quantize's bytes.

Random blocks are random bytes whose f16 fields (scales, mins) are replaced by random finite
halves (normal and subnormal, either sign). With --model, the first 64 blocks of token_embd.weight
(q8_0) and blk.0.attn_q.weight (q4_1) of a real GGUF file are added, and blk.0.attn_norm.weight
(f32) is quantized. Prints a JSON summary on stdout.
"""

import argparse
import importlib.metadata
import json
import os
import struct
import sys

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as T
    from gguf.quants import dequantize, quantize
except ImportError as e:  # pragma: no cover
    sys.exit(f"quant_reference.py needs the gguf package (pip install gguf numpy): {e}")

# Byte offsets of each type's f16 fields within a block, and the block's element count / size.
F16_FIELDS = {
    T.Q8_0: [0],
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
}
QUANTIZABLE = [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]


def random_f16(rng, count):
    """Random finite halves: every exponent (subnormals included) and both signs."""
    bits = rng.integers(0, 1 << 16, size=count, dtype=np.uint32).astype(np.uint16)
    exp = (bits >> 10) & 0x1F
    bits = np.where(exp == 0x1F, bits & ~np.uint16(0x4000), bits)  # 31 -> 15: finite
    return bits.astype(np.uint16)


def random_blocks(rng, qtype, nblocks):
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(nblocks, block_bytes), dtype=np.uint32).astype(np.uint8)
    for off in F16_FIELDS[qtype]:
        raw[:, off : off + 2] = random_f16(rng, nblocks).view(np.uint8).reshape(nblocks, 2)
    return raw


def quantize_inputs(rng):
    """Named float32 inputs of 256 values (8 blocks of 32) for the quantizers."""
    n = 256
    special = np.zeros(n, dtype=np.float32)
    special[32:64] = 0.75  # constant block (q4_1: d = 0)
    special[64:96] = rng.normal(size=32)
    special[64 + 7] = 40.0  # one outlier
    special[96:128] = -rng.uniform(0.0, 1.0, size=32)  # all negative
    special[128:160] = rng.uniform(0.0, 1.0, size=32)  # all positive
    special[160:192] = np.arange(32) - 16  # integers: exact ties for q8_0/q4_0
    special[192:224] = (np.arange(32) % 5 - 2) * 0.5
    special[224:256] = rng.normal(size=32) * 1e-6  # d below the f16 normal range
    return {
        "normal": rng.normal(size=n).astype(np.float32),
        "uniform": rng.uniform(-3.0, 1.0, size=n).astype(np.float32),
        "halves": (rng.integers(-16, 17, size=n) * 0.5).astype(np.float32),
        "large": (rng.normal(size=n) * 3e3).astype(np.float32),
        "special": special,
    }


class Writer:
    def __init__(self):
        self.records = []

    def add(self, kind, qtype, n, label, inp, out):
        self.records.append((kind, int(qtype), n, label, inp.tobytes(), out.tobytes()))

    def bytes(self):
        parts = [b"PQGOLD01", struct.pack("<I", len(self.records))]
        for kind, qtype, n, label, inp, out in self.records:
            lab = label.encode()
            parts.append(struct.pack("<IIII", kind, qtype, n, len(lab)) + lab)
            parts.append(struct.pack("<I", len(inp)) + inp)
            parts.append(struct.pack("<I", len(out)) + out)
        return b"".join(parts)


def dequant_record(w, qtype, raw, label):
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    values = dequantize(raw, qtype).astype(np.float32).reshape(-1)
    w.add(0, qtype, values.size, label, raw, values)
    return values


def quant_record(w, qtype, values, label):
    values = np.ascontiguousarray(values, dtype=np.float32).reshape(1, -1)
    out = quantize(values, qtype).reshape(-1)
    w.add(1, qtype, values.size, label, values, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", help="a GGUF file with q8_0 token_embd and q4_1 blk.0.attn_q")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    w = Writer()
    for qtype in F16_FIELDS:
        block_elems, _ = gguf.GGML_QUANT_SIZES[qtype]
        nblocks = 16 if block_elems == 32 else 4
        dequant_record(w, qtype, random_blocks(rng, qtype, nblocks), f"random {qtype.name}")
    for name, values in quantize_inputs(rng).items():
        for qtype in QUANTIZABLE:
            quant_record(w, qtype, values, f"{name} {qtype.name}")

    if args.model:
        reader = gguf.GGUFReader(args.model)
        tensors = {t.name: t for t in reader.tensors}
        for name, qtype in (("token_embd.weight", T.Q8_0), ("blk.0.attn_q.weight", T.Q4_1)):
            t = tensors[name]
            if t.tensor_type != qtype:
                sys.exit(f"{name} is {t.tensor_type.name}, expected {qtype.name}")
            _, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
            raw = np.asarray(t.data).reshape(-1)[: 64 * block_bytes].reshape(64, block_bytes)
            values = dequant_record(w, qtype, raw, f"{os.path.basename(args.model)} {name}")
            # The reference quantizer on the dequantized weights: llama.cpp's requantization.
            quant_record(w, qtype, values, f"requantized {name}")
        norm = np.asarray(tensors["blk.0.attn_norm.weight"].data, dtype=np.float32).reshape(-1)
        for qtype in QUANTIZABLE:
            quant_record(w, qtype, norm, f"blk.0.attn_norm.weight {qtype.name}")

    data = w.bytes()
    with open(args.out, "wb") as f:
        f.write(data)
    print(json.dumps({"records": len(w.records), "bytes": len(data),
                      "gguf": importlib.metadata.version("gguf"), "numpy": np.__version__}))


if __name__ == "__main__":
    main()
