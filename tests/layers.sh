#!/bin/sh
# Layering: every #include "..." of src/*/ and of the public headers stays
# within the table of docs/architecture.md (a layer includes only the layers
# its row lists), every src/ directory and public header has a layer, and the
# programs in examples/ include public headers only.
#   tests/layers.sh          the check (run by make check)
set -u
cd "$(dirname "$0")/.." || exit 1
doc=docs/architecture.md
# Known violations, "file -> included": printed, not failed; a listed one that
# no longer occurs fails (so the list only shrinks). docs/architecture.md explains them.
KNOWN=""

table=$(sed -n '/<!-- layers:begin/,/<!-- layers:end/p' "$doc" | grep '^| [a-z]' | grep -v '^| layer ')
[ -n "$table" ] || { echo "layers: no layer table between the layers:begin/end markers of $doc"; exit 1; }
# layer|headers|deps, one line each
rows=$(echo "$table" | awk -F'|' '{gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $4); print $2 "|" $3 "|" $4}')
layers=$(echo "$rows" | cut -d'|' -f1)
header_layer() { echo "$rows" | awk -F'|' -v h="$1" '{ n = split($2, a, " "); for (i = 1; i <= n; i++) if (a[i] == h) print $1 }'; }
may_include() { echo "$rows" | awk -F'|' -v l="$1" -v d="$2" '$1 == l { n = split($3, a, " "); for (i = 1; i <= n; i++) if (a[i] == d) print "yes" }'; }
is_layer() { echo "$layers" | grep -qx "$1"; }

status=0
fail() { echo "layers: $*"; status=1; }
known_seen=""

# every src/ directory and every public header has a layer
for d in src/*/; do
    l=$(basename "$d")
    is_layer "$l" || fail "src/$l/ has no row in $doc's layer table"
done
for h in include/mlcl/*.h; do
    [ -n "$(header_layer "$(basename "$h")")" ] || fail "$h has no layer in $doc's table (its 'public headers' column)"
done

# check_edge FILE FROM_LAYER INCLUDED TARGET_LAYER
check_edge() {
    [ "$2" = "$4" ] && return 0
    [ -n "$(may_include "$2" "$4")" ] && return 0
    if echo "$KNOWN" | grep -qxF "$1 -> $3"; then
        echo "layers: known violation: $1 ($2) includes $3 ($4)"
        known_seen="$known_seen
$1 -> $3"
        return 0
    fi
    fail "$1 ($2) includes $3 ($4): $2 may include only: $(echo "$rows" | awk -F'|' -v l="$2" '$1 == l {print $3}')"
}

edges=0
for f in src/*/*.c src/*/*.h; do
    from=$(echo "$f" | cut -d/ -f2)
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case $inc in
            mlcl/*) to=$(header_layer "${inc#mlcl/}"); [ -n "$to" ] || { fail "$f includes $inc, which has no layer"; continue; } ;;
            mlcl.h) fail "$f includes the umbrella mlcl.h (include the headers it needs)"; continue ;;
            */*) to=${inc%%/*}; is_layer "$to" || continue ;; # generated code (onnx/...)
            *) continue ;; # a header of its own directory
        esac
        edges=$((edges + 1))
        check_edge "$f" "$from" "$inc" "$to"
    done
done
for f in include/mlcl/*.h; do
    from=$(header_layer "$(basename "$f")")
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        to=$(header_layer "$(basename "$inc")")
        [ -n "$to" ] || { fail "$f includes $inc, which has no layer"; continue; }
        edges=$((edges + 1))
        check_edge "$f" "$from" "$inc" "$to"
    done
done
# the programs see the public API only, plus their own example-local files
# (examples/mosaic.h, examples/cli/*.h): nothing of src/
for f in examples/*.c examples/*.h examples/*/*.c examples/*/*.h; do
    [ -f "$f" ] || continue
    dir=$(dirname "$f")
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case $inc in
            mlcl.h|mlcl/*) continue ;;
        esac
        real=$(realpath -m "$dir/$inc")
        case $real in
            "$PWD"/examples/*) [ -f "$real" ] && continue ;;
        esac
        fail "$f includes a non-public header: $inc"
    done
done
# a known violation that is gone must leave the list
echo "$KNOWN" | while IFS= read -r k; do
    [ -z "$k" ] && continue
    echo "$known_seen" | grep -qxF "$k" || { echo "layers: '$k' is listed as a known violation but no longer occurs: remove it from tests/layers.sh and $doc"; exit 1; }
done || status=1

# a layer's *_internal.h (handle layouts) is its own: another layer includes
# only its *_lib.h (functions) or its public headers; the known violation
# above is the one exception
cross=$(grep -n '#include "[a-z]*/[a-z_]*_internal\.h"' src/*/*.c src/*/*.h | awk -F: '{ split($1, a, "/"); inc = $3; sub(/.*#include "/, "", inc); sub(/".*/, "", inc); split(inc, b, "/"); if (a[2] != b[1]) print $1 " -> " inc }')
echo "$cross" | while IFS= read -r e; do
    [ -z "$e" ] && continue
    echo "$KNOWN" | grep -qxF "$e" && continue
    echo "layers: $e: another layer's *_internal.h (include its *_lib.h or public header)"
    exit 1
done || status=1
[ $status -eq 0 ] && echo "layers: $edges includes of src/ and include/mlcl/ checked against $doc"
exit $status
