#!/bin/sh
# Builds the API reference with Doxygen and fails on any undocumented public
# symbol (or documentation error) in the public headers.
set -e
cd "$(dirname "$0")/.."
command -v doxygen >/dev/null || { echo "make docs: doxygen is missing (make deps installs it)"; exit 1; }
rm -rf docs/reference
mkdir -p docs/reference
doxygen docs/Doxyfile
if [ -s docs/reference/warnings.log ]; then
    echo "make docs: Doxygen warnings (undocumented or badly documented public API):"
    cat docs/reference/warnings.log
    exit 1
fi
# also: every MLCL_API function declared in a header has a doc comment just above it
missing=$(awk '
  /^MLCL_API/ && prev !~ /\*\/[ \t]*$/ { print FILENAME ":" FNR ": " $0 }
  { prev = $0 }
' include/mlcl/*.h | head -n 20)
if [ -n "$missing" ]; then
    echo "make docs: functions without a doc comment right above them:"; echo "$missing"; exit 1
fi
n=$(grep -c '^MLCL_API' include/mlcl/*.h | awk -F: '{s += $2} END {print s}')
echo "make docs: reference in docs/reference/html/index.html; $n public functions, all documented"
