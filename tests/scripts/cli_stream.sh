#!/bin/sh
# mlcl-train --stream: the training manifest read by background loaders
# (docs/loader.md) instead of into memory. A generated image set is trained
# 1+1 epochs with metrics and the loader statistics lines; the metrics are
# bit-identical for --loader-threads 1 and 2; a finished 1+1 checkpoint
# resumed with --finetune-epochs 2 gives the metrics of an uninterrupted 1+2
# run, and so does a run stopped by SIGTERM and resumed; --save-model works;
# --stream with the MLP, an ARFF file or --views mask exits 2 naming --stream.
# Run by `make check-scripts`.
set -eu
BIN=${MLCL_TRAIN:-bin/mlcl-train}
HERE=$(dirname "$0")
/usr/bin/python3 -c 'import PIL' 2>/dev/null || { echo "cli_stream: python3-pil missing (tools/deps.sh)"; exit 1; }
T=$(mktemp -d /tmp/mlcl_stream.XXXXXX)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 "$HERE/make_image_set.py" "$T" 48 16

NET="--encoder resnet18-small --image-size 32 --base-width 16"
BASE="--train $T/train.csv --test $T/test.csv $NET"
RUN="$BASE --pretrain-epochs 1"
die() { echo "cli_stream: $*"; exit 1; }
metrics() { grep '"metrics"' "$1" || { cat "$1"; die "$1 has no metrics line"; }; }

# 1. the issue's command: metrics in the JSON, the loader statistics printed
$BIN $RUN --finetune-epochs 1 --stream --json "$T/r.json" >"$T/r.out" 2>"$T/r.err" ||
    { cat "$T/r.out" "$T/r.err"; die "--stream run failed"; }
grep -q '"metrics": {"paper": {"HA": [0-9.]*, "ebF1": [0-9.]*, "miF1": [0-9.]*, "maF1": [0-9.]*, "p_at_1": [0-9.]*, "mAP": [0-9.]*}' "$T/r.json" ||
    { cat "$T/r.json"; die "no metrics in the JSON"; }
grep -q '"n_train": 48, "n_test": 16, "features": 3072, "labels": 4' "$T/r.json" || { cat "$T/r.json"; die "wrong sizes in the JSON"; }
for ph in pretrain finetune; do
    grep -Eq "^loader $ph: +[1-9][0-9]* images in [1-9][0-9]* batches, [0-9]+ threads: [0-9.]+ images/s per thread; waited [0-9.]+ s for data, [0-9.]+% of the step time" "$T/r.out" ||
        { cat "$T/r.out"; die "no $ph loader statistics line"; }
done
# the images/s per thread are a positive number
awk '/^loader/ { for (i = 1; i < NF; i++) if ($(i + 1) == "images/s") { if ($i + 0 <= 0) exit 1; n++ } } END { exit n == 2 ? 0 : 1 }' "$T/r.out" ||
    { cat "$T/r.out"; die "the decode rate is not positive"; }

# 2. the batches (and so the metrics) do not depend on the loader threads
for k in 1 2; do
    $BIN $RUN --finetune-epochs 1 --stream --loader-threads $k --prefetch 2 --quiet --json "$T/t$k.json" >/dev/null 2>"$T/t$k.err" ||
        { cat "$T/t$k.err"; die "--loader-threads $k failed"; }
    [ "$(metrics "$T/t$k.json")" = "$(metrics "$T/r.json")" ] ||
        { metrics "$T/t$k.json"; metrics "$T/r.json"; die "--loader-threads $k changed the metrics"; }
done

# the test manifest's label columns in another order: it takes the training list's label names (same metrics)
awk -F, 'BEGIN { OFS = "," } { print $1, $5, $3, $2, $4 }' "$T/test.csv" >"$T/test_perm.csv"
head -1 "$T/test_perm.csv" | grep -q '^path,cross,square,circle,triangle' || die "test_perm.csv: unexpected header"
$BIN --train "$T/train.csv" --test "$T/test_perm.csv" $NET --pretrain-epochs 1 --finetune-epochs 1 --stream --quiet \
    --json "$T/perm.json" >/dev/null 2>"$T/perm.err" || { cat "$T/perm.err"; die "run with reordered test labels failed"; }
[ "$(metrics "$T/perm.json")" = "$(metrics "$T/r.json")" ] ||
    { metrics "$T/perm.json"; metrics "$T/r.json"; die "reordered test label columns changed the metrics"; }

# 3. a finished 1+1 checkpoint, resumed with --finetune-epochs 2 = an uninterrupted 1+2 run; --save-model
$BIN $RUN --finetune-epochs 2 --stream --quiet --json "$T/full.json" --save-model "$T/full.model" >/dev/null 2>"$T/full.err" ||
    { cat "$T/full.err"; die "1+2 run failed"; }
