#!/bin/sh
# The model leaves the trainer (issue 13): `mlcl-train --save-model` writes a
# model; `mlcl-predict` scores the test set in a separate process that has no
# access to the training file; the mAP computed (with numpy) from its CSV
# equals the one mlcl-train reported to 1e-6, the model file is at most a
# third of the run's checkpoint, and the same holds for a small ResNet on
# NPZ images. Also: outputs (npy/json/labels/embeddings/distributions),
# refusal to overwrite inputs or non-regular files, --info. Run by `make check`.
set -eu
BIN=${MLCL_BIN:-bin}
TRAIN=${MLCL_TRAIN:-$BIN/mlcl-train}
PREDICT=$BIN/mlcl-predict
PY=/usr/bin/python3
DATA=${MLCL_DATA_DIR:-tests/data/mulan}
[ -f "$DATA/yeast-train.arff.gz" ] || DATA=tests/data/mulan
T=$(mktemp -d /tmp/mlcl_model_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "model_cli: $*"; exit 1; }

# the training and test files are copied, and the training copy removed before predicting
cp "$DATA/yeast-train.arff.gz" "$T/train.arff.gz"
cp "$DATA/yeast-test.arff.gz" "$T/test.arff.gz"
$TRAIN --train "$T/train.arff.gz" --test "$T/test.arff.gz" --preset yeast --pretrain-epochs 2 --finetune-epochs 2 \
    --threads 1 --save-model "$T/m.mlcl" --checkpoint "$T/c.ckpt" --json "$T/r.json" --quiet >"$T/train.log" 2>&1 \
    || { cat "$T/train.log"; fail "mlcl-train failed"; }
rm "$T/train.arff.gz"
$PREDICT --model "$T/m.mlcl" --input "$T/test.arff.gz" --out "$T/s.csv" --threads 1 || fail "mlcl-predict failed"
$PREDICT --model "$T/m.mlcl" --input "$T/test.arff.gz" --metrics >"$T/metrics.txt" || fail "mlcl-predict --metrics failed"

# sizes: the model is at most a third of the checkpoint
ms=$(stat -c %s "$T/m.mlcl"); cs=$(stat -c %s "$T/c.ckpt")
[ $((ms * 3)) -le "$cs" ] || fail "model $ms bytes, checkpoint $cs: more than a third"
echo "model_cli: model $ms bytes, checkpoint $cs bytes"

# mAP from the CSV (scikit-learn's average precision, written out in numpy) against r.json and --metrics
$PY - "$T/s.csv" "$T/r.json" "$T/test.arff.gz" "$T/metrics.txt" <<'EOF' || fail "mAP check failed"
import csv, gzip, json, sys
import numpy as np
scores_path, json_path, test_path, metrics_path = sys.argv[1:5]
with open(scores_path) as f:
    rows = list(csv.reader(f))
header, S = rows[0], np.array([[float(v) for v in r] for r in rows[1:]], dtype=np.float32)
assert header == ["Class%d" % (j + 1) for j in range(14)], header
# the labels: the last 14 attributes of the ARFF data section
Y = []
with gzip.open(test_path, "rt") as f:
    data = False
    for line in f:
        line = line.strip()
        if not line or line.startswith("%"):
            continue
        if line.lower().startswith("@data"):
            data = True
            continue
        if data:
            Y.append([int(float(v)) for v in line.split(",")[-14:]])
Y = np.array(Y, dtype=np.int64)
assert S.shape == Y.shape == (917, 14), (S.shape, Y.shape)
def ap(s, y):
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]   # one threshold per distinct score
    tp = np.cumsum(y)[last]
    prec = tp / (last + 1.0)
    rec = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, rec]) * prec))
m = np.mean([ap(S[:, j], Y[:, j]) for j in range(14) if Y[:, j].sum() > 0])
ref = json.load(open(json_path))["metrics"]["t05"]["mAP"]
printed = [float(l.split()[1]) for l in open(metrics_path) if l.startswith("mAP ")][0]
print("model_cli: mAP from s.csv %.9f, mlcl-train %.6f, mlcl-predict --metrics %.9f" % (m, ref, printed))
assert abs(m - ref) <= 1e-6, (m, ref)
assert abs(m - printed) <= 1e-6, (m, printed)
EOF

