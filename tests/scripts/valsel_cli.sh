#!/bin/sh
# mlcl-train --val-split / --select-metric / --patience / --val-thresholds
# (issue 13, item 4): validation without --test, the honest metrics in the
# JSON, the thresholds in the model file, refusals, and a checkpoint that
# names its validation settings. Run by `make check`.
set -eu
BIN=${MLCL_TRAIN:-bin/mlcl-train}
PRED=$(dirname "$BIN")/mlcl-predict
DATA=${MLCL_DATA_DIR:-tests/data/mulan}
[ -f "$DATA/yeast-train.arff.gz" ] || DATA=tests/data/mulan
T=$(mktemp -d /tmp/mlcl_valsel.XXXXXX)
trap 'rm -rf "$T"' EXIT
TR="$DATA/yeast-train.arff.gz"
TE="$DATA/yeast-test.arff.gz"
JOB="--preset yeast --pretrain-epochs 1 --finetune-epochs 6 --threads 1 --quiet"
fail() { echo "valsel_cli: $*"; exit 1; }
py() { /usr/bin/python3 -c "$@"; }

# 1. --val-split without --test: the report is on the held-out rows
$BIN --train "$TR" $JOB --val-split 0.2 --json "$T/v.json" >"$T/v.log" 2>&1 || { cat "$T/v.log"; fail "--val-split without --test failed"; }
py "
import json; r = json.load(open('$T/v.json'))
assert r['evaluated_on'] == 'validation' and r['n_test'] == 300, r
assert r['validation']['select_metric'] == 'none' and r['validation']['best_value'] is None, r['validation']
assert 'validation_thresholds' in r['metrics'] and 'validation_global_threshold' in r['metrics'], r['metrics'].keys()
" || fail "JSON of the --val-split run"

# 2. with --test: the report is on the test set; epoch by validation miF1, patience, model file
$BIN --train "$TR" --test "$TE" $JOB --val-split 0.2 --select-metric miF1 --patience 2 \
    --json "$T/t.json" --save-model "$T/m.mlcl" >"$T/t.log" 2>&1 || { cat "$T/t.log"; fail "--val-split with --test failed"; }
grep -q "val thresholds/label" "$T/t.log" || fail "no per-label row in the report"
grep -q "val threshold, global" "$T/t.log" || fail "no global row in the report"
py "
import json; r = json.load(open('$T/t.json')); v = r['validation']
assert r['evaluated_on'] == 'test' and r['n_test'] == 917 and r['n_train'] == 1200, r
assert v['select_metric'] == 'miF1' and v['patience'] == 2 and v['rows'] == 300, v
assert 0 <= v['best_epoch'] < v['epochs_run'] <= 6 and v['epochs_run'] >= v['best_epoch'] + 1, v
assert v['epochs_run'] == 6 or v['epochs_run'] == v['best_epoch'] + 3, v
m = r['metrics']
assert m['validation_thresholds']['mAP'] == m['paper']['mAP'] == m['t05']['mAP'], m
assert m['validation_thresholds']['miF1'] != m['t05']['miF1'], m
" || fail "JSON of the --test run"
if [ -x "$PRED" ]; then
    "$PRED" --model "$T/m.mlcl" --info >"$T/info.txt" 2>&1 || { cat "$T/info.txt"; fail "mlcl-predict --info"; }
    grep -q "chosen on 300 validation rows (per-label F1" "$T/info.txt" || { cat "$T/info.txt"; fail "model without validation thresholds"; }
    grep -q "selected_epoch" "$T/info.txt" || fail "model without the selected epoch"
fi

# 3. --val-thresholds global: every stored threshold is the global one
$BIN --train "$TR" --test "$TE" $JOB --val-split 0.2 --val-thresholds global --json "$T/g.json" \
    --save-model "$T/g.mlcl" >"$T/g.log" 2>&1 || { cat "$T/g.log"; fail "--val-thresholds global failed"; }
py "
import json; r = json.load(open('$T/g.json')); m = r['metrics']
assert m['validation_thresholds'] == m['validation_global_threshold'], m
" || fail "global thresholds differ from the global row"

# 4. refusals
for bad in "--select-metric mAP" "--patience 3" "--val-split 0.2 --select-metric bogus" "--val-split 0.2 --val-thresholds half"; do
    set +e
    $BIN --train "$TR" --test "$TE" $JOB $bad >"$T/bad.log" 2>&1
    st=$?
    set -e
    [ "$st" -eq 2 ] || { cat "$T/bad.log"; fail "'$bad' exited with $st, expected 2"; }
done

# 5. a checkpoint records the validation settings: resuming with others is refused
$BIN --train "$TR" --test "$TE" $JOB --val-split 0.2 --select-metric mAP --checkpoint "$T/ck" >"$T/c.log" 2>&1 || { cat "$T/c.log"; fail "checkpoint run failed"; }
set +e
$BIN --train "$TR" --test "$TE" $JOB --val-split 0.2 --select-metric maF1 --resume "$T/ck" >"$T/r.log" 2>&1
st=$?
set -e
[ "$st" -ne 0 ] && grep -q "validation.select_metric" "$T/r.log" || { cat "$T/r.log"; fail "resume with another --select-metric was not refused by name"; }
echo "valsel_cli: ok"
