#!/usr/bin/env python3
"""LLMLingua's PromptCompressor over the documents of bench/e2e_eval's question set, for
bench/peer_llmlingua.sh: one JSON-lines file per rate that `e2e_eval --external NAME=FILE`
answers and scores like its own methods, and the compression's tokens/s.

    python bench/llmlingua_compress.py --model HF_DIR [--data data/eval/qa_lookup.jsonl]
        [--limit N] [--rates 0.5,0.33] [--threads 2] [--preset precis-like] --out-dir DIR

What is compressed, as e2e_eval does it: item["contexts"] (the passages, which e2e_eval joins
with blank lines into the user message) with item["question"] given as the question; the
question is kept whole and appended by LLMLingua (concate_question), and is cut off again here,
so that FILE holds the compressed documents alone and e2e_eval puts the question after them as
it does for every method. --limit N picks the same items as e2e_eval --limit N (round-robin
over the sources, in file order).

The tiktoken stand-in: PromptCompressor.__init__ calls
tiktoken.encoding_for_model("gpt-3.5-turbo"), which downloads OpenAI's cl100k_base. It is
replaced here, before llmlingua is imported, by an encoding whose encode/decode is the model's
own tokenizer (SmolLM2's, no special tokens added). LLMLingua uses that encoding only to report
origin_tokens and compressed_tokens; its budget (rate x tokens) is counted with the model's
tokenizer already. So every token count here, and the rate, is in SmolLM2 tokens, the tokens
precis counts. Nothing is fetched: HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE are set and the
model is a local directory.

Presets (compress_prompt arguments; everything else at LLMLingua's defaults):
  precis-like    closest to precis's `lm` scorer (compress/): contexts ranked by LongLLMLingua's
                 question-aware score (perplexity of the question after each context,
                 rank_method="longllmlingua", condition_in_question="after"; precis ranks by
                 mean log p(question | context), the same order), the best kept whole, in their
                 original order, while they fit the budget + 100 tokens (context_budget; precis:
                 budget x 1.3), then token-level iterative compression by self-information in
                 200-token segments, each conditioned on the kept prefix (iterative_size=200,
                 condition_compare=False: not contrastive, as precis's). One addition precis
                 does not make: dynamic_context_compression_ratio=0.3 (LongLLMLingua's: the
                 better-ranked contexts keep more of their tokens); it costs no model pass
  longllmlingua  the LongLLMLingua paper's settings: as above plus condition_compare=True
                 (token scores contrast perplexity with and without the question before the
                 text: a second model pass per segment), condition_in_question="after_condition",
                 reorder_context="sort"
  llmlingua      the original LLMLingua: contexts ranked by their own perplexity
                 (question-blind), token-level self-information

Timing: torch.set_num_threads(--threads); the model is loaded first (not timed); one warm-up
compression of the first item at the first rate (not timed, not written); then every item at
every rate is timed alone with time.perf_counter() around compress_prompt. Writes
OUT_DIR/llmlingua@R.jsonl (R as e2e_eval prints rates, "0.33") with, per item: id, rate,
compressed_documents, compressed_prompt (LLMLingua's own output, question included),
original_tokens, compressed_tokens (SmolLM2 tokens of documents + "\\n\\n" + question and of
compressed_prompt), seconds; and OUT_DIR/llmlingua-summary.json. Prints tokens/s = original
tokens / compression seconds, summed over the items.
"""
import argparse
import json
import os
import sys
import time

PRESETS = {
    "precis-like": dict(rank_method="longllmlingua", condition_in_question="after",
                        reorder_context="original", dynamic_context_compression_ratio=0.3,
                        condition_compare=False, context_budget="+100", iterative_size=200,
                        use_context_level_filter=True, use_sentence_level_filter=False,
                        use_token_level_filter=True, concate_question=True),
    "longllmlingua": dict(rank_method="longllmlingua", condition_in_question="after_condition",
                          reorder_context="sort", dynamic_context_compression_ratio=0.3,
                          condition_compare=True, context_budget="+100", iterative_size=200,
                          use_context_level_filter=True, use_sentence_level_filter=False,
                          use_token_level_filter=True, concate_question=True),
    "llmlingua": dict(rank_method="llmlingua", condition_in_question="none",
                      reorder_context="original", dynamic_context_compression_ratio=0.0,
                      condition_compare=False, context_budget="+100", iterative_size=200,
                      use_context_level_filter=True, use_sentence_level_filter=False,
                      use_token_level_filter=True, concate_question=True),
}


def load_items(path, limit):
    """e2e_eval's pick(): every source represented, round-robin, in file order."""
    items = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"llmlingua_compress: {path}:{n}: {e}")
    if limit <= 0 or limit >= len(items):
        return items
    by_source = {}
    for it in items:
        by_source.setdefault(it["source"], []).append(it)
    out, rnd = [], 0
    while len(out) < limit:
        for source in sorted(by_source):  # std::map order
            group = by_source[source]
            if rnd < len(group) and len(out) < limit:
                out.append(group[rnd])
        rnd += 1
    return out