# the other outputs (scores agree bit for bit at the same thread count)
$PREDICT --model "$T/m.mlcl" --input "$T/test.arff.gz" --out "$T/s.npy" --threads 1 || fail "npy output"
$PREDICT --model "$T/m.mlcl" --input "$T/test.arff.gz" --out "$T/l.json" --labels || fail "json labels"
$PREDICT --model "$T/m.mlcl" --input "$T/test.arff.gz" --out "$T/e.npy" --embed || fail "embeddings"
$PREDICT --model "$T/m.mlcl" --input "$T/test.arff.gz" --out "$T/d.csv" --distributions || fail "distributions"
$PY - "$T" <<'EOF' || fail "output formats disagree"
import csv, json, sys
import numpy as np
t = sys.argv[1]
S = np.array([[float(v) for v in r] for r in list(csv.reader(open(t + "/s.csv")))[1:]], dtype=np.float32)
N = np.load(t + "/s.npy")
assert N.dtype == np.float32 and N.shape == (917, 14) and np.array_equal(N, S)   # %.9g round-trips floats
L = json.load(open(t + "/l.json"))
assert L["output"] == "labels" and L["columns"][0] == "Class1" and L["rows"] == 917
assert np.array_equal(np.array(L["values"]), (S >= 0.5).astype(int))
E = np.load(t + "/e.npy")
assert E.shape == (917, 256) and np.all(E >= 0) and np.isfinite(E).all()
D = np.array([[float(v) for v in r] for r in list(csv.reader(open(t + "/d.csv")))[1:]])
assert D.shape == (917, 14) and np.allclose(D.sum(1), 1, atol=1e-5)
EOF

# --info names the provenance
$PREDICT --model "$T/m.mlcl" --info >"$T/info.txt" || fail "--info"
grep -q "features 103, labels 14, embedding 256" "$T/info.txt" || { cat "$T/info.txt"; fail "--info shapes"; }
grep -q "train_hash *fnv1a64:" "$T/info.txt" || { cat "$T/info.txt"; fail "--info provenance"; }
grep -q "test_t05_mAP" "$T/info.txt" || { cat "$T/info.txt"; fail "--info metrics"; }

# refusals: an output equal to an input, a directory, a feature-count mismatch, a corrupted model
set +e
$PREDICT --model "$T/m.mlcl" --input "$T/test.arff.gz" --out "$T/test.arff.gz" 2>"$T/err1"; st1=$?
mkdir "$T/dir.csv"
$PREDICT --model "$T/m.mlcl" --input "$T/test.arff.gz" --out "$T/dir.csv" 2>"$T/err2"; st2=$?
$PY -c "import numpy as np; np.savez('$T/few.npz', x=np.zeros((3, 50), np.float32))"
$PREDICT --model "$T/m.mlcl" --input "$T/few.npz" --out "$T/x.csv" 2>"$T/err3"; st3=$?
head -c 2000 "$T/m.mlcl" >"$T/cut.mlcl"
$PREDICT --model "$T/cut.mlcl" --info 2>"$T/err4"; st4=$?
set -e
[ $st1 -ne 0 ] && grep -q "is an input file" "$T/err1" || { cat "$T/err1"; fail "overwrote the input"; }
[ "$(stat -c %s "$T/test.arff.gz")" -eq "$(stat -c %s "$DATA/yeast-test.arff.gz")" ] || fail "the input changed"
[ $st2 -ne 0 ] && grep -q "not a regular file" "$T/err2" || { cat "$T/err2"; fail "wrote over a directory"; }
[ $st3 -ne 0 ] && grep -q "has 50 features per row, the model takes 103" "$T/err3" || { cat "$T/err3"; fail "feature mismatch not reported"; }
[ $st4 -ne 0 ] && grep -q "truncated" "$T/err4" || { cat "$T/err4"; fail "truncated model not reported"; }
ls "$T" | grep -q '\.tmp\.' && fail "temporary files left behind"

# a small ResNet on 8x8 NPZ images: the same check of mAP
$PY - "$T" <<'EOF'
import sys
import numpy as np
rng = np.random.default_rng(0)
def make(n):
    y = (rng.random((n, 3)) < 0.4).astype(np.uint8)
    y[np.arange(n), rng.integers(0, 3, n)] = 1
    x = 0.2 * rng.random((n, 3, 8, 8)).astype(np.float32)
    for j in range(3):
        x[:, j, j * 2:j * 2 + 4, 2:6] += 0.7 * y[:, j, None, None]
    return x.astype(np.float32), y
