#!/bin/sh
# mlcl-train --sparse (issue 16, item 5): a Medical-shaped LIBSVM set (1,449
# features, ~4 % non-zero, 45 labels) trains from CSR rows to the end with
# metrics; a checkpoint resumes; --sparse is refused where it does not apply.
# Run by `make check`.
set -eu
BIN=${MLCL_TRAIN:-bin/mlcl-train}
T=$(mktemp -d /tmp/mlcl_sparse.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "sparse_cli: $*"; exit 1; }
py() { /usr/bin/python3 -c "$@"; }

py "
import random
r = random.Random(7)
for name, n in (('tr', 600), ('te', 200)):
    with open('$T/' + name + '.svm', 'w') as f:
        f.write('%d 1449 45\n' % n)
        for i in range(n):
            labs = sorted(set(r.randrange(45) for _ in range(r.randint(1, 3))))
            cols = sorted(r.sample(range(1449), r.randint(30, 80)))
            f.write(','.join(map(str, labs)) + ' ' + ' '.join('%d:%.3f' % (c, r.random()) for c in cols) + '\n')
"
JOB="--method cld --pretrain-epochs 1 --finetune-epochs 2 --batch 64 --hidden 64,32 --threads 1 --quiet"
$BIN --train "$T/tr.svm" --test "$T/te.svm" --sparse $JOB --json "$T/r.json" --checkpoint "$T/ck" >"$T/log" 2>&1 \
    || { cat "$T/log"; fail "--sparse run failed"; }
py "
import json, math; r = json.load(open('$T/r.json'))
m = r['metrics']['paper']
assert set(m) >= {'HA', 'mAP', 'miF1'} and all(math.isfinite(v) for v in m.values()), m
assert 0 < m['mAP'] <= 1, m
assert r['n_test'] == 200, r.get('n_test')
" || fail "the JSON of the --sparse run"
[ -f "$T/ck" ] || fail "no checkpoint written"
# the same flags resume from the final checkpoint (training data checked by CRC)
$BIN --train "$T/tr.svm" --test "$T/te.svm" --sparse $JOB --resume "$T/ck" --json "$T/r2.json" >"$T/log2" 2>&1 \
    || { cat "$T/log2"; fail "--resume of the --sparse run failed"; }
py "
import json; a = json.load(open('$T/r.json'))['metrics']; b = json.load(open('$T/r2.json'))['metrics']
assert a == b, (a, b)
" || fail "the resumed run reports other metrics"
# refusals
if $BIN --sparse $JOB >"$T/e1" 2>&1; then fail "--sparse without --train was accepted"; fi
grep -q -- "--sparse" "$T/e1" || { cat "$T/e1"; fail "the refusal does not name --sparse"; }
printf '@relation r\n@attribute a numeric\n@attribute L {0,1}\n@data\n1,0\n2,1\n' >"$T/a.arff"
if $BIN --train "$T/a.arff" --test "$T/a.arff" --labels 1 --sparse $JOB >"$T/e2" 2>&1; then fail "--sparse with ARFF was accepted"; fi
grep -q "ARFF" "$T/e2" || { cat "$T/e2"; fail "the ARFF refusal is unclear"; }
echo "sparse_cli: ok"
