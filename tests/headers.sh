#!/bin/sh
# Every public header compiles alone as strict C99 and as C++.
set -e
CC=${1:-cc}; CXX=${2:-c++}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0
for h in include/mlcl.h include/mlcl/*.h; do
    rel=${h#include/}
    printf '#include "%s"\nint main(void) { return 0; }\n' "$rel" > "$tmp/t.c"
    $CC -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/t.c" -o "$tmp/t.o" || { echo "header $h fails as C99"; exit 1; }
    cp "$tmp/t.c" "$tmp/t.cpp"
    $CXX -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/t.cpp" -o "$tmp/t.o" || { echo "header $h fails as C++"; exit 1; }
    n=$((n+1))
done
echo "headers: $n public headers compile alone as C99 and C++"
