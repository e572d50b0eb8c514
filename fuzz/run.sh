#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and runs each for a
# bounded time; any crash, leak, sanitizer report or timeout fails the script.
#
#   bash fuzz/run.sh [SECONDS] [FUZZER...]   # default 60 s per target; every target unless named
#   bash fuzz/run.sh 30 gguf_fuzzer
#
# Only the sources a fuzzer reaches are compiled: for the HTTP and JSON targets the API, the
# protocol decoding, the JSON reader, the config defaults (fuzz_stubs.cpp stands in for the
# engine and plugin code); for the GGUF target the GGUF reader and the ggml type table.
# New inputs are written to build-fuzz/corpus/; crashing inputs to build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift $(( $# > 0 ? 1 : 0 ))
out=build-fuzz
cxx="${CXX_FUZZ:-clang++}"
jobs="${FUZZ_JOBS:-2}"
command -v "$cxx" >/dev/null || { echo "fuzz/run.sh: $cxx not found (apt-get install clang)"; exit 1; }

flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
       -fno-sanitize-recover=all -I. -Iinclude)
middleware_sources=(middleware/server/openai_api.cpp middleware/server/openai_protocol.cpp
                    middleware/chat_prompt.cpp engine/chat_template.cpp middleware/server/api_auth.cpp
                    middleware/server/metrics.cpp middleware/server/sse.cpp
                    middleware/json_reader.cpp middleware/pipeline_config.cpp
                    middleware/cancel_token.cpp middleware/server/serve_config.cpp engine/json_grammar.cpp
                    engine/sampling_params.cpp compress/scorer_kind.cpp planner/plan_kinds.cpp
                    fuzz/fuzz_stubs.cpp)
gguf_sources=(engine/gguf.cpp engine/ggml_type.cpp)
all_fuzzers=(http_request_fuzzer json_request_fuzzer gguf_fuzzer)
if (( $# > 0 )); then fuzzers=("$@"); else fuzzers=("${all_fuzzers[@]}"); fi

# The sources a fuzzer links besides its own file, and its checked-in seed inputs.
sources_of() {
  case "$1" in
    http_request_fuzzer|json_request_fuzzer) echo "${middleware_sources[@]}" ;;
    gguf_fuzzer) echo "${gguf_sources[@]}" ;;
    *) echo "fuzz/run.sh: unknown fuzzer '$1' (known: ${all_fuzzers[*]})" >&2; exit 1 ;;
  esac
}
seeds_of() {
  case "$1" in
    http_request_fuzzer) echo fuzz/corpus/http ;;
    json_request_fuzzer) echo fuzz/corpus/json ;;
    gguf_fuzzer) echo fuzz/corpus/gguf ;;
  esac
}
obj_of() { echo "$out/obj/$(basename "$1" .cpp).o"; }
for f in "${fuzzers[@]}"; do sources_of "$f" >/dev/null; done  # unknown names fail here

mkdir -p "$out/obj" "$out/artifacts"
# Compile (2 at a time) what changed: an object is rebuilt when its source or any header in the
# repository's engine/, middleware/, include/, plugins/, fuzz/ is newer.
newest_header=$(find engine middleware include plugins fuzz -name '*.hpp' -printf '%T@\n' | sort -n | tail -1)
compile() {
  local src=$1 obj=$2 extra=$3
  if [[ -f "$obj" ]]; then
    local t; t=$(stat -c %Y "$obj")
    if (( t >= $(stat -c %Y "$src") )) && (( t >= ${newest_header%.*} )); then return 0; fi
  fi
  echo "fuzz: compiling $src"
  "$cxx" "${flags[@]}" "$extra" -c "$src" -o "$obj"
}
# Every source the chosen fuzzers need, once.
units=()
declare -A seen=()
for f in "${fuzzers[@]}"; do
  for src in $(sources_of "$f") "fuzz/$f.cpp"; do
    [[ -n "${seen[$src]:-}" ]] && continue
    seen[$src]=1
    units+=("$src|$(obj_of "$src")|-fsanitize=fuzzer-no-link")
  done
done
pids=()
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
  objs=()
  for src in $(sources_of "$f"); do objs+=("$(obj_of "$src")"); done
  "$cxx" "${flags[@]}" -fsanitize=fuzzer "$(obj_of "fuzz/$f.cpp")" "${objs[@]}" -o "$out/$f"
done

status=0
for f in "${fuzzers[@]}"; do
  seeds=$(seeds_of "$f")
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
