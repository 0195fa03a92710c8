#!/bin/sh
# mlcl-train on CSV tables (issue 16): Yeast written as CSV (header = the
# attribute names, last 14 columns the labels, features as float32 "%.9g")
# gives bit-identical metrics to the ARFF file, whether the table is named
# .csv, gzipped, or a .txt recognised by its header line; a missing value is
# an error naming file, line and column unless --impute is given.
set -eu
BIN=${MLCL_TRAIN:-bin/mlcl-train}
DATA=${MLCL_DATA_DIR:-tests/data/mulan}
[ -f "$DATA/yeast-train.arff.gz" ] || DATA=tests/data/mulan
T=$(mktemp -d /tmp/mlcl_csv.XXXXXX)
trap 'rm -rf "$T"' EXIT

# ARFF -> CSV, values rounded to float32 as the ARFF reader stores them
/usr/bin/python3 - "$DATA" "$T" <<'EOF'
import gzip, sys
import numpy as np
data, out = sys.argv[1], sys.argv[2]
for split in ("train", "test"):
    names, rows, body = [], [], False
    for line in gzip.open("%s/yeast-%s.arff.gz" % (data, split), "rt"):
        s = line.strip()
        if not s or s.startswith("%"):
            continue
        if body:
            rows.append(s.split(","))
        elif s.lower().startswith("@attribute"):
            names.append(s.split()[1].strip("'\""))
        elif s.lower().startswith("@data"):
            body = True
    with open("%s/yeast-%s.csv" % (out, split), "w") as f:
        f.write(",".join(names) + "\n")
        for r in rows:
            x = ["%.9g" % np.float32(float(v)) for v in r[:-14]]
            f.write(",".join(x + r[-14:]) + "\n")
EOF
gzip -k "$T/yeast-train.csv"
cp "$T/yeast-test.csv" "$T/yeast-test.txt"

JOB="--preset yeast --pretrain-epochs 3 --finetune-epochs 2 --threads 1"
metrics() { grep '"metrics"' "$1"; }
$BIN --train "$DATA/yeast-train.arff.gz" --test "$DATA/yeast-test.arff.gz" $JOB --json "$T/arff.json" >"$T/arff.log" 2>&1 ||
    { cat "$T/arff.log"; echo "data_csv: ARFF run failed"; exit 1; }
$BIN --train "$T/yeast-train.csv.gz" --test "$T/yeast-test.txt" --labels 14 $JOB --json "$T/csv.json" >"$T/csv.log" 2>&1 ||
    { cat "$T/csv.log"; echo "data_csv: CSV run failed"; exit 1; }
grep -q '"mAP": 0\.[0-9]' "$T/arff.json" || { cat "$T/arff.json"; echo "data_csv: no metrics in the ARFF run"; exit 1; }
if [ "$(metrics "$T/arff.json")" != "$(metrics "$T/csv.json")" ]; then
    echo "data_csv: CSV metrics differ from ARFF:"; metrics "$T/arff.json"; metrics "$T/csv.json"; exit 1
fi
$BIN --train "$T/yeast-train.csv" --test "$T/yeast-test.csv" --label-prefix Class $JOB --json "$T/pre.json" >"$T/pre.log" 2>&1 ||
    { cat "$T/pre.log"; echo "data_csv: --label-prefix run failed"; exit 1; }
[ "$(metrics "$T/arff.json")" = "$(metrics "$T/pre.json")" ] || { echo "data_csv: --label-prefix metrics differ"; exit 1; }

# the issue's case: a plain table without a header line (it used to fail with
# "label '0.0937' is not a non-negative integer" from the LIBSVM reader)
tail -n +2 "$T/yeast-train.csv" >"$T/nohdr-train.txt"
tail -n +2 "$T/yeast-test.csv" >"$T/nohdr-test.txt"
$BIN --train "$T/nohdr-train.txt" --test "$T/nohdr-test.txt" --labels 14 $JOB --json "$T/nohdr.json" >"$T/nohdr.log" 2>&1 ||
    { cat "$T/nohdr.log"; echo "data_csv: headerless CSV run failed"; exit 1; }
[ "$(metrics "$T/arff.json")" = "$(metrics "$T/nohdr.json")" ] || { echo "data_csv: headerless CSV metrics differ"; exit 1; }

# no label choice: a clear message, not a LIBSVM parse error
if $BIN --train "$T/yeast-train.csv" --test "$T/yeast-test.csv" $JOB >"$T/nolab.log" 2>&1; then
    echo "data_csv: a CSV without a label choice ran"; exit 1
fi
grep -q "is a CSV table: say which columns are labels" "$T/nolab.log" || { cat "$T/nolab.log"; echo "data_csv: unclear message"; exit 1; }

# a missing value: error with file, line and column; --impute mean runs
awk -F, 'BEGIN{OFS=","} NR==3{$2=""} {print}' "$T/yeast-test.csv" >"$T/holes.csv"
if $BIN --train "$T/yeast-train.csv" --test "$T/holes.csv" --labels 14 $JOB >"$T/miss.log" 2>&1; then
    echo "data_csv: a missing value was accepted"; exit 1
fi
grep -q "holes.csv: line 3, column 2 ('Att2'): missing value" "$T/miss.log" || { cat "$T/miss.log"; echo "data_csv: no line/column"; exit 1; }
$BIN --train "$T/yeast-train.csv" --test "$T/holes.csv" --labels 14 --impute mean $JOB --json "$T/imp.json" >"$T/imp.log" 2>&1 ||
    { cat "$T/imp.log"; echo "data_csv: --impute mean failed"; exit 1; }
echo "data_csv: Yeast as CSV gives the ARFF metrics bit for bit; missing values reported or imputed"
