#!/usr/bin/env python3
"""The baseline engine_bench --compare-transformers measures against: Hugging Face transformers
generate() on the same model directory and workload (batch x (prompt + generated) tokens, greedy,
no early stop). Prints one line per batch size:
    transformers batch B: X generated tokens/s
Prompts follow engine_bench's formula over config.json's vocab_size (engine_bench uses the
tokenizer's size, which may be smaller), so the lengths match exactly and the ids nearly.
Needs torch and transformers; a batch that runs out of memory is reported as such.
"""
import argparse
import json
import os
import sys
import time


def prompt(n, vocab, salt):
    return [1] + [3 + (i * 7919 + salt * 104729) % (vocab - 3) for i in range(1, n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=32)
    a = ap.parse_args()

    import torch
    import transformers
    from transformers import LlamaForCausalLM

    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    # transformers 5 writes and reads "dtype"; 4.x wrote "torch_dtype" (precis make-model does).
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(
        cfg.get("dtype", cfg.get("torch_dtype")), torch.float32)
    # transformers 5 names the argument dtype; 4.x knows only torch_dtype (and would take an
    # unknown dtype= as a config attribute, silently loading f32).
    major = int(transformers.__version__.split(".")[0])
    model = LlamaForCausalLM.from_pretrained(a.model, **{"dtype" if major >= 5 else "torch_dtype": dtype})
    model = model.to(a.device).eval()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{a.device}, {dtype}", flush=True)

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    vocab = cfg["vocab_size"]
    warm = True
    for b in [int(x) for x in a.batches.split(",")]:
        ids = torch.tensor([prompt(a.prompt_tokens, vocab, s) for s in range(b)], device=a.device)
        mask = torch.ones_like(ids)
        kw = dict(attention_mask=mask, do_sample=False, pad_token_id=0,
                  max_new_tokens=a.decode_tokens, min_new_tokens=a.decode_tokens)
        try:
            with torch.inference_mode():
                if warm:  # CUDA context, kernels and allocator warm-up, not timed
                    model.generate(ids[:1], **dict(kw, attention_mask=mask[:1], max_new_tokens=2,
                                                   min_new_tokens=2))
                    warm = False
                sync()
                t = time.perf_counter()
                out = model.generate(ids, **kw)
                sync()
                dt = time.perf_counter() - t
            generated = (out.shape[1] - ids.shape[1]) * b
            print(f"transformers batch {b}: {generated / dt:.1f} generated tokens/s", flush=True)
        except torch.cuda.OutOfMemoryError:
            print(f"transformers batch {b}: out of device memory", flush=True)
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