xt, yt = make(96); xv, yv = make(40)
np.savez(sys.argv[1] + "/itrain.npz", x=xt, y=yt)
np.savez(sys.argv[1] + "/itest.npz", x=xv, y=yv)
EOF
$TRAIN --train "$T/itrain.npz" --test "$T/itest.npz" --encoder resnet18-small --base-width 4 --image-size 6 \
    --batch 16 --queue 32 --pretrain-epochs 1 --finetune-epochs 2 --threads 1 --quiet \
    --save-model "$T/r.mlcl" --checkpoint "$T/r.ckpt" --json "$T/rr.json" >"$T/rtrain.log" 2>&1 \
    || { cat "$T/rtrain.log"; fail "ResNet training failed"; }
$PREDICT --model "$T/r.mlcl" --input "$T/itest.npz" --out "$T/rs.csv" --metrics >"$T/rmetrics.txt" || fail "ResNet predict"
ms=$(stat -c %s "$T/r.mlcl"); cs=$(stat -c %s "$T/r.ckpt")
[ $((ms * 3)) -le "$cs" ] || fail "ResNet model $ms bytes, checkpoint $cs: more than a third"
$PY - "$T" <<'EOF' || fail "ResNet mAP check failed"
import csv, json, sys
import numpy as np
t = sys.argv[1]
S = np.array([[float(v) for v in r] for r in list(csv.reader(open(t + "/rs.csv")))[1:]], dtype=np.float32)
Y = np.load(t + "/itest.npz")["y"]
def ap(s, y):
    order = np.argsort(-s, kind="mergesort"); s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[last]
    return float(np.sum(np.diff(np.r_[0.0, tp / y.sum()]) * tp / (last + 1.0)))
m = np.mean([ap(S[:, j], Y[:, j].astype(np.int64)) for j in range(3)])
ref = json.load(open(t + "/rr.json"))["metrics"]["t05"]["mAP"]
print("model_cli: ResNet mAP from rs.csv %.9f, mlcl-train %.6f" % (m, ref))
assert abs(m - ref) <= 1e-6, (m, ref)
EOF
grep -q "images 3 x 8 x 8, network input 6 x 6" "$T/rmetrics.txt" || $PREDICT --model "$T/r.mlcl" --info | grep -q "images 3 x 8 x 8, network input 6 x 6" || fail "ResNet --info"

# a ResNet on Fashion-MNIST mosaics (mlcl-train's default job, made small): mlcl-predict
# rebuilds the same test mosaics; the network saw 16x16 views, predictions resize the 56x56 images
if [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
    $TRAIN --encoder resnet18-small --base-width 4 --image-size 16 --mosaic-train 128 --mosaic-test 64 \
        --pretrain-epochs 1 --finetune-epochs 1 --batch 32 --queue 64 --seed 4 --threads 1 --quiet \
        --save-model "$T/mos.mlcl" --checkpoint "$T/mos.ckpt" --json "$T/mos.json" >"$T/mtrain.log" 2>&1 \
        || { cat "$T/mtrain.log"; fail "mosaic training failed"; }
    $PREDICT --model "$T/mos.mlcl" --mosaic-test 64 --mosaic-seed 4 --threads 1 --metrics >"$T/mmetrics.txt" \
        || fail "mosaic predict"
    ms=$(stat -c %s "$T/mos.mlcl"); cs=$(stat -c %s "$T/mos.ckpt")
    [ $((ms * 3)) -le "$cs" ] || fail "mosaic model $ms bytes, checkpoint $cs: more than a third"
    $PY - "$T/mos.json" "$T/mmetrics.txt" <<'EOF2' || fail "mosaic mAP differs"
import json, sys
ref = json.load(open(sys.argv[1]))["metrics"]["t05"]["mAP"]
got = [float(l.split()[1]) for l in open(sys.argv[2]) if l.startswith("mAP ")][0]
print("model_cli: mosaic ResNet mAP mlcl-predict %.9f, mlcl-train %.6f" % (got, ref))
assert abs(got - ref) <= 1e-6, (got, ref)
EOF2
else
    echo "model_cli: Fashion-MNIST not installed: mosaic ResNet check skipped"
fi
echo "model_cli: ok"
