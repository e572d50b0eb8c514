#!/usr/bin/env bash
# The demo the README's first command runs. Today it shows the embedded engine end to end on a
# small model made on the spot: loading, scoring a text token by token, and generating.
set -euo pipefail
cd "$(dirname "$0")/.."
PRECIS=${PRECIS:-build/precis}
MODEL=${MODEL:-build/demo-model}
if [[ ! -f "$MODEL/model.safetensors" ]]; then
  echo "== making a small random Llama model in $MODEL (tokenizer trained on data/corpus/)"
  "$PRECIS" make-model --out "$MODEL" --preset small --seed 1 --dtype f16
fi
TEXT="And God said, Let there be light: and there was light."
echo
echo "== precis score: log-probability of each token of: $TEXT"
"$PRECIS" score --model "$MODEL" --prompt "$TEXT"
echo
echo "== precis generate: 4 samples sharing one prompt's KV blocks (seeded)"
"$PRECIS" generate --model "$MODEL" --prompt "In the beginning" --max-tokens 24 --n 4 --temperature 0.8 --seed 7
echo
echo "The model above has random weights, so its text is noise; point --model at a real"
echo "Llama-family checkpoint (e.g. TinyLlama-1.1B in Hugging Face layout) for real answers."
