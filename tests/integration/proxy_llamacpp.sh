#!/usr/bin/env bash
# precis as a proxy in front of llama.cpp's llama-server (built once from PyPI's llama-cpp-python
# source package, vendor/llama.cpp, into build/peer/llama-server-build) serving the default model
# on loopback; the checks and figures are tests/integration/proxy_llamacpp.py's. Not in ctest:
# the first run downloads and builds llama.cpp (about 10 minutes on 2 cores).
#   bash tests/integration/proxy_llamacpp.sh [path/to/precis]     (default: build/precis)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PRECIS=${1:-build/precis}
MODEL=$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -x "$PRECIS" ] || { echo "proxy_llamacpp.sh: no precis binary at $PRECIS" >&2; exit 2; }
[ -f "$MODEL" ] || { echo "proxy_llamacpp.sh: $MODEL missing (bash scripts/fetch-default-model.sh)" >&2; exit 2; }

# The llama.cpp sources: the ones bench/peer_llamacpp.sh downloads (it knows the version).
src=$(ls -d build/peer/llama[-_]cpp[-_]python-*/vendor/llama.cpp 2>/dev/null | head -1 || true)
if [ -z "$src" ]; then
  bash bench/peer_llamacpp.sh --build-only
  src=$(ls -d build/peer/llama[-_]cpp[-_]python-*/vendor/llama.cpp | head -1)
fi
SERVER=build/peer/llama-server-build/bin/llama-server
if [ ! -x "$SERVER" ]; then
  echo "building llama-server from $src (CPU only) ..."
  cmake -S "$src" -B build/peer/llama-server-build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGGML_CUDA=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >/dev/null
  cmake --build build/peer/llama-server-build --target llama-server -j2 >/dev/null
fi
VENV=build/integration-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import openai' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet openai langchain-openai
fi
"$VENV/bin/python" tests/integration/proxy_llamacpp.py "$PRECIS" "$SERVER" "$MODEL" \
  "$ROOT/data/demo/documents.txt"
