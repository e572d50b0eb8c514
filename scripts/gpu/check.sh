#!/usr/bin/env bash
# The GPU verification, in one command on a bare GPU host (no Debian libraries, no network), with
# the bundle from scripts/gpu/bundle.sh carried beside the tree:
#     bash scripts/gpu/check.sh OUTDIR
# Steps, each under its own timeout and all inside one deadline (default 530 s), so a hang costs
# only its step:
#   1 nvidia-smi
#   2 the gpu-labelled tests (the test_cuda_* binaries, side by side)
#   3 the default model (models/default) on --device cuda against --device cpu: greedy tokens,
#     their log-probs, and teacher-forced log-probs of a fixed text
#   4 make-model --preset llama2-7b-shape --dtype f16
#   5 engine_bench --device cuda, batches 1,8,32,128,256, 512 prompt + 256 generated tokens,
#     --compare-transformers (bench/hf_generate_bench.py)
#   6 batches 1 and 8 again with --no-cuda-graphs
#   7 the same model quantized to q4_0 (precis quantize): engine_bench at batches 1, 8, 32 with
#     512 prompt + 128 generated tokens (the GEMV kernel for decode, dequantize + cuBLAS for
#     prefill)
#   8 long-context decode: batches 1 and 4 over a 3584-token context (what split-K decode
#     attention is for)
#   9 the linear-layer kernels alone at 7B shapes (bench/cuda_linear_bench): cuBLAS against the
#     dense GEMV for f16, the quantized GEMV and dequantization for each block type
#  10 where a batch-1 f16 decode step's GPU time goes: Nsight Compute (ncu) times every kernel of
#     a few eager decode steps at a 512-token context (scripts/gpu/kernel_profile.py), against
#     the step time step 5 measured with graphs
#  11 the decode fusions, not yet the default: RoPE + KV store inside decode attention
#     (--fused-decode-rope), the SiLU gate inside the one-row gate/up GEMV (--fused-gate-silu),
#     and both: batches 1 and 8 with graphs against step 5's, and step 10's profile with both
# OUTDIR gets report.md (every figure in tables; rewritten after each step, so a cut run still
# leaves one) and logs.txt (every step's raw output). Exit status: bit k-1 set when step k failed
# (0 = all passed).
#
# --dry-run runs every step's command path here, on the CPU (device cpu, small model, short
# workload), from a normal build folder instead of the bundle; CI runs it. The gpu tests report
# "skipped: no CUDA device" there, which a dry run accepts.
#
# --steps 1,2,4,7 runs only those steps (4 makes the model that 5-8 and 10 use). --no-transformers
# leaves transformers out of step 5 (it takes most of that step's time), for a quick rerun.
#
# usage: check.sh [--dry-run] [--build DIR] [--deadline SECONDS] [--steps LIST] [--no-transformers]
#                 OUTDIR
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DRY=0
BUILD=build
DEADLINE_S=530
STEPS_WANTED=1,2,3,4,5,6,7,8,9,10,11
NO_HF=0
OUTDIR=
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --build) BUILD=$2; shift ;;
    --deadline) DEADLINE_S=$2; shift ;;
    --steps) STEPS_WANTED=$2; shift ;;
    --no-transformers) NO_HF=1 ;;
    -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "check.sh: unknown option $1" >&2; exit 2 ;;
    *) OUTDIR=$1 ;;
  esac
  shift
done
[ -n "$OUTDIR" ] || { echo "usage: check.sh [--dry-run] [--build DIR] [--deadline S] OUTDIR" >&2; exit 2; }
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
LOG=$OUTDIR/logs.txt
STEPS=$OUTDIR/steps.tsv  # name, status, seconds, timeout: read by report.py
: >"$LOG"
: >"$STEPS"
SCRATCH=$(mktemp -d /tmp/precis-gpu-check.XXXXXX)
START=$(date +%s)
TESTS="test_cuda_attention test_cuda_backend test_cuda_elementwise test_cuda_gemv test_cuda_quant test_cuda_sampling"

# Binaries: the bundle on the GPU host, a build folder in a dry run.
BIN=$SCRATCH/bin
mkdir -p "$BIN"
if [ "$DRY" = 1 ]; then
  for f in "$BUILD/precis" "$BUILD/bench/engine_bench" "$BUILD/bench/cuda_linear_bench" $(printf "$BUILD/tests/%s " $TESTS); do
    [ -x "$f" ] && ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$BIN/"
  done
