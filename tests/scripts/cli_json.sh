#!/bin/sh
# The JSON files of mlcl-train (--json) and mlcl-predict (--out FILE.json) are
# written with jansson (issue 14): label names with quotes, backslashes,
# control characters, non-ASCII UTF-8 and a byte that is not UTF-8 come out
# as valid JSON (strict UTF-8, no NaN/Infinity) holding the same names (the
# stray byte as U+FFFD); numbers keep full precision (a double's metrics, a
# float's scores equal to the CSV's bit for bit); the "metrics" line holds the
# metrics and nothing that varies between runs (the layout other tests grep).
# POSIX sh + /usr/bin/python3; uses $MLCL_BIN (or $MLCL_TRAIN's folder).
set -u
BIN=${MLCL_TRAIN:-bin/mlcl-train}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
PREDICT=${MLCL_BIN:-$(dirname "$BIN")}/mlcl-predict
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mlcl_json.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
# check NAME PYTHON-CODE [ARGS]: the code exits 0 when the case holds, else says why
check() {
    name=$1; shift
    if msg=$("$PY" -c "$@" 2>&1); then ok "$name"; else bad "$name" "$(echo "$msg" | tail -3)"; fi
}

# a data set whose label names are hostile to JSON
"$PY" -c '
import random, sys
random.seed(5)
h = b"@relation \x27hostile: -C -5\x27\n"
h += b"".join(b"@attribute f%d numeric\n" % i for i in range(4))
h += b"@attribute \x27say \"hi\"\x27 {0,1}\n"            # quotes
h += b"@attribute \x27back\\\\slash\x27 {0,1}\n"          # one backslash
h += b"@attribute \x27ctl\x01\x1b[1m\x1f\x7fend\x27 {0,1}\n"  # C0 controls and DEL
h += "@attribute \x27caf\u00e9 \u65e5\u672c \U0001F600\x27 {0,1}\n".encode()  # 2-, 3- and 4-byte UTF-8
h += b"@attribute bad\xffbyte {0,1}\n"                     # not UTF-8
h += b"@data\n"
for i in range(120):
    x = [random.random() for _ in range(4)]
    y = (x[0] > .5, x[1] > .4, x[2] > .6, x[3] > .5, x[0] + x[1] > 1)
    h += (",".join("%.4f" % v for v in x) + "," + ",".join("%d" % v for v in y) + "\n").encode()
open(sys.argv[1], "wb").write(h)
' "$T/h.arff"
NAMES='["say \"hi\"", "back\\slash", "ctl\u0001\u001b[1m\u001f\u007fend", "caf\u00e9 \u65e5\u672c \ud83d\ude00", "bad\ufffdbyte"]'

"$BIN" --train "$T/h.arff" --test "$T/h.arff" --pretrain-epochs 1 --finetune-epochs 2 --batch 16 --queue 32 --threads 1 \
    --json "$T/r.json" --save-model "$T/m.mlcl" --per-label --quiet >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] && ok train_status || bad train_status "exit status $rc: $(tail -2 "$T/err")"

# strict: UTF-8, no NaN/Infinity, no duplicate keys
STRICT='
import json, sys
def strict(path):
    raw = open(path, "rb").read()
    text = raw.decode("utf-8")  # raises on a byte that is not UTF-8
    def no_const(c): raise ValueError("non-JSON constant " + c)
    def no_dup(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), "duplicate keys %s" % keys
        return dict(pairs)
    return json.loads(text, parse_constant=no_const, object_pairs_hook=no_dup), raw
'
check train_json_names "$STRICT"'
doc, raw = strict(sys.argv[1])
names = [x["name"] for x in doc["per_label"]]
want = json.loads(sys.argv[2])
assert names == want, (names, want)
assert b"\x01" not in raw and b"\x1b" not in raw and b"\x1f" not in raw, "a raw control byte in the JSON"
' "$T/r.json" "$NAMES"

