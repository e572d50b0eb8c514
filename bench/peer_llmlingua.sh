#!/usr/bin/env bash
# peer_llmlingua.sh: precis's LM-scored compression (`--scorer lm`) next to LLMLingua's
# PromptCompressor (PyPI llmlingua) on the same model, the same prompts and the same rates, on the
# CPU with the same thread count: compression tokens/s of each, their ratio, and how often the
# default model still answers from each one's compressed prompts (bench/e2e_eval's question set,
# data/eval/qa_lookup.jsonl), with the full prompt's accuracy alongside. Figures only: nothing
# here passes or fails on speed or accuracy.
#
#   bash bench/peer_llmlingua.sh [--limit N] [--rates 0.5,0.33] [--threads N] [--max-tokens N]
#                                [--preset precis-like|longllmlingua|llmlingua] [--out DIR]
#                                [--openblas openmp|pthread] [--system-blas] [--setup-only]
#                                [--activations int8|f32]
#
#   --limit N       items of qa_lookup.jsonl, as e2e_eval --limit N picks them (default 0 = all
#                   120). Time per item, both sides, rates 0.5 and 0.33, 2 threads: ~150 s on
#                   this project's 2-vCPU machine while it was busy with other work (3-item
#                   runs); expect about a third of that idle (an estimate): 1.5-2 h for all 120,
#                   30-40 min for --limit 40. LLMLingua takes ~40% of it, e2e_eval the rest
#   --rates R,R     compression rates (kept / original tokens; default 0.5,0.33)
#   --threads N     threads for both (default 2): torch.set_num_threads (and OMP_NUM_THREADS,
#                   OPENBLAS_NUM_THREADS) for LLMLingua, PRECIS_THREADS for precis
#   --max-tokens N  answer length, e2e_eval --max-tokens (default 16, as in bench/results'
#                   e2e runs)
#   --preset P      LLMLingua's settings (default precis-like; bench/llmlingua_compress.py
#                   documents each)
#   --out DIR       where the run's files go (default build/llmlingua/run-<UTC time>)
#   --openblas V    Debian's OpenBLAS build for torch's matmuls: openmp (default: one OpenMP
#                   thread pool shared with torch's own ops, N threads in all, as PyTorch's
#                   MKL builds run) or pthread (OpenBLAS's own N threads beside torch's)
#   --system-blas   run torch on the system's libblas.so.3 (Debian: netlib's reference BLAS,
#                   ~17x slower matmuls than OpenBLAS here) instead of OpenBLAS
#   --setup-only    make the venv, OpenBLAS and the HF model, check the model, then stop
#   --activations A precis's engine (scoring and answering, every row alike): int8 (default, as
#                   `precis compress` runs its scorer: the interleaved 8-bit GEMM) or f32
#
# Environment: PRECIS_BUILD (default build) names precis's build directory; it must hold
# `precis` and `bench/e2e_eval` (cmake --build build --target precis e2e_eval). Copies of both
# are run, so a rebuild during the run does not pull them away.
#
# What it sets up (all under build/, reused by later runs):
#   - build/llmlingua-venv: /usr/bin/python3 -m venv --system-site-packages, so Debian's
#     python3-torch 1.13 (CPU) is the torch used; PyPI packages pinned below, installed with
#     --no-deps so pip never pulls a torch wheel. Re-installed when the pins change.
#   - build/llmlingua/openblas: Debian's libopenblas0-openmp (or -pthread; apt-get download,
#     unpacked with dpkg-deb -x, not installed): Debian's torch calls libblas.so.3, which is
#     netlib's reference BLAS unless OpenBLAS is installed; LD_LIBRARY_PATH points LLMLingua's
#     process, and only it, at OpenBLAS. The system's BLAS alternative is left as it is.
#   - build/llmlingua/SmolLM2-135M-Instruct-hf: the default model (models/
#     SmolLM2-135M-Instruct.Q4_1.gguf) dequantized to f32 in Hugging Face layout by
#     bench/gguf_to_hf.py, made again when the GGUF file is newer. Each run checks it against
#     precis on one ~940-token prompt (token ids identical, log-prob differences, greedy tokens).
#
# The run:
#   1. bench/llmlingua_compress.py: PromptCompressor(model_name=<HF dir>, device_map="cpu") over
#      each item's passages with its question, at each rate; the model loaded and one warm-up
#      compression first, neither timed; tiktoken's gpt-3.5-turbo encoding (which LLMLingua
#      downloads at start-up) replaced by a stand-in that is the model's own tokenizer, so LLMLingua
#      counts SmolLM2 tokens, as precis does. Writes DIR/llmlingua@R.jsonl.
#   2. e2e_eval --methods full,lm --rates R --external llmlingua@R=DIR/llmlingua@R.jsonl: asks the
#      default model each question from the full prompt, from precis's lm@R compression and from
#      LLMLingua's compressed passages (the same chat user message: passages, blank line,
#      question), greedy; precis's compression is timed alone (the pipeline's compress stage, its
#      scorer model loaded once, one warm-up item first).
#   3. The table: per rate, compression tokens/s of each (input tokens = passages + question in
#      SmolLM2 tokens, the same count on both sides, summed, over summed compression seconds),
#      precis / LLMLingua, accuracy of the answers from each one's prompts and the full prompt's,
#      and the prompt tokens the model was given. Goal (issue 12): >= 3x LLMLingua's
#      throughput with accuracy no worse.
# Files in DIR: llmlingua@R.jsonl, llmlingua-summary.json, llmlingua.log, model-check.txt,
# e2e.json, e2e.txt, table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

