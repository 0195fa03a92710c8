#!/bin/sh
# mlcl-train and mlcl-predict on a CPU that Debian's OpenBLAS does not know
# (it then picks its generic "Prescott" SSE3 kernels, 4-5x slower): they
# re-execute themselves with OPENBLAS_CORETYPE set to what the CPU has
# (examples/cli/blascore.c). A set OPENBLAS_CORETYPE is always respected.
# OPENBLAS_VERBOSE=2 makes OpenBLAS print "Core: NAME" each time it loads,
# which is how this test sees the kernels of each process.
# On a CPU OpenBLAS knows, it checks that nothing is done.
set -u
BIN=${MLCL_TRAIN:-bin/mlcl-train}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
PREDICT=${MLCL_BIN:-$(dirname "$BIN")}/mlcl-predict
T=$(mktemp -d /tmp/mlcl_blas.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

# what OpenBLAS picks here by itself, and what the CPU has
native=$(env -u OPENBLAS_CORETYPE /usr/bin/python3 -c '
import ctypes
b = ctypes.CDLL("libopenblas.so.0"); b.openblas_get_corename.restype = ctypes.c_char_p
print(b.openblas_get_corename().decode())')
flags=$(grep -m1 "^flags" /proc/cpuinfo)
has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
want=
if has avx512f && has avx512bw && has avx512dq && has avx512vl; then want=SkylakeX
elif has avx2 && has fma; then want=Haswell; fi
echo "OpenBLAS alone: $native; this CPU: ${want:-no AVX2}"

for prog in "$BIN" "$PREDICT"; do
    name=$(basename "$prog")
    env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$prog" --help >"$T/out" 2>"$T/err"
    rc=$?
    cores=$(sed -n 's/^Core: //p' "$T/out" "$T/err" | tr '\n' ' ')
    if [ "$rc" != 0 ]; then bad "$name --help" "exit $rc: $(tail -2 "$T/err")"; continue; fi
    grep -q "^Usage\|^usage\|--help" "$T/out" "$T/err" || bad "$name help" "no usage text after the re-exec"
    if [ "$native" = Prescott ] && [ -n "$want" ]; then
        # the first process loads Prescott, says so, the second runs $want
        if [ "$cores" = "Prescott $want " ] && grep -q "OPENBLAS_CORETYPE=$want" "$T/err"; then
            ok "$name re-executes with OPENBLAS_CORETYPE=$want"
        else
            bad "$name re-exec" "cores loaded: '$cores'; stderr: $(grep -v '^Core' "$T/err" | head -2)"
        fi
    else
        if [ "$cores" = "$native " ] && ! grep -q "OPENBLAS_CORETYPE=" "$T/err"; then
            ok "$name leaves OpenBLAS's own choice ($native)"
        else
            bad "$name no re-exec" "cores loaded: '$cores'"
        fi
    fi
    # a set OPENBLAS_CORETYPE is respected, even Prescott
    OPENBLAS_CORETYPE=Prescott OPENBLAS_VERBOSE=2 "$prog" --help >"$T/out" 2>"$T/err"
    cores=$(sed -n 's/^Core: //p' "$T/out" "$T/err" | tr '\n' ' ')
    if [ "$cores" = "Prescott " ] && ! grep -q "OPENBLAS_CORETYPE=" "$T/err"; then
        ok "$name respects OPENBLAS_CORETYPE=Prescott"
    else
        bad "$name respects" "cores loaded: '$cores'"
    fi
done

# --quiet: no notice, the kernels still chosen
if [ "$native" = Prescott ] && [ -n "$want" ]; then
    env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$BIN" --help --quiet >"$T/out" 2>"$T/err"
    cores=$(sed -n "s/^Core: //p" "$T/out" "$T/err" | tr "\n" " ")
    if [ "$cores" = "Prescott $want " ] && ! grep -q "OPENBLAS_CORETYPE=" "$T/err"; then ok "quiet: re-exec without a notice"
    else bad quiet "cores loaded: $cores; $(grep -v "^Core" "$T/err" | head -2)"; fi
fi

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
