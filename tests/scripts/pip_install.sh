#!/bin/sh
# The Python package installs and finds its library from another folder:
#  1. `pip install --no-build-isolation bindings/python` (offline, Debian's
#     pip/setuptools/wheel) into a throwaway virtual environment that sees the
#     system's numpy: the package carries lib/libmlcl.so.1;
#  2. the same without the bundled library (MLCL_BUNDLE_LIBRARY=0, pip
#     --target): it loads libmlcl.so.1 through the system loader;
#  3. `make install DESTDIR=...` with an unusual LIBDIR: the installed package
#     finds the library through the LIBDIR make recorded.
# Nothing is installed outside a temporary folder; the source tree is copied
# first so the build leaves nothing in it. Run by `make check` (check-scripts).
set -eu
REPO=$(pwd)
PY=/usr/bin/python3
[ -f "$REPO/lib/libmlcl.so.1" ] || { echo "pip_install: build the library first (make)"; exit 1; }
if ! { $PY -c 'import setuptools, wheel, venv' && $PY -m pip --version; } >/dev/null 2>&1; then
    echo "pip_install: SKIP (python3-pip, python3-setuptools, python3-wheel or python3-venv missing)"
    exit 0
fi
T=$(mktemp -d /tmp/mlcl_pip_install.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { [ -f "$T/log" ] && tail -20 "$T/log"; echo "pip_install: $*"; exit 1; }
want=$(sed -n 's/^#define MLCL_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/mlcl/core.h | paste -sd.)

# a copy of what pip reads (the package, the header for the version, the built library)
mkdir -p "$T/src/bindings" "$T/src/include/mlcl" "$T/src/lib"
cp -R bindings/python "$T/src/bindings/"
rm -rf "$T/src/bindings/python/build" "$T/src/bindings/python/"*.egg-info
cp include/mlcl/core.h "$T/src/include/mlcl/"
cp -L lib/libmlcl.so.1 "$T/src/lib/"

# run python from another folder with none of the variables that point at the tree
clean_py() { (cd "$T" && env -u MLCL_LIBRARY -u PYTHONPATH -u LD_LIBRARY_PATH "$@"); }

# 1. virtual environment (pip from the system site-packages it sees), bundled library
$PY -m venv --without-pip --system-site-packages "$T/venv" >"$T/log" 2>&1 || fail "python3 -m venv failed"
"$T/venv/bin/python" -m pip install --no-build-isolation --no-index --disable-pip-version-check \
    "$T/src/bindings/python" >"$T/log" 2>&1 || fail "pip install failed"
out=$(clean_py "$T/venv/bin/python" -c 'import mlcl; print(mlcl.version(), mlcl.library_path, mlcl.Model.__name__, mlcl.MulSupConClassifier.__name__)') \
    || fail "import mlcl failed after pip install"
echo "venv: $out"
set -- $out
[ "$1" = "$want" ] || fail "version $1, the header says $want"
case "$2" in "$T/venv/lib/"*"/site-packages/mlcl/libmlcl.so.1") ;; *) fail "library from $2, not the bundled copy" ;; esac
ver=$(clean_py "$T/venv/bin/python" -m pip show mlcl 2>/dev/null | sed -n 's/^Version: //p')
[ "$ver" = "$want" ] || fail "pip show: version '$ver', expected $want"
"$T/venv/bin/python" -m pip uninstall -y mlcl >"$T/log" 2>&1 || fail "pip uninstall failed"
clean_py "$T/venv/bin/python" -c 'import mlcl' 2>/dev/null && fail "mlcl still importable after pip uninstall"

# 2. no bundled library: the system loader (here LD_LIBRARY_PATH) finds it
MLCL_BUNDLE_LIBRARY=0 $PY -m pip install --no-build-isolation --no-index --no-deps --disable-pip-version-check \
    --target "$T/site" "$T/src/bindings/python" >"$T/log" 2>&1 || fail "pip install --target failed"
[ -e "$T/site/mlcl/libmlcl.so.1" ] && fail "MLCL_BUNDLE_LIBRARY=0 still bundled the library"
out=$(cd "$T" && env -u MLCL_LIBRARY PYTHONPATH="$T/site" LD_LIBRARY_PATH="$REPO/lib" $PY -c 'import mlcl; print(mlcl.library_path)') \
    || fail "import mlcl (system loader) failed"
echo "target: $out"
[ "$out" = "libmlcl.so.1" ] || fail "expected the system loader's libmlcl.so.1, got $out"
if ! /sbin/ldconfig -p 2>/dev/null | grep -q 'libmlcl\.so\.1 '; then
    # no library anywhere: a clear ImportError that says what to do
    err=$(cd "$T" && env -u MLCL_LIBRARY -u LD_LIBRARY_PATH PYTHONPATH="$T/site" $PY -c 'import mlcl' 2>&1) \
        && fail "import mlcl succeeded with no library"
    echo "$err" | grep -q "MLCL_LIBRARY" || fail "unclear error without a library: $err"
fi

# 3. make install into a staging folder, library in an unusual LIBDIR
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$REPO" install DESTDIR="$T/stage" PREFIX=/usr/local \
    LIBDIR="$T/libdir" >"$T/log" 2>&1 || fail "make install failed"
pkg=$(dirname "$(find "$T/stage" -path '*/mlcl/_lib.py' | head -1)")
[ -f "$pkg/_install.py" ] || fail "make install wrote no mlcl/_install.py"
# the recorded LIBDIR is the final location (no DESTDIR): point it at the staged copy
sed -i "s|^LIBDIR = .*|LIBDIR = '$T/stage$T/libdir'|" "$pkg/_install.py"
out=$(cd "$T" && env -u MLCL_LIBRARY -u LD_LIBRARY_PATH PYTHONPATH="$(dirname "$pkg")" $PY -c 'import mlcl; print(mlcl.library_path)') \
    || fail "import mlcl after make install failed"
echo "make install: $out"
[ "$out" = "$T/stage$T/libdir/libmlcl.so.1" ] || fail "make install: library from $out"
echo "pip_install: ok"
