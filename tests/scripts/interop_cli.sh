#!/bin/sh
# `mlcl-predict --export FILE` (issue 13, item 2): .safetensors, .onnx and
# .npz exports of a trained model, written whole (no temporary file left,
# an existing export replaced), and refusals (unknown extension, a directory,
# the model itself). The contents are checked against PyTorch and an ONNX
# evaluation in bindings/python/tests/test_model_interop.py. Run by `make check`.
set -eu
BIN=${MLCL_BIN:-bin}
TRAIN=${MLCL_TRAIN:-$BIN/mlcl-train}
PREDICT=$BIN/mlcl-predict
DATA=${MLCL_DATA_DIR:-tests/data/mulan}
[ -f "$DATA/yeast-train.arff.gz" ] || DATA=tests/data/mulan
T=$(mktemp -d /tmp/mlcl_interop_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_cli: $*"; exit 1; }

$TRAIN --train "$DATA/yeast-train.arff.gz" --test "$DATA/yeast-test.arff.gz" --preset yeast --pretrain-epochs 1 \
    --finetune-epochs 1 --threads 1 --save-model "$T/m.mlcl" --quiet >"$T/train.log" 2>&1 \
    || { cat "$T/train.log"; fail "mlcl-train failed"; }

for ext in safetensors onnx npz; do
    $PREDICT --model "$T/m.mlcl" --export "$T/m.$ext" || fail "--export m.$ext failed"
    [ -s "$T/m.$ext" ] || fail "m.$ext is empty"
done
# safetensors: 8-byte little-endian length, then the JSON header
n=$(od -An -t u8 -N 8 "$T/m.safetensors" | tr -d ' ')
size=$(wc -c <"$T/m.safetensors")
[ "$n" -gt 0 ] && [ "$n" -lt "$size" ] || fail "safetensors header length $n of a $size-byte file"
head -c 40 "$T/m.safetensors" | tail -c 32 | grep -q '^{"__metadata__":{"format":"pt"' || fail "safetensors header does not start as expected"
grep -q '"head.weight":{"dtype":"F32","shape":\[14,256\]' "$T/m.safetensors" || fail "head.weight [14,256] not in the header"
# npz: a zip archive (local header magic PK\3\4) holding head.weight.npy
[ "$(head -c 4 "$T/m.npz" | od -An -t x1 | tr -d ' ')" = 504b0304 ] || fail "m.npz is not a zip archive"
grep -q 'head.weight.npy' "$T/m.npz" || fail "m.npz has no head.weight.npy"
# onnx: the graph's outputs and operators are named in the protobuf
for s in scores embedding distributions Gemm Sigmoid Softmax libmlcl; do
    grep -q "$s" "$T/m.onnx" || fail "'$s' not in m.onnx"
done
# an existing export is replaced whole, and nothing temporary is left behind
old=$(wc -c <"$T/m.onnx")
$PREDICT --model "$T/m.mlcl" --export "$T/m.onnx" || fail "second --export m.onnx failed"
[ "$(wc -c <"$T/m.onnx")" = "$old" ] || fail "m.onnx changed size when written again"
! ls "$T" | grep -q '\.tmp\.' || fail "a temporary file was left: $(ls "$T")"

# refusals
set +e
$PREDICT --model "$T/m.mlcl" --export "$T/m.txt" 2>"$T/err"; rc=$?
set -e
[ $rc = 2 ] && grep -q "must end in .safetensors, .onnx or .npz" "$T/err" || fail "--export m.txt: rc $rc, $(cat "$T/err")"
mkdir "$T/d.onnx"
set +e
$PREDICT --model "$T/m.mlcl" --export "$T/d.onnx" 2>"$T/err"; rc=$?
set -e
[ $rc = 1 ] && grep -q "not a regular file" "$T/err" && [ -d "$T/d.onnx" ] || fail "--export to a directory: rc $rc, $(cat "$T/err")"
cp "$T/m.mlcl" "$T/x.npz"
set +e
$PREDICT --model "$T/x.npz" --export "$T/x.npz" 2>"$T/err"; rc=$?
set -e
[ $rc = 2 ] && cmp -s "$T/m.mlcl" "$T/x.npz" || fail "--export over the model: rc $rc, $(cat "$T/err")"
set +e
$PREDICT --model "$T/m.mlcl" --export 2>"$T/err"; rc=$?
set -e
[ $rc = 2 ] || fail "--export without a value: rc $rc"
echo "interop_cli: ok"
