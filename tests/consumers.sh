#!/bin/sh
# Installs into a temporary prefix and builds a C and a C++ consumer with
# nothing but `pkg-config mlcl` (shared and --static), then runs them.
set -e
CC=${1:-cc}; CXX=${2:-c++}
top=$(pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
make --no-print-directory -s install PREFIX=/opt/mlcl DESTDIR="$tmp/root" >/dev/null
pc="$tmp/root/opt/mlcl/lib/pkgconfig"
# the .pc names the final prefix; point pkg-config at the staged tree
export PKG_CONFIG_PATH="$pc"
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"
cflags=$(pkg-config --cflags mlcl); libs=$(pkg-config --libs mlcl)
slibs=$(pkg-config --static --libs mlcl | sed 's/-lmlcl /-l:libmlcl.a /')
libdir="$tmp/root/opt/mlcl/lib"
$CC -std=c99 -Wall -Werror tests/consumer/consumer.c $cflags $libs -o "$tmp/c_shared"
$CXX -std=c++11 -Wall -Werror tests/consumer/consumer.cpp $cflags $libs -o "$tmp/cxx_shared"
$CC -std=c99 -Wall -Werror tests/consumer/consumer.c $cflags $slibs -o "$tmp/c_static"
$CXX -std=c++11 -Wall -Werror tests/consumer/consumer.cpp $cflags $slibs -o "$tmp/cxx_static"
# the README's first program, built exactly as the README says (pkg-config alone)
$CC -std=c11 -Wall -Werror examples/cld-loss.c $cflags $libs -o "$tmp/cld_loss"
LD_LIBRARY_PATH="$libdir" "$tmp/cld_loss" | grep -q "^CLD loss " || { echo "consumers: examples/cld-loss.c did not run"; exit 1; }
if LD_LIBRARY_PATH= ldd "$tmp/c_static" | grep -q libmlcl; then echo "consumers: static build still needs libmlcl.so"; exit 1; fi
for p in c_shared cxx_shared c_static cxx_static; do
    out=$(LD_LIBRARY_PATH="$libdir" "$tmp/$p")
    exp=$(cat tests/consumer/expected.txt)
    if [ "$out" != "$exp" ]; then echo "consumers: $p printed:"; echo "$out"; echo "expected:"; echo "$exp"; exit 1; fi
done
echo "consumers: C and C++ programs built with pkg-config mlcl (shared and static) run and print the expected output"
