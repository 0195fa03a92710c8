#!/bin/sh
# The shared library exports only mlcl_* and carries SONAME libmlcl.so.1.
set -e
so=${1:?shared library}
bad=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBRWVi]/ {print $3}' | grep -v '^mlcl_' | grep -v '^MLCL_' || true)
if [ -n "$bad" ]; then echo "abi: symbols without the mlcl_ prefix:"; echo "$bad"; exit 1; fi
count=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBRWVi]/' | grep -c ' mlcl_' || true)
[ "$count" -gt 0 ] || { echo "abi: no mlcl_ symbols exported"; exit 1; }
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libmlcl.so.1" ] || { echo "abi: SONAME is '$soname', not libmlcl.so.1"; exit 1; }
echo "abi: $count exported symbols, all mlcl_*; SONAME $soname"