limit=0
rates=0.5,0.33
threads=2
max_tokens=16
preset="precis-like"
out=
system_blas=0
openblas=openmp
setup_only=0
activations=int8
while [[ $# -gt 0 ]]; do
  case "$1" in
    --limit) limit=${2:?--limit needs a value}; shift ;;
    --rates) rates=${2:?--rates needs a value}; shift ;;
    --threads) threads=${2:?--threads needs a value}; shift ;;
    --max-tokens) max_tokens=${2:?--max-tokens needs a value}; shift ;;
    --preset) preset=${2:?--preset needs a value}; shift ;;
    --out) out=${2:?--out needs a value}; shift ;;
    --openblas) openblas=${2:?--openblas needs a value}; shift ;;
    --system-blas) system_blas=1 ;;
    --setup-only) setup_only=1 ;;
    --activations) activations=${2:?--activations needs a value}; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "peer_llmlingua: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "peer_llmlingua: error: $*" >&2; exit 1; }
now() { date +%s; }

# PyPI pins: versions that run on Debian 12's torch 1.13 (transformers 4.44 and accelerate 0.34
# still support torch 1.x). Installed with --no-deps: this list is the whole dependency closure
# not already provided by Debian (numpy, packaging, pyyaml, requests, typing_extensions).
pins=(llmlingua==0.2.2 transformers==4.44.2 tokenizers==0.19.1 huggingface-hub==0.24.7
      safetensors==0.4.5 accelerate==0.34.2 tiktoken==0.7.0 nltk==3.9.1 gguf==0.10.0
      sentencepiece==0.2.0 regex==2024.9.11 tqdm==4.66.5 filelock==3.16.1 fsspec==2024.9.0
      psutil==6.0.0 joblib==1.4.2 click==8.1.7)

