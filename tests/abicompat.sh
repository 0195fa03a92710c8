#!/bin/sh
# The shared library against the committed ABI baseline (docs/abi.md, "ABI
# baseline"): fails on any change other than additions.
#   tests/abicompat.sh abi/libmlcl.abi lib/libmlcl.so.1 include
# abidiff's exit status is a bit field (man abidiff): 1 error, 2 usage error,
# 4 the ABIs differ, 8 an incompatible change (a removed symbol). Added
# functions and variables are filtered out (--no-added-syms), so with them
# gone any remaining difference (bit 4: a changed struct layout, parameter or
# return type, enum value...) is a change 1.x does not allow, as is bit 8.
set -u
base=${1:?baseline .abi}
so=${2:?shared library}
inc=${3:?public headers directory}
if [ ! -f "$base" ]; then echo "abicompat: no baseline $base (make abi-dump writes one); skipped"; exit 0; fi
command -v abidiff >/dev/null || { echo "abicompat: abidiff not found (Debian abigail-tools; tools/deps.sh)"; exit 1; }
out=$(abidiff --no-added-syms --headers-dir2 "$inc" --drop-private-types --fail-no-debug-info "$base" "$so" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
    added=$(abidiff --headers-dir2 "$inc" --drop-private-types "$base" "$so" 2>/dev/null \
        | sed -n 's/^Functions changes summary:.*, \([0-9]*\) Added functions\{0,1\}.*/\1/p')
    echo "abicompat: $so is compatible with $base (${added:-0} functions added)"
    exit 0
fi
echo "$out"
if [ $((rc & 3)) -ne 0 ]; then echo "abicompat: abidiff failed (status $rc)"; exit 1; fi
if [ $((rc & 8)) -ne 0 ]; then echo "abicompat: INCOMPATIBLE change against $base (abidiff status $rc: a symbol was removed)"; exit 1; fi
echo "abicompat: the ABI changed against $base (abidiff status $rc): 1.x allows additions only (docs/abi.md)"
exit 1
