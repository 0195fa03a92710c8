#!/bin/sh
# examples/train-save-predict.c: train on Yeast, save, free everything, load
# in a fresh handle, predict and print the top labels by name. Run by `make check`.
set -eu
BIN=${MLCL_BIN:-bin}
DATA=${MLCL_DATA_DIR:-tests/data/mulan}
[ -f "$DATA/yeast-train.arff.gz" ] || DATA=tests/data/mulan
T=$(mktemp -d /tmp/mlcl_model_example.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { cat "$T/out.txt"; echo "model_example: $*"; exit 1; }
"$BIN/train-save-predict" "$DATA" "$T/yeast.mlcl" >"$T/out.txt" 2>&1 || fail "the example failed"
[ -s "$T/yeast.mlcl" ] || fail "no model file"
grep -q "^loaded $T/yeast.mlcl: 103 features -> 14 labels (embedding 256)" "$T/out.txt" || fail "no load line"
[ "$(grep -c '^row [0-4]: top Class[0-9]* ' "$T/out.txt")" -eq 5 ] || fail "top labels are not printed by name"
map=$(sed -n 's/^test mAP \([0-9.]*\),.*/\1/p' "$T/out.txt")
# 5 epochs on Yeast: far above the label-frequency baseline (about 0.3)
awk -v m="$map" 'BEGIN { exit !(m > 0.33 && m < 1) }' || fail "mAP $map is implausible"
cat "$T/out.txt"