[ -s "$T/full.model" ] || die "--save-model wrote nothing"
$BIN $RUN --finetune-epochs 1 --stream --quiet --checkpoint "$T/ck" >/dev/null 2>"$T/ck.err" || { cat "$T/ck.err"; die "1+1 run with --checkpoint failed"; }
$BIN $RUN --finetune-epochs 2 --stream --resume "$T/ck" --checkpoint "$T/ck" --json "$T/res.json" >"$T/res.out" 2>"$T/res.err" ||
    { cat "$T/res.err"; die "--resume failed"; }
grep -q "this run trained 0+1" "$T/res.out" || { cat "$T/res.out"; die "the resumed run did not train one more fine-tuning epoch"; }
[ "$(metrics "$T/res.json")" = "$(metrics "$T/full.json")" ] ||
    { metrics "$T/res.json"; metrics "$T/full.json"; die "checkpoint + resume differs from the uninterrupted run"; }
# the model names the manifest's labels and records the test metrics of the run
"${MLCL_BIN:-bin}/mlcl-predict" --model "$T/full.model" --info >"$T/info.out" 2>&1 || { cat "$T/info.out"; die "mlcl-predict --info failed"; }
grep -q "labels (threshold): circle (0.5), square (0.5), triangle (0.5), cross (0.5)" "$T/info.out" || { cat "$T/info.out"; die "the model lacks the label names"; }
map=$(sed -n 's/.*"paper": {[^}]*"mAP": \([0-9.]*\)}.*/\1/p' "$T/full.json")
[ -n "$map" ] || die "no paper mAP in full.json"
awk -v m="$map" '$1 == "test_paper_mAP" { d = $2 - m; if (d < 0) d = -d; ok = d < 5e-7 } END { exit ok ? 0 : 1 }' "$T/info.out" ||
    { cat "$T/info.out"; die "the model's recorded test mAP is not the run's $map"; }

# 4. SIGTERM during a longer run (batches of 16, 2+2 epochs), then --resume: the uninterrupted run's metrics
LONG="$BASE --batch 16 --queue 32 --pretrain-epochs 2 --finetune-epochs 2 --stream --quiet"
$BIN $LONG --json "$T/long.json" >/dev/null 2>"$T/long.err" || { cat "$T/long.err"; die "2+2 run failed"; }
$BIN $LONG --checkpoint "$T/sig.ck" >/dev/null 2>"$T/sig.err" &
pid=$!
i=0
while [ ! -s "$T/sig.ck" ] && [ $i -lt 300 ] && kill -0 $pid 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid 2>/dev/null || true
st=0; wait $pid || st=$?
[ $st = 130 ] || [ $st = 0 ] || { cat "$T/sig.err"; die "SIGTERM: exit status $st"; }
[ -s "$T/sig.ck" ] || { cat "$T/sig.err"; die "no checkpoint after SIGTERM"; }
$BIN $LONG --resume "$T/sig.ck" --checkpoint "$T/sig.ck" --json "$T/sig.json" >/dev/null 2>"$T/sig2.err" ||
    { cat "$T/sig2.err"; die "resume after SIGTERM failed"; }
[ "$(metrics "$T/sig.json")" = "$(metrics "$T/long.json")" ] ||
    { metrics "$T/sig.json"; metrics "$T/long.json"; die "SIGTERM (status $st) + resume differs from the uninterrupted run"; }
echo "cli_stream: SIGTERM exit status $st, resumed to the uninterrupted run's metrics"

# 5. --stream applies only to image manifests with a ResNet encoder and SimCLR views
refused() {
    st=0
    "$@" >"$T/no.out" 2>"$T/no.err" || st=$?
    [ $st = 2 ] && grep -q -- "--stream" "$T/no.err" || { cat "$T/no.err"; die "expected exit 2 naming --stream: $*"; }
}
refused $BIN --train "$T/train.csv" --test "$T/test.csv" --stream
refused $BIN --train "$T/train.csv" --test "$T/test.csv" --encoder resnet18-small --views mask --stream
printf '@relation t\n@attribute a numeric\n@attribute y {0,1}\n@data\n0.5,1\n0.2,0\n' >"$T/t.arff"
refused $BIN --train "$T/t.arff" --test "$T/t.arff" --labels 1 --encoder resnet18-small --stream
st=0
$BIN $RUN --loader-threads 2 >/dev/null 2>"$T/no.err" || st=$?
[ $st = 2 ] && grep -q -- "--loader-threads" "$T/no.err" || { cat "$T/no.err"; die "--loader-threads without --stream: expected exit 2"; }
echo "cli_stream: ok"