bdir=${PRECIS_BUILD:-build}
[[ "$bdir" = /* ]] || bdir=$root/$bdir
work=$root/build/llmlingua
venv=$root/build/llmlingua-venv
py=$venv/bin/python
gguf=$root/models/SmolLM2-135M-Instruct.Q4_1.gguf
hf=$work/SmolLM2-135M-Instruct-hf
mkdir -p "$work"
t_script=$(now)
echo "peer_llmlingua: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, threads $threads," \
     "rates $rates, limit $limit (0 = all), preset $preset"
echo "load at start: $(uptime)"

[[ -x /usr/bin/python3 ]] || die "/usr/bin/python3 not found (Debian's python3)"
# Debian's half of the dependency closure (see the pins), installed here when missing, as the
# README's commands install theirs: a fresh machine had python3-torch but no python3-packaging,
# and transformers failed to import in the venv.
debian_py=(python3-torch python3-numpy python3-packaging python3-yaml python3-requests
           python3-typing-extensions)
if ! /usr/bin/python3 -c 'import torch, numpy, packaging, yaml, requests, typing_extensions' \
    2>/dev/null; then
  [[ $(id -u) = 0 ]] || die "Debian's Python packages are missing (apt-get install ${debian_py[*]})"
  apt-get install -y -q "${debian_py[@]}" >/dev/null ||
    die "apt-get install ${debian_py[*]} failed"
fi
[[ -f "$gguf" ]] || die "$gguf is missing (bash scripts/fetch-default-model.sh)"
[[ -x "$bdir/precis" ]] || die "$bdir/precis not found (cmake --build build --target precis)"
[[ -x "$bdir/bench/e2e_eval" ]] || die "$bdir/bench/e2e_eval not found (--target e2e_eval)"
"$bdir/bench/e2e_eval" --help | grep -q -- --external ||
  die "$bdir/bench/e2e_eval predates --external: rebuild it"

# ---- venv ---------------------------------------------------------------------------------------
stamp=$venv/.peer-pins
if [[ ! -x "$py" || ! -f "$stamp" || "$(cat "$stamp")" != "${pins[*]}" ]]; then
  echo "venv: making $venv (system site packages: Debian's torch) and installing ${#pins[@]} pinned packages ..."
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv" || die "python3 -m venv failed"
  "$py" -m pip install --quiet --no-deps "${pins[@]}" ||
    die "pip install of the pinned packages failed (offline?)"
  echo "${pins[*]}" >"$stamp"
fi
"$py" - <<'EOF' || die "the venv's packages do not import (rm -rf build/llmlingua-venv and rerun)"
import torch, transformers, accelerate, llmlingua, tiktoken, gguf, safetensors
assert torch.__version__.startswith("1."), f"torch {torch.__version__} is not Debian's 1.x"
print(f"venv: torch {torch.__version__} (Debian), transformers {transformers.__version__}, "
      f"accelerate {accelerate.__version__}, llmlingua {llmlingua.__version__}, gguf, tiktoken")
EOF

# ---- OpenBLAS -----------------------------------------------------------------------------------
blas_env=(OMP_NUM_THREADS="$threads")
if [[ $system_blas = 0 ]]; then
  [[ $openblas = openmp || $openblas = pthread ]] || die "--openblas must be openmp or pthread"
  pkg=libopenblas0-$openblas
  ob=$work/openblas/$openblas
  obdir=$ob/root/usr/lib/x86_64-linux-gnu/openblas-$openblas
  if [[ ! -f "$obdir/libblas.so.3" ]]; then
    echo "OpenBLAS: fetching Debian's $pkg (unpacked under $ob, not installed) ..."
    mkdir -p "$ob"
    deb=$(ls "$ob/$pkg"_*.deb 2>/dev/null | head -1 || true)
    if [[ -z "$deb" ]]; then
      (cd "$ob" && apt-get download "$pkg" >/dev/null 2>&1) || true
      deb=$(ls "$ob/$pkg"_*.deb /var/cache/apt/archives/"$pkg"_*.deb 2>/dev/null | head -1 || true)
    fi
    [[ -n "$deb" ]] || die "could not get $pkg (apt-get download failed; or use --system-blas)"
    rm -rf "$ob/root"
    dpkg-deb -x "$deb" "$ob/root" || die "dpkg-deb -x $deb failed"
    [[ -f "$obdir/libblas.so.3" ]] || die "$deb has no openblas-$openblas/libblas.so.3"
  fi
  blas_env+=(LD_LIBRARY_PATH="$obdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
             OPENBLAS_NUM_THREADS="$threads")
fi

# ---- the model in HF layout ---------------------------------------------------------------------
if [[ ! -f "$hf/model.safetensors" || ! -f "$hf/tokenizer.json" || "$hf/model.safetensors" -ot "$gguf" ]]; then
  "$py" bench/gguf_to_hf.py --gguf "$gguf" --out "$hf" || die "bench/gguf_to_hf.py failed"
fi

# Run copies of precis's binaries.
mkdir -p "$work/bin"
cp -p "$bdir/precis" "$bdir/bench/e2e_eval" "$work/bin/" ||
  die "cannot copy precis and e2e_eval to $work/bin"
precis=$work/bin/precis
e2e=$work/bin/e2e_eval
echo "precis: $bdir (binaries of $(date -u -r "$precis" '+%Y-%m-%d %H:%M:%S UTC'))"

[[ -n "$out" ]] || out=$work/run-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
env "${blas_env[@]}" "$py" bench/gguf_to_hf.py --gguf "$gguf" --out "$hf" --check "$precis" \
    --threads "$threads" >"$out/model-check.txt" 2>&1 ||
  { tail -5 "$out/model-check.txt" >&2; die "the HF model does not match precis (see above)"; }
grep '^gguf_to_hf' "$out/model-check.txt" || true
[[ $setup_only = 1 ]] && { echo "--setup-only: set up in $(( $(now) - t_script )) s"; exit 0; }

# ---- 1. LLMLingua -------------------------------------------------------------------------------
t=$(now)
echo "LLMLingua: compressing (log: $out/llmlingua.log) ..."
env "${blas_env[@]}" "$py" bench/llmlingua_compress.py --model "$hf" --limit "$limit" \
    --rates "$rates" --threads "$threads" --preset "$preset" --out-dir "$out" \
    >"$out/llmlingua.log" 2>&1 || { tail -20 "$out/llmlingua.log" >&2; die "llmlingua_compress.py failed"; }
grep -v -e '^rate .*items' "$out/llmlingua.log" || true
echo "LLMLingua: done in $(( $(now) - t )) s"

# ---- 2. precis, and the answers -----------------------------------------------------------------
t=$(now)
ext=()
IFS=, read -r -a rate_list <<<"$rates"
for r in "${rate_list[@]}"; do
  name=llmlingua@$(printf '%.2f' "$r")
  ext+=(--external "$name=$out/$name.jsonl")
done
echo "e2e_eval: full, precis lm and LLMLingua's prompts answered (log: $out/e2e.txt) ..."
PRECIS_THREADS=$threads "$e2e" --limit "$limit" --methods full,lm --rates "$rates" \
    --activations "$activations" --max-tokens "$max_tokens" "${ext[@]}" --json "$out/e2e.json" >"$out/e2e.txt" 2>"$out/e2e.err" ||
  { tail -20 "$out/e2e.err" >&2; die "e2e_eval failed"; }
cat "$out/e2e.txt"
echo "e2e_eval: done in $(( $(now) - t )) s"

# ---- 3. the table -------------------------------------------------------------------------------
/usr/bin/python3 - "$out" "$rates" "$threads" "$activations" <<'EOF' | tee "$out/table.md"
import json, sys
out, rates, threads = sys.argv[1], [float(r) for r in sys.argv[2].split(",") if r], sys.argv[3]
activations = sys.argv[4]
e2e = json.load(open(f"{out}/e2e.json"))
summ = json.load(open(f"{out}/llmlingua-summary.json"))
rows = {r["method"]: r for r in e2e["rows"]}
full = rows.get("full", {})
print(f"\n## precis `--scorer lm` vs LLMLingua {summ['llmlingua']} ({summ['preset']}), "
      f"{e2e['items']} items of qa_lookup.jsonl, {threads} threads")
print(f"\nLLMLingua: transformers {summ['transformers']}, torch {summ['torch']} (Debian, CPU, "
      f"BLAS {summ['blas']}), SmolLM2-135M-Instruct dequantized to f32; precis: the Q4_1 GGUF, "
      f"{activations} activations (scoring and answering). "
      "Tokens/s = input tokens (passages + question, SmolLM2 tokens, same count both sides) / "
      "compression seconds, model load excluded on both sides. Accuracy: the default model's "
      f"greedy answers from each prompt (full prompt: {full.get('accuracy', 0):.3f}, "
      f"{full.get('prompt_tokens', 0):.0f} prompt tokens).\n")
print("| rate | LLMLingua tok/s | precis lm tok/s | precis / LLMLingua | LLMLingua acc | "
      "precis lm acc | full acc | LLMLingua prompt tok | precis prompt tok |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rates:
    k = f"{r:.2f}"
    ll, lm = rows.get(f"llmlingua@{k}"), rows.get(f"lm@{k}")
    if not ll or not lm:
        print(f"| {k} | missing rows |"); continue
    ratio = lm["compress_tok_s"] / ll["compress_tok_s"] if ll["compress_tok_s"] else 0
    print(f"| {k} | {ll['compress_tok_s']:.1f} | {lm['compress_tok_s']:.1f} | {ratio:.2f}x | "
          f"{ll['accuracy']:.3f} | {lm['accuracy']:.3f} | {full.get('accuracy', 0):.3f} | "
          f"{ll['prompt_tokens']:.0f} | {lm['prompt_tokens']:.0f} |")
print("\nPrompt tokens: what the model was given, chat template included. precis's rate "
      "applies to the whole rendered prompt, the template's ~30 tokens (kept) included; "
      "LLMLingua's to passages + question. At one rate precis's prompts are a little shorter.")
EOF
echo "peer_llmlingua: done in $(( $(now) - t_script )) s; files in $out"
