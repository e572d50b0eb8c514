#!/usr/bin/env bash
# Real clients against `precis serve`: the official `openai` Python client and LangChain's
# ChatOpenAI, each script making a tiny model and its own server on loopback. Makes (once) a venv
# under build/integration-venv with PyPI's openai and langchain-openai; the product itself never
# needs Python. Not part of ctest (it needs PyPI the first time).
#   bash tests/integration/run.sh [path/to/precis]     (default: build/precis)
set -euo pipefail
cd "$(dirname "$0")/../.."
PRECIS=${1:-build/precis}
[ -x "$PRECIS" ] || { echo "run.sh: no precis binary at $PRECIS (build it, or pass its path)" >&2; exit 2; }
VENV=build/integration-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import openai, langchain_openai' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet openai langchain-openai
fi
"$VENV/bin/python" -c 'import openai, langchain_openai; print("openai", openai.__version__)'
rc=0
for check in openai_client_check langchain_client_check; do
  echo "== $check"
  "$VENV/bin/python" "tests/integration/$check.py" "$PRECIS" || rc=1
done
exit $rc
