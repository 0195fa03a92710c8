#!/bin/sh
# mlcl-train --sparse (issue 16, item 5): a Medical-shaped LIBSVM set (1,449
# features, ~4 % non-zero, 45 labels) trains from CSR rows to the end with
# metrics; a checkpoint resumes; a sparse ARFF file too; --sparse is refused
# for .npy files and without --train.
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
# a sparse ARFF file (Mulan's Medical/Enron form) trains with --sparse too
py "
import random
r = random.Random(9)
with open('$T/s.arff', 'w') as f:
    f.write(\"@relation 'm: -C 10'\\n\")
    f.write(''.join('@attribute L%d {0,1}\\n' % j for j in range(10)))
    f.write(''.join('@attribute w%d numeric\\n' % j for j in range(300)))
    f.write('@data\\n')
    for i in range(160):
        ent = [(j, '1') for j in sorted(r.sample(range(10), 2))] + [(10 + j, '%.2f' % r.random()) for j in sorted(r.sample(range(300), 12))]
        f.write('{' + ','.join('%d %s' % e for e in ent) + '}\\n')
"
$BIN --train "$T/s.arff" --test "$T/s.arff" --sparse $JOB --json "$T/a.json" >"$T/log3" 2>&1 \
    || { cat "$T/log3"; fail "--sparse with a sparse ARFF file failed"; }
py "import json; assert json.load(open('$T/a.json'))['n_test'] == 160" || fail "the JSON of the ARFF run"
printf '\x93NUMPY' >"$T/x.npy"
if $BIN --train "$T/x.npy" --train-labels "$T/x.npy" --test "$T/x.npy" --test-labels "$T/x.npy" --sparse $JOB >"$T/e2" 2>&1; then fail "--sparse with .npy was accepted"; fi
grep -q -- "--sparse" "$T/e2" || { cat "$T/e2"; fail "the .npy refusal is unclear"; }
if $BIN --train "$T/tr.svm" --val-split 0.25 --sparse $JOB >"$T/e3" 2>&1; then fail "--sparse with --val-split was accepted"; fi
grep -q -- "--val-split" "$T/e3" || { cat "$T/e3"; fail "the --val-split refusal is unclear"; }
echo "sparse_cli: ok"
