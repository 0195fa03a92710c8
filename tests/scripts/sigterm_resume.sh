#!/bin/sh
# SIGTERM during training: bin/mlcl-train must write a final checkpoint and
# exit with 130; --resume must then finish the run with exactly the metrics
# of an uninterrupted run (bit-identical resume). Run by `make check`.
set -eu
BIN=${MLCL_TRAIN:-bin/mlcl-train}
DATA=${MLCL_DATA_DIR:-tests/data/mulan}
[ -f "$DATA/yeast-train.arff.gz" ] || DATA=tests/data/mulan
T=$(mktemp -d /tmp/mlcl_sigterm.XXXXXX)
trap 'rm -rf "$T"' EXIT
JOB="--train $DATA/yeast-train.arff.gz --test $DATA/yeast-test.arff.gz --preset yeast --pretrain-epochs 15 --finetune-epochs 5 --threads 1"

metrics() { grep '"metrics"' "$1"; }

# 1. the uninterrupted run
$BIN $JOB --json "$T/ref.json" >"$T/ref.log" 2>&1 || { cat "$T/ref.log"; echo "sigterm: reference run failed"; exit 1; }

# 2. the interrupted run: SIGTERM once the first checkpoint exists, plus a moment
$BIN $JOB --checkpoint "$T/ck" --json "$T/j1.json" >"$T/run1.log" 2>&1 &
pid=$!
i=0
while [ ! -f "$T/ck" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
[ -f "$T/ck" ] || { kill $pid; echo "sigterm: no checkpoint after 30 s"; exit 1; }
sleep 1
kill -TERM $pid
set +e
wait $pid
st=$?
set -e
[ "$st" -eq 130 ] || { cat "$T/run1.log"; echo "sigterm: exit status $st, expected 130"; exit 1; }
[ -s "$T/ck" ] || { echo "sigterm: no final checkpoint"; exit 1; }
[ ! -f "$T/j1.json" ] || { echo "sigterm: the interrupted run wrote final metrics"; exit 1; }
grep -q "stopped by signal 15" "$T/run1.log" || { cat "$T/run1.log"; echo "sigterm: no stop message"; exit 1; }

# 3. resume to the end
$BIN $JOB --resume "$T/ck" --checkpoint "$T/ck" --json "$T/j2.json" >"$T/run2.log" 2>&1 || { cat "$T/run2.log"; echo "sigterm: resume failed"; exit 1; }
if [ "$(metrics "$T/ref.json")" != "$(metrics "$T/j2.json")" ]; then
    echo "sigterm: resumed metrics differ from the uninterrupted run:"
    metrics "$T/ref.json"; metrics "$T/j2.json"
    exit 1
fi
echo "sigterm: SIGTERM -> exit 130 with a checkpoint; resume gives identical metrics"
