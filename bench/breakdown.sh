#!/bin/sh
# Per-step breakdown of the MoCo pretraining step (docs/performance.md, issue 15):
# `perf record -e cpu-clock` on bench/step --only yeast and --only mediamill-like,
# `perf report --no-children --sort dso,sym,srcfile`, categorised by
# bench/breakdown.py into GEMMs, element-wise passes, loss row pass, optimiser,
# momentum update, RNG/masking, copies, synchronisation, finiteness checks, other.
# Prints a markdown block (command, date, commit, load average, table).
#
#   bench/breakdown.sh [> docs/perf/breakdown-XXX.md]
#
# Expects `make all bench-build`. BUILD=dir (default build); BREAKDOWN_REPS_YEAST
# (default 400) and BREAKDOWN_REPS_MEDIAMILL (default 40) timed steps, after 3
# warm-up steps; BREAKDOWN_FREQ sampling Hz (default 1999). The library's
# thread count is its default (MLCL_NUM_THREADS honoured, as in bench/step).
# oneDNN JIT code is named for perf through ONEDNN_JIT_PROFILE=1 (/tmp/perf-PID.map).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
REPS_Y=${BREAKDOWN_REPS_YEAST:-400}
REPS_M=${BREAKDOWN_REPS_MEDIAMILL:-40}
FREQ=${BREAKDOWN_FREQ:-1999}
WARM=3
STEP="$BUILD/bench/step"
[ -x "$STEP" ] || { echo "breakdown: $STEP missing (make bench-build)" >&2; exit 1; }
command -v perf >/dev/null || { echo "breakdown: perf missing (apt-get install linux-perf)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/mlcl_breakdown.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
args=""
for cfg in yeast mediamill-like; do
    if [ "$cfg" = yeast ]; then reps=$REPS_Y; else reps=$REPS_M; fi
    ONEDNN_JIT_PROFILE=1 DNNL_JIT_PROFILE=1 perf record -q -e cpu-clock -F "$FREQ" -o "$TMP/$cfg.data" -- \
        "$STEP" --only "$cfg" --warmup $WARM --reps "$reps" > "$TMP/$cfg.out" 2>&1
    perf report -i "$TMP/$cfg.data" --no-children --sort dso,sym,srcfile --stdio --percent-limit 0 \
        > "$TMP/$cfg.txt" 2>/dev/null
    args="$args $cfg=$TMP/$cfg.txt:$((reps + WARM))"
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
echo "Per-step breakdown, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'),"
echo "$(nproc) CPUs, load average $LOAD0 before / $LOAD1 after. Command: \`bench/breakdown.sh\`"
echo "(perf record -e cpu-clock -F $FREQ on \`$STEP --only CONFIG --warmup $WARM --reps N\`, N = $REPS_Y for yeast,"
echo "$REPS_M for mediamill-like; perf report --no-children --sort dso,sym,srcfile; bench/breakdown.py)."
echo "Percentages are of the step's CPU samples over all threads; CPU ms/step = cpu-clock time / steps"
echo "(with two threads busy it exceeds the wall time). Median wall time per step from the same runs:"
for cfg in yeast mediamill-like; do
    echo "$cfg: $(awk -v c="$cfg" '$1 == c { printf "%.2f ms", 1000 * $6 }' "$TMP/$cfg.out")."
done
echo
/usr/bin/python3 bench/breakdown.py $args