check train_json_values "$STRICT"'
doc, raw = strict(sys.argv[1])
assert doc["labels"] == 5 and doc["n_train"] == 120 and doc["n_test"] == 120 and doc["evaluated_on"] == "test", doc
assert doc["method"] == "cld" and doc["seed"] == 0, doc
vals = [v for k in ("paper", "t05") for v in doc["metrics"][k].values()]
assert len(vals) == 12 and all(isinstance(v, float) and 0 <= v <= 1 for v in vals), vals
# full precision: a value rounded to 6 decimals (the old format) is not the value
assert any(v != round(v, 6) for v in vals), vals
# the per-label table printed on stdout agrees (support, predicted, AP, F1 at 0.5)
out = open(sys.argv[2]).read().splitlines()
i = next(k for k, l in enumerate(out) if l.split()[:5] == ["label", "support", "predicted", "AP", "F1"])
for x, l in zip(doc["per_label"], out[i + 1:]):
    w = l.split()
    assert int(w[-4]) == x["support"] and int(w[-3]) == x["predicted"], (l, x)
    assert (w[-2] == "-" and x["AP"] is None) or abs(float(w[-2]) - x["AP"]) < 6e-5, (l, x)
    assert abs(float(w[-1]) - x["F1_t05"]) < 6e-5, (l, x)
t = doc["timing"]
assert set(t) == {"pretrain_s", "finetune_s"} and all(v >= 0 for v in t.values()), t
' "$T/r.json" "$T/out"

check train_json_layout '
import sys
lines = open(sys.argv[1]).read().splitlines()
m = [l for l in lines if "\"metrics\"" in l]
assert len(m) == 1 and "\"paper\": {\"HA\": " in m[0] and "timing" not in m[0] and "per_label" not in m[0], m
assert lines[0].startswith("{\"method\": \"cld\", \"seed\": 0, \"n_train\": 120, \"n_test\": 120, \"features\": 4, \"labels\": 5"), lines[0]
' "$T/r.json"

# mlcl-predict --out FILE.json: the model's label names, scores equal to the CSV's
"$PREDICT" --model "$T/m.mlcl" --input "$T/h.arff" --out "$T/s.json" >"$T/p.out" 2>&1 &&
    "$PREDICT" --model "$T/m.mlcl" --input "$T/h.arff" --out "$T/s.csv" >>"$T/p.out" 2>&1 &&
    "$PREDICT" --model "$T/m.mlcl" --input "$T/h.arff" --out "$T/l.json" --labels >>"$T/p.out" 2>&1 &&
    "$PREDICT" --model "$T/m.mlcl" --input "$T/h.arff" --out "$T/e.json" --embed >>"$T/p.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && ok predict_status || bad predict_status "exit status $rc: $(tail -2 "$T/p.out")"

check predict_json "$STRICT"'
import csv, numpy as np
doc, raw = strict(sys.argv[1])
want = json.loads(sys.argv[4])
assert doc["output"] == "scores" and doc["rows"] == 120 and doc["columns"] == want, (doc["output"], doc["rows"], doc["columns"])
v = np.array(doc["values"], dtype=np.float32)
rows = list(csv.reader(open(sys.argv[2], encoding="utf-8", errors="replace")))
c = np.array(rows[1:], dtype=np.float32)
assert v.shape == c.shape == (120, 5), (v.shape, c.shape)
assert np.array_equal(v, c), "JSON and CSV scores differ"
assert ((v >= 0) & (v <= 1)).all() and len(np.unique(v)) > 10, v[:3]
lab, _ = strict(sys.argv[3])
L = np.array(lab["values"])
assert lab["output"] == "labels" and L.dtype.kind == "i" and set(np.unique(L)) <= {0, 1}, lab["values"][:3]
' "$T/s.json" "$T/s.csv" "$T/l.json" "$NAMES"

check predict_json_embedding "$STRICT"'
doc, raw = strict(sys.argv[1])
assert doc["output"] == "embedding" and doc["rows"] == 120 and doc["columns"][:2] == ["e0", "e1"], doc["columns"][:3]
assert len(doc["values"]) == 120 and all(len(r) == len(doc["columns"]) for r in doc["values"])
' "$T/e.json"

if [ "$fails" -ne 0 ]; then echo "cli_json: $fails failure(s)"; exit 1; fi
echo "cli_json: every case passed"
