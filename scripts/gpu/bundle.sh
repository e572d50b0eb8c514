#!/usr/bin/env bash
# Builds what the GPU verification (scripts/gpu/check.sh) runs, here on the CPU machine, into one
# git-ignored folder, gpu-bundle/, that travels to a bare GPU host beside the source tree:
#   precis-gpu.tar.gz  bin/  precis, engine_bench, cuda_linear_bench and the gpu-labelled test
#                            binaries, stripped
#                      lib/  every shared library they need beyond glibc, libgcc and CUDA's own
#                            runtime/driver/cuBLAS (the GPU host has those; none of Debian's)
#   BUILD_INFO         commit, nvcc, architecture
# The host has no Boost, SentencePiece, OpenSSL or PCRE2 and no network, and the tree plus the
# bundle must stay under 64 MiB, so the bundle must stay under 40 MiB: the six binaries each
# carry the engine and its kernels (about 43 MiB unpacked), hence the gzip.
#
# usage: bash scripts/gpu/bundle.sh [BUILD_DIR]   (default build-gpu-bundle)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-build-gpu-bundle}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=$ROOT/gpu-bundle
BUNDLE=$BUILD/gpu-bundle-stage  # unpacked; check.sh unpacks the same layout
LIMIT_MIB=40
TESTS=(test_cuda_attention test_cuda_backend test_cuda_elementwise test_cuda_gemv test_cuda_quant test_cuda_sampling)

[ -x /usr/local/cuda/bin/nvcc ] || { echo "bundle.sh: needs nvcc at /usr/local/cuda/bin" >&2; exit 1; }

# sm_90 SASS serves H100 and H200. The GPU host's CPU is not this one: PRECIS_NATIVE=OFF builds
# for any x86-64, and the CPU kernels still run AVX2 or AVX-512 there, chosen at start-up
# (engine/cpu_isa.hpp). libstdc++ and libgcc linked into our binaries so the host's older or
# newer copies never matter. -U: a build folder from before kept -march=x86-64-v3 in its cache.
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPRECIS_CUDA=ON -UCMAKE_CXX_FLAGS \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DPRECIS_NATIVE=OFF \
  -DCMAKE_EXE_LINKER_FLAGS="-static-libstdc++ -static-libgcc" -DPRECIS_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target precis engine_bench cuda_linear_bench "${TESTS[@]}"

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/bin" "$BUNDLE/lib"
cp "$BUILD/precis" "$BUILD/bench/engine_bench" "$BUILD/bench/cuda_linear_bench" "$BUNDLE/bin/"
for t in "${TESTS[@]}"; do cp "$BUILD/tests/$t" "$BUNDLE/bin/"; done
strip --strip-unneeded "$BUNDLE"/bin/*

# Libraries the host lacks: everything ldd resolves outside glibc, libgcc and CUDA's own.
is_host_provided() {
  case "$(basename "$1")" in
    libc.so.* | libm.so.* | libdl.so.* | librt.so.* | libpthread.so.* | ld-linux*.so.* | \
      libgcc_s.so.* | libcuda.so.* | libcudart.so.* | libcublas.so.* | libcublasLt.so.*)
      return 0 ;;
  esac
  return 1
}
for f in "$BUNDLE"/bin/*; do
  ldd "$f" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  is_host_provided "$lib" || cp -L "$lib" "$BUNDLE/lib/"
done
strip --strip-unneeded "$BUNDLE"/lib/*

# The closure: with only the bundle added, nothing may resolve from Debian's folders except the
# host-provided libraries above.
bad=0
for f in "$BUNDLE"/bin/* "$BUNDLE"/lib/*; do
  while read -r name path; do
    if [ "$path" = "not" ]; then echo "bundle.sh: $f: $name not found" >&2; bad=1; continue; fi
    case "$path" in "$BUNDLE"/*) continue ;; esac
    is_host_provided "$path" || { echo "bundle.sh: $f takes $path from this machine" >&2; bad=1; }
  done < <(LD_LIBRARY_PATH="$BUNDLE/lib" ldd "$f" | awk '/=>/{print $1, $3}')
done
[ "$bad" = 0 ] || exit 1

{
  echo "built $(date -u +%FT%TZ) from $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')"
  echo "nvcc $(/usr/local/cuda/bin/nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), sm_90"
} >"$BUNDLE/BUILD_INFO"

rm -rf "$OUT"
mkdir -p "$OUT"
cp "$BUNDLE/BUILD_INFO" "$OUT/"
tar -C "$BUNDLE" -czf "$OUT/precis-gpu.tar.gz" bin lib BUILD_INFO
(cd "$BUNDLE" && du -h bin/* lib/*)
echo "unpacked: $(du -sm "$BUNDLE" | cut -f1) MiB"
size_kib=$(du -sk "$OUT" | cut -f1)
echo "gpu-bundle/: $((size_kib / 1024)) MiB (limit $LIMIT_MIB MiB)"
echo "libraries carried: $(cd "$BUNDLE/lib" && echo *)"
echo "from the GPU host: glibc, libgcc_s, libcudart, libcublas, libcublasLt, libcuda"
if [ "$size_kib" -gt $((LIMIT_MIB * 1024)) ]; then
  echo "bundle.sh: the bundle is over $LIMIT_MIB MiB" >&2
  exit 1
fi