else
  [ -f gpu-bundle/precis-gpu.tar.gz ] ||
    { echo "check.sh: no gpu-bundle/precis-gpu.tar.gz (run scripts/gpu/bundle.sh, carry gpu-bundle)" >&2; exit 2; }
  mkdir -p "$SCRATCH/bundle"
  tar -C "$SCRATCH/bundle" -xzf gpu-bundle/precis-gpu.tar.gz || exit 2
  # The bundle's libraries, then CUDA's wherever this host keeps them (toolkit or pip wheels).
  # Only our binaries see them, through wrappers: the bundle's libstdc++ is older than the one
  # the host's PyTorch needs.
  BUNDLE_LIBS=$SCRATCH/bundle/lib
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64 \
    $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in os.listdir(p)))' 2>/dev/null); do
    [ -d "$d" ] && BUNDLE_LIBS=$BUNDLE_LIBS:$d
  done
  for f in "$SCRATCH"/bundle/bin/*; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
      "$BUNDLE_LIBS" "$f" >"$BIN/$(basename "$f")"
    chmod +x "$BIN/$(basename "$f")"
  done
fi
# engine_bench runs transformers through this python3, with the environment check.sh started in.
PYTHON=$SCRATCH/python3
if [ -n "${LD_LIBRARY_PATH+set}" ]; then
  printf '#!/bin/sh\nexport LD_LIBRARY_PATH="%s"\nexec python3 "$@"\n' "$LD_LIBRARY_PATH" >"$PYTHON"
else
  printf '#!/bin/sh\nunset LD_LIBRARY_PATH\nexec python3 "$@"\n' >"$PYTHON"
fi
chmod +x "$PYTHON"
export PRECIS_HOME=$ROOT  # the binaries find models/, data/ and bench/ in this tree
if [ "$DRY" = 1 ]; then DEVICE=cpu; else DEVICE=cuda; fi

report() { python3 "$ROOT/scripts/gpu/report.py" --dry-run-flag "$DRY" "$OUTDIR" >/dev/null 2>&1 || true; }

# run_step NUMBER NAME TIMEOUT COMMAND...: output to logs.txt; timeout shortened to the deadline.
FAILED=0
run_step() {
  local num=$1 name=$2 limit=$3
  shift 3
  case ",$STEPS_WANTED," in *",$num,"*) ;; *) return 0 ;; esac
  local left=$((START + DEADLINE_S - $(date +%s) - 5))
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== step $num $name (timeout ${limit}s) ===" >>"$LOG"
  local t0 rc
  t0=$(date +%s.%N)
  if [ "$limit" -lt 5 ]; then
    echo "not run: the deadline of ${DEADLINE_S}s has passed" >>"$LOG"
    rc=124
  else
    # Steps are shell functions run by a child bash (exported below), so timeout can stop the
    # step's whole process group.
    timeout -k 10 "$limit" bash -c "$*" >>"$LOG" 2>&1
    rc=$?
  fi
  local dt
  dt=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
  printf '%s\t%s\t%s\t%s\n' "$num $name" "$rc" "$dt" "$limit" >>"$STEPS"
  echo "=== end of step $num: exit $rc after ${dt}s ===" >>"$LOG"
  echo "step $num $name: exit $rc after ${dt}s"
  [ "$rc" = 0 ] || FAILED=$((FAILED | (1 << (num - 1))))
  report
}

step_nvidia_smi() {
  if [ "$DRY" = 1 ] && ! command -v nvidia-smi >/dev/null; then
    echo "dry run: no nvidia-smi on this machine"
    return 0
  fi
  nvidia-smi && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
}

step_gpu_tests() {
  local pids=() rc=0 t
  for t in $TESTS; do
    if [ ! -x "$BIN/$t" ]; then
      # A dry run from a build without the CUDA backend has no gpu tests to run.
      if [ "$DRY" = 1 ]; then echo "--- $t (exit 77) ---"; echo "skipped: not built (no CUDA backend in this build)"; continue; fi
      echo "$t: missing"; rc=1; continue
    fi
    "$BIN/$t" >"$SCRATCH/$t.out" 2>&1 &
    pids+=("$!")
  done
  local i=0
  for t in $TESTS; do
    [ -x "$BIN/$t" ] || continue
    local r=0
    wait "${pids[$i]}" || r=$?
    i=$((i + 1))
    echo "--- $t (exit $r) ---"
    tail -n 40 "$SCRATCH/$t.out"
    # 77 = "skipped: no CUDA device": expected in a dry run, a failure on the GPU host.
    if [ "$r" = 77 ] && [ "$DRY" = 1 ]; then continue; fi
    [ "$r" = 0 ] || rc=1
  done
  return $rc
}

step_default_model() {
  local model=$ROOT/models/default
  local prompt="And Boaz said unto the reapers, The LORD be with you. And they answered him,"
  local text
  text=$(head -c 1500 "$ROOT/data/demo/documents.txt")
  local dev
  for dev in "$DEVICE" cpu; do
    "$BIN/precis" generate --model "$model" --device "$dev" --prompt "$prompt" --max-tokens 64 \
      --kv-cache-mb 1024 --temperature 0 --logprobs 2 --ignore-eos --json >"$SCRATCH/generate-$dev.json" || return 1
    "$BIN/precis" score --model "$model" --device "$dev" --prompt "$text" --kv-cache-mb 1024 --json \
      >"$SCRATCH/score-$dev.json" || return 1
  done
  python3 "$ROOT/scripts/gpu/compare_devices.py" "$SCRATCH" "$DEVICE"
}

step_make_model() {
  local preset=llama2-7b-shape
  [ "$DRY" = 1 ] && preset=tiny
  "$BIN/precis" make-model --preset $preset --dtype f16 --out "$SCRATCH/bench-model" &&
    du -sh "$SCRATCH/bench-model"
}

bench_args() {
  if [ "$DRY" = 1 ]; then echo "--device cpu --prompt-tokens 32 --decode-tokens 8"; else
    echo "--device cuda --prompt-tokens 512 --decode-tokens 256"; fi
}

step_bench() {
  local batches=1,8,32,128,256 compare=(--compare-transformers --python "$PYTHON")
  [ "$DRY" = 1 ] && batches=1,8
  # A dry run on a machine without torch and transformers skips that comparison (and says so).
  if ! python3 -c 'import torch, transformers' 2>/dev/null; then
    [ "$DRY" = 1 ] || { echo "python3 cannot import torch and transformers"; return 1; }
    echo "dry run: no torch/transformers here, --compare-transformers left out"
    compare=()
  fi
  if [ "$NO_HF" = 1 ]; then
    echo "--no-transformers: transformers left out"
    compare=()
  fi
  # shellcheck disable=SC2046
  "$BIN/engine_bench" --model "$SCRATCH/bench-model" $(bench_args) --batches $batches "${compare[@]}"
}

step_quantized_bench() {
  local tokens="--prompt-tokens 512 --decode-tokens 128 --batches 1,8,32" device=cuda
  [ "$DRY" = 1 ] && tokens="--prompt-tokens 32 --decode-tokens 8 --batches 1,8" && device=cpu
  "$BIN/precis" quantize --model "$SCRATCH/bench-model" --type q4_0 --out "$SCRATCH/bench-q4_0.gguf" &&
    # shellcheck disable=SC2086
    "$BIN/engine_bench" --model "$SCRATCH/bench-q4_0.gguf" --device $device $tokens
}

step_long_context() {
  local tokens="--prompt-tokens 512 --decode-prompt-tokens 3584 --decode-tokens 128"
  [ "$DRY" = 1 ] && tokens="--prompt-tokens 32 --decode-prompt-tokens 200 --decode-tokens 8"
  # shellcheck disable=SC2086
  "$BIN/engine_bench" --model "$SCRATCH/bench-model" --device "$DEVICE" $tokens --batches 1,4
}

step_linear_kernels() {
  if [ ! -x "$BIN/cuda_linear_bench" ]; then
    [ "$DRY" = 1 ] || { echo "no cuda_linear_bench in the bundle"; return 1; }
    echo "dry run: no cuda_linear_bench (a build without CUDA)"
    return 0
  fi
  "$BIN/cuda_linear_bench" --iters 30
}

# step_decode_profile [EXTRA ENGINE_BENCH FLAGS...]: step 10, and step 11 with its flag.
step_decode_profile() {
  local ncu
  ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n1)
  if [ -z "$ncu" ]; then
    [ "$DRY" = 1 ] || { echo "no ncu (Nsight Compute) on this host"; return 1; }
    echo "dry run: no ncu here; the profile's parser runs on the CPU tests' sample instead"
    python3 "$ROOT/scripts/gpu/kernel_profile.py" "$ROOT/tests/data/ncu_decode_sample.csv"
    return
  fi
  # Step 5's batch-1 decode rate with graphs (read before this step's own output joins the
  # log), for the share of the step the kernels are busy.
  local rate
  rate=$(sed -n 's/^- batch-1 decode reads .* x \([0-9.]*\) tokens\/s.*/\1/p; s/^batch-1 decode reads .* x \([0-9.]*\) tokens\/s.*/\1/p' "$LOG" | head -n1)
  local tokens="--prompt-tokens 16 --decode-prompt-tokens 512 --decode-tokens 4"
  [ "$DRY" = 1 ] && tokens="--prompt-tokens 8 --decode-prompt-tokens 32 --decode-tokens 3"
  local tag=${1:+-fused}
  # One metric, no cache flush and the clocks left alone: the kernels' own durations as they run
  # in a decode step, one after another.
  # shellcheck disable=SC2086
  "$ncu" --csv --page raw --print-units base --metrics gpu__time_duration.sum --clock-control none \
    --cache-control none --log-file "$SCRATCH/ncu$tag.csv" "$BIN/engine_bench" \
    --model "$SCRATCH/bench-model" --device "$DEVICE" $tokens --batches 1 --no-cuda-graphs "$@" ||
    return 1
  gzip -c "$SCRATCH/ncu$tag.csv" >"$OUTDIR/ncu-decode$tag.csv.gz"  # the raw timings, kept
  python3 "$ROOT/scripts/gpu/kernel_profile.py" "$SCRATCH/ncu$tag.csv" \
    ${rate:+--step-ms $(python3 -c "print(1000 / $rate)")}
}

