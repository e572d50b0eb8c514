#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and runs each for a
# bounded time; any crash, leak, sanitizer report or timeout fails the script.
#
#   bash fuzz/run.sh [SECONDS]     # default 60 s per target
#
# Only the sources the fuzzers reach are compiled (the API, the protocol decoding, the JSON
# reader, the config defaults); fuzz_stubs.cpp stands in for the engine and plugin code.
# New inputs are written to build-fuzz/corpus/; crashing inputs to build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
out=build-fuzz
cxx="${CXX_FUZZ:-clang++}"
jobs="${FUZZ_JOBS:-2}"
command -v "$cxx" >/dev/null || { echo "fuzz/run.sh: $cxx not found (apt-get install clang)"; exit 1; }

flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
       -fno-sanitize-recover=all -I. -Iinclude)
common_sources=(middleware/server/openai_api.cpp middleware/server/openai_protocol.cpp
                middleware/server/chat_template.cpp middleware/server/api_auth.cpp
                middleware/server/metrics.cpp middleware/server/sse.cpp
                middleware/json_reader.cpp middleware/pipeline_config.cpp middleware/cancel_token.cpp
                fuzz/fuzz_stubs.cpp)
fuzzers=(http_request_fuzzer json_request_fuzzer)

mkdir -p "$out/obj" "$out/artifacts"
# Compile (2 at a time) what changed: an object is rebuilt when its source or any header in the
# repository's middleware/, include/, fuzz/ is newer.
newest_header=$(find middleware include plugins fuzz -name '*.hpp' -printf '%T@\n' | sort -n | tail -1)
compile() {
  local src=$1 obj=$2 extra=$3
  if [[ -f "$obj" ]]; then
    local t; t=$(stat -c %Y "$obj")
    if (( t >= $(stat -c %Y "$src") )) && (( t >= ${newest_header%.*} )); then return 0; fi
  fi
  echo "fuzz: compiling $src"
  "$cxx" "${flags[@]}" "$extra" -c "$src" -o "$obj"
}
pids=()
objs=()
for src in "${common_sources[@]}" ; do
  objs+=("$out/obj/$(basename "$src" .cpp).o")
done
units=()
for src in "${common_sources[@]}"; do units+=("$src|$out/obj/$(basename "$src" .cpp).o|-fsanitize=fuzzer-no-link"); done
for f in "${fuzzers[@]}"; do units+=("fuzz/$f.cpp|$out/obj/$f.o|-fsanitize=fuzzer-no-link"); done
failed=0
for u in "${units[@]}"; do
  IFS='|' read -r src obj extra <<<"$u"
  compile "$src" "$obj" "$extra" &
  pids+=($!)
  if (( ${#pids[@]} >= jobs )); then wait "${pids[0]}" || failed=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
(( failed == 0 )) || { echo "fuzz/run.sh: compile failed"; exit 1; }
for f in "${fuzzers[@]}"; do
  "$cxx" "${flags[@]}" -fsanitize=fuzzer "$out/obj/$f.o" "${objs[@]}" -o "$out/$f"
done

status=0
for f in "${fuzzers[@]}"; do
  case "$f" in
    http_request_fuzzer) seeds=fuzz/corpus/http ;;
    json_request_fuzzer) seeds=fuzz/corpus/json ;;
  esac
  work="$out/corpus/${f%_fuzzer}"
  mkdir -p "$work"
  echo "fuzz: $f for ${seconds} s"
  if ! "$out/$f" "$work" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -print_final_stats=1 -artifact_prefix="$out/artifacts/$f-" \
      >"$out/$f.log" 2>&1; then
    echo "fuzz/run.sh: $f FAILED (log: $out/$f.log, inputs: $out/artifacts/)"
    tail -60 "$out/$f.log"
    status=1
  else
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|cov:' "$out/$f.log" | tail -4
  fi
done
exit $status
