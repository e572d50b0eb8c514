#!/usr/bin/env bash
# usage: check_isa_objects.sh BUILD_DIR
# The CPU kernels' SIMD variants (engine/isa_variant.hpp) must keep their instruction set to their
# own namespaces: any other symbol an object defines (an inline helper or a std:: template the
# compiler emitted as a weak symbol) may be the copy the linker keeps for the whole program, and
# baseline code on a CPU without AVX would then run it. Fails when such a symbol holds AVX
# (VEX/EVEX) or BMI instructions, i.e. when a header was included after isa_variant.hpp's pragma.
set -euo pipefail
build=${1:?usage: check_isa_objects.sh BUILD_DIR}
mapfile -t objects < <(find "$build/engine/CMakeFiles" -path '*precis_kernels_*' -name '*.o' | sort)
[ ${#objects[@]} -gt 0 ] || { echo "check_isa_objects: no kernel objects under $build" >&2; exit 1; }
simd='^\s+[0-9a-f]+:\s+(v[a-z]|shlx|shrx|sarx|rorx|andn|bextr|blsi|blsr|blsmsk|bzhi|pdep|pext|mulx|lzcnt|tzcnt|movbe)'
bad=0 checked=0
for obj in "${objects[@]}"; do
  while read -r _ type sym; do
    case "$type" in [TWVu]) ;; *) continue ;; esac
    name=$(c++filt "$sym")
    case "$name" in *::isa_scalar::* | *::isa_avx2::* | *::isa_avx512::*) continue ;; esac
    checked=$((checked + 1))
    if objdump -d --no-show-raw-insn --disassemble="$sym" "$obj" | grep -qE "$simd"; then
      echo "$obj: '$name' has SIMD instructions outside the variant's namespace" >&2
      bad=1
    fi
  done < <(nm --defined-only "$obj")
done
echo "check_isa_objects: ${#objects[@]} objects, $checked shared symbols checked"
exit $bad