step_bench_no_graphs() {
  # shellcheck disable=SC2046
  "$BIN/engine_bench" --model "$SCRATCH/bench-model" $(bench_args) --batches 1,8 --no-cuda-graphs
}

step_decode_fusions() {
  local flags
  for flags in --fused-decode-rope --fused-gate-silu "--fused-decode-rope --fused-gate-silu"; do
    echo "--- fusion: $flags ---"
    # shellcheck disable=SC2046,SC2086
    "$BIN/engine_bench" --model "$SCRATCH/bench-model" $(bench_args) --batches 1,8 $flags ||
      return 1
  done
  echo "--- the decode step's kernels with both fusions ---"
  step_decode_profile --fused-decode-rope --fused-gate-silu
}

export DRY BIN SCRATCH ROOT DEVICE TESTS PYTHON NO_HF LOG OUTDIR
export -f step_nvidia_smi step_gpu_tests step_default_model step_make_model bench_args step_bench \
  step_bench_no_graphs step_quantized_bench step_long_context step_linear_kernels step_decode_profile \
  step_decode_fusions

{
  echo "precis GPU check, $(date -u +%FT%TZ), $([ "$DRY" = 1 ] && echo "DRY RUN on the CPU" || echo "device cuda")"
  echo "tree $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  [ -f gpu-bundle/BUILD_INFO ] && [ "$DRY" = 0 ] && sed 's/^/bundle /' gpu-bundle/BUILD_INFO
  echo "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  [ "$DRY" = 0 ] && for f in "$SCRATCH"/bundle/bin/*; do
    LD_LIBRARY_PATH=$BUNDLE_LIBS ldd "$f" | grep 'not found' | sed "s|^|$(basename "$f"): |"
  done
} >>"$LOG" 2>&1

run_step 1 nvidia-smi 30 step_nvidia_smi
run_step 2 gpu-tests 240 step_gpu_tests
run_step 3 default-model-cuda-vs-cpu 90 step_default_model
run_step 4 make-model 180 step_make_model
run_step 5 engine-bench 300 step_bench
run_step 6 engine-bench-no-cuda-graphs 120 step_bench_no_graphs
run_step 7 quantized-q4_0-bench 180 step_quantized_bench
run_step 8 long-context-decode 120 step_long_context
run_step 9 linear-kernels 90 step_linear_kernels
run_step 10 decode-kernel-profile 150 step_decode_profile
run_step 11 decode-fusions 150 step_decode_fusions

rm -rf "$SCRATCH"
report
echo "report: $OUTDIR/report.md; logs: $LOG; exit $FAILED (bit k-1 set = step k failed)"
exit $FAILED
