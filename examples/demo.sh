#!/usr/bin/env bash
# The demo the README's first command runs: the whole pipeline (compress, plan, generate) on a
# long real prompt, on the embedded default model (SmolLM2-135M-Instruct, fetched by
# scripts/fetch-default-model.sh; the shipped KJV model in models/default when it is not there).
set -euo pipefail
cd "$(dirname "$0")/.."
PRECIS=${PRECIS:-build/precis}
if [[ -f models/SmolLM2-135M-Instruct.Q4_1.gguf || -f models/default/config.json ]]; then
  exec "$PRECIS" demo "$@"
fi
# Without the shipped model (e.g. a checkout without models/), a random model shows the
# mechanics; its text is noise.
echo "no default model (fetch it: bash scripts/fetch-default-model.sh): making a random model to show the pipeline's mechanics"
"$PRECIS" make-model --out build/demo-model --preset small --seed 1 --dtype f16
exec "$PRECIS" demo --model build/demo-model "$@"
