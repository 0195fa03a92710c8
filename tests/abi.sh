#!/bin/sh
# The shared library exports exactly the functions the public headers declare
# with MLCL_API (both directions: no internal mlcl__* or undeclared symbol
# leaks out, no declared function is missing), and carries SONAME libmlcl.so.1.
#   tests/abi.sh lib/libmlcl.so.1 [include-dir]
set -e
so=${1:?shared library}
inc=${2:-$(dirname "$0")/../include}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# defined dynamic symbols of every kind except the version node (type A)
nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort -u > "$tmp/exported"
# every "MLCL_API <type> name(" in the headers; declarations may span lines, so
# the headers are joined first; the #define lines of MLCL_API itself are skipped
find "$inc" -name '*.h' | sort | xargs cat | grep -v '^#' | tr '\n' ' ' \
    | grep -o 'MLCL_API[^;(]*(' | sed 's/[[:space:]]*($//; s/.*[^A-Za-z0-9_]//' | sort -u > "$tmp/declared"
[ -s "$tmp/declared" ] || { echo "abi: no MLCL_API declarations found under $inc"; exit 1; }
status=0
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then
    echo "abi: exported but not declared MLCL_API in $inc:"; echo "$extra" | sed 's/^/  /'; status=1
fi
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$missing" ]; then
    echo "abi: declared MLCL_API but not exported:"; echo "$missing" | sed 's/^/  /'; status=1
fi
bad=$(grep -v '^mlcl_' "$tmp/exported" | grep -v '^MLCL_' || true)
[ -z "$bad" ] || { echo "abi: symbols without the mlcl_ prefix:"; echo "$bad" | sed 's/^/  /'; status=1; }
internal=$(grep '^mlcl__' "$tmp/exported" || true)
[ -z "$internal" ] || { echo "abi: internal mlcl__* symbols exported:"; echo "$internal" | sed 's/^/  /'; status=1; }
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libmlcl.so.1" ] || { echo "abi: SONAME is '$soname', not libmlcl.so.1"; status=1; }
[ $status -eq 0 ] || exit 1
echo "abi: $(wc -l < "$tmp/exported") exported symbols = the $(wc -l < "$tmp/declared") MLCL_API declarations; SONAME $soname"
