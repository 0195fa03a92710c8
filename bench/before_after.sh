#!/bin/sh
# Two builds of libmlcl side by side, interleaved (docs/performance.md,
# "Before and after"): bench/step three rounds, bench/conv once, and the whole
# Yeast CLD protocol once per side.
#   sh bench/before_after.sh OLD_TREE NEW_TREE [OUT_DIR]
# Each tree must have run `make all bench-build`. Needs ../shared/data (or
# MLCL_DATA_DIR) for the Yeast files. Results: OUT_DIR/*.txt (default /tmp/ba).
set -e
[ $# -ge 2 ] || { echo "usage: sh bench/before_after.sh OLD_TREE NEW_TREE [OUT_DIR]" >&2; exit 2; }
B=$1; A=$2; out=${3:-/tmp/ba}
Y=${MLCL_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/../shared/data}
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$out"
side_dir() { if [ "$1" = before ]; then echo "$B"; else echo "$A"; fi; }
for r in 1 2 3; do
    for side in before after; do
        "$(side_dir $side)/build/bench/step" --reps 20 --warmup 3 > "$out/step_${side}_$r.txt" 2>&1
    done
done
for side in before after; do
    "$(side_dir $side)/build/bench/conv" --reps 3 > "$out/conv_${side}.txt" 2>&1
done
for side in before after; do
    /usr/bin/time -f "%e s %M KB" "$(side_dir $side)/bin/mlcl-train" --train "$Y/yeast-train.arff.gz" \
        --test "$Y/yeast-test.arff.gz" --preset yeast --method cld --quiet > "$out/proto_${side}.txt" 2>&1
done
for f in "$out"/step_*.txt; do echo "$(basename "$f"): $(awk 'NR > 1 { printf "%s %s  ", $1, $6 }' "$f")"; done
grep -h "resnet" "$out"/conv_before.txt "$out"/conv_after.txt
tail -n 1 "$out"/proto_before.txt "$out"/proto_after.txt