class ModelTokenizerEncoding:
    """Stands in for tiktoken's cl100k_base: the model's tokenizer, no special tokens."""

    name = "model-tokenizer-stand-in"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def encode(self, text, **_):
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def decode(self, ids, **_):
        return self.tokenizer.decode(ids)


def rate_name(rate):
    return f"{rate:.2f}"  # e2e_eval's "@%.2f"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF model directory (bench/gguf_to_hf.py)")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data",
                                                   "eval", "qa_lookup.jsonl"))
    ap.add_argument("--limit", type=int, default=0, help="items, as e2e_eval --limit (0 = all)")
    ap.add_argument("--rates", default="0.5,0.33")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="precis-like")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    rates = [float(r) for r in a.rates.split(",") if r]
    items = load_items(a.data, a.limit)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"

    import torch
    torch.set_num_threads(a.threads)
    import tiktoken
    import transformers
    from transformers import AutoTokenizer

    transformers.logging.set_verbosity_error()

    tokenizer = AutoTokenizer.from_pretrained(a.model)
    stand_in = ModelTokenizerEncoding(tokenizer)

    def encoding_for_model(model_name):
        return stand_in

    tiktoken.encoding_for_model = encoding_for_model
    import llmlingua
    from llmlingua import PromptCompressor

    t0 = time.perf_counter()
    compressor = PromptCompressor(model_name=a.model, device_map="cpu")
    load_s = time.perf_counter() - t0
    assert compressor.oai_tokenizer is stand_in
    settings = PRESETS[a.preset]
    blas = "?"  # the BLAS library torch's matmuls went to (Debian's torch: libblas.so.3)
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "/lib" in line and "blas" in line.lower()}
    libs = {x for x in libs if os.path.basename(x).startswith("lib")}  # not scipy's modules
    if libs:  # with the folder: openblas-openmp/, openblas-pthread/, blas/ (netlib's)
        blas = ", ".join(sorted(os.path.join(os.path.basename(os.path.dirname(x)),
                                             os.path.basename(x)) for x in libs))
    print(f"llmlingua {getattr(llmlingua, '__version__', '?')}, transformers "
          f"{transformers.__version__}, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads, BLAS {blas}), model {a.model} loaded in {load_s:.1f} s; "
          f"preset {a.preset}: {json.dumps(settings)}", flush=True)

    def run(it, rate):
        t = time.perf_counter()
        r = compressor.compress_prompt(list(it["contexts"]), question=it["question"], rate=rate,
                                       **settings)
        return r, time.perf_counter() - t

    run(items[0], rates[0])  # warm-up, not timed
    os.makedirs(a.out_dir, exist_ok=True)
    summary = {"llmlingua": getattr(llmlingua, "__version__", "?"),
               "transformers": transformers.__version__, "torch": torch.__version__,
               "blas": blas, "threads": torch.get_num_threads(),
               "preset": a.preset, "settings": settings, "model": a.model,
               "model_load_s": load_s, "rates": []}
    for rate in rates:
        path = os.path.join(a.out_dir, f"llmlingua@{rate_name(rate)}.jsonl")
        n_orig = n_comp = 0
        secs = 0.0
        with open(path, "w", encoding="utf-8") as out:
            for k, it in enumerate(items):
                r, s = run(it, rate)
                prompt, q = r["compressed_prompt"], it["question"]
                if not prompt.endswith(q):
                    sys.exit(f"llmlingua_compress: {it['id']}: compressed prompt does not end "
                             "with the question")
                docs = prompt[: len(prompt) - len(q)]
                docs = docs[:-2] if docs.endswith("\n\n") else docs
                orig = len(stand_in.encode("\n\n".join(it["contexts"]) + "\n\n" + q))
                comp = len(stand_in.encode(prompt))
                n_orig, n_comp, secs = n_orig + orig, n_comp + comp, secs + s
                out.write(json.dumps({"id": it["id"], "rate": rate, "compressed_documents": docs,
                                      "compressed_prompt": prompt, "original_tokens": orig,
                                      "compressed_tokens": comp, "seconds": round(s, 6)},
                                     ensure_ascii=False) + "\n")
                print(f"\rrate {rate_name(rate)}: {k + 1}/{len(items)} items", end="",
                      file=sys.stderr, flush=True)
        print(file=sys.stderr)
        row = {"rate": rate, "file": path, "items": len(items),
               "original_tokens": n_orig / len(items), "compressed_tokens": n_comp / len(items),
               "achieved_rate": n_comp / max(1, n_orig), "seconds": secs / len(items),
               "tokens_per_s": n_orig / secs if secs > 0 else 0.0}
        summary["rates"].append(row)
        print(f"llmlingua@{rate_name(rate)}: {len(items)} items, {row['original_tokens']:.0f} -> "
              f"{row['compressed_tokens']:.0f} tokens (rate {row['achieved_rate']:.3f}), "
              f"{row['seconds']:.3f} s per item, {row['tokens_per_s']:.1f} tokens/s", flush=True)
    with open(os.path.join(a.out_dir, "llmlingua-summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
