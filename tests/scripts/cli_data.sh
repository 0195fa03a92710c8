#!/bin/sh
# mlcl-train's options of the issue 16 readers under the table-driven CLI
# (issue 12 conventions): the CSV-table options (--impute, --label-columns,
# --label-prefix) and the image-manifest options (--image-root,
# --skip-bad-images, --voc-difficult) are refused naming the flag with any
# other kind of data; a manifest, a CSV table and the files of a VOC tree are
# inputs that no output may overwrite; train and test must be of one kind;
# image manifests are budgeted at 3 x --image-size^2 values per image.
# Every case is refused before any data is read (exit status 2, nothing trained).
# POSIX sh; uses $MLCL_TRAIN and $MLCL_DATA_DIR (fallback tests/data/mulan).
# Every case prints "ok" or "FAIL <name>"; the exit status is 1 on any failure.
set -u
BIN=${MLCL_TRAIN:-bin/mlcl-train}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${MLCL_DATA_DIR:-tests/data/mulan}
[ -f "$DATA/yeast-train.arff.gz" ] || DATA=tests/data/mulan
case $DATA in /*) ;; *) DATA=$PWD/$DATA ;; esac
/usr/bin/python3 -c 'import PIL' 2>/dev/null || { echo "cli_data: python3-pil missing (tools/deps.sh)"; exit 1; }
T=$(mktemp -d /tmp/mlcl_clidata.XXXXXX)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 "$HERE/make_image_set.py" "$T" 8 4
TR=$DATA/yeast-train.arff.gz
TE=$DATA/yeast-test.arff.gz
# a small CSV table: 3 features, labels y1 y2
awk 'BEGIN { srand(3); print "a,b,c,y1,y2"; for (i = 0; i < 40; i++) printf "%.3f,%.3f,%.3f,%d,%d\n", rand(), rand(), rand(), i % 2, i % 3 == 0 }' >"$T/t.csv"
SHORT="--pretrain-epochs 1 --finetune-epochs 1 --threads 1"
fails=0
failed=""
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; sed 's/^/     | /' "$T/err" | tail -5; fails=$((fails + 1)); failed="$failed $1"; }
run() { timeout -s KILL 60 "$BIN" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
# refused NAME PATTERN ARGS...: exit status 2, stderr matches PATTERN, nothing read or trained
refused() {
    name=$1 pat=$2
    shift 2
    run "$@"
    if [ "$rc" -ne 2 ]; then bad "$name" "exit status $rc, expected 2"
    elif ! grep -q -e "$pat" "$T/err"; then bad "$name" "no message matching '$pat'"
    elif grep -q "training rows\|pretrain epoch\|finetune epoch" "$T/err"; then bad "$name" "data read or training started before the refusal"
    else ok "$name"; fi
}

# ---- 1. the readers' options apply to their kind of data only, naming the flag
refused impute_with_arff "\-\-impute does not apply to ARFF files (only to CSV tables)" --train "$TR" --test "$TE" $SHORT --impute mean
refused label_prefix_with_arff "\-\-label-prefix does not apply to ARFF files" --train "$TR" --test "$TE" $SHORT --label-prefix Class
refused impute_with_manifest "\-\-impute does not apply to image manifests" --train "$T/train.csv" --test "$T/test.csv" $SHORT --impute zero
refused label_columns_with_manifest "\-\-label-columns does not apply to image manifests" \
    --train "$T/train.csv" --test "$T/test.csv" $SHORT --label-columns circle,square
refused labels_with_manifest "\-\-labels does not apply to image manifests" --train "$T/train.csv" --test "$T/test.csv" $SHORT --labels 4
refused skip_bad_with_arff "\-\-skip-bad-images does not apply to ARFF files (only to image manifests)" \
    --train "$TR" --test "$TE" $SHORT --skip-bad-images
refused image_root_with_table "\-\-image-root does not apply to CSV tables" --train "$T/t.csv" --test "$T/t.csv" $SHORT --labels 2 --image-root "$T/images"
refused image_root_builtin "\-\-image-root does not apply without --train" $SHORT --image-root "$T/images"
refused voc_difficult_with_csv_manifest "\-\-voc-difficult does not apply to CSV or COCO image manifests" \
    --train "$T/train.csv" --test "$T/test.csv" $SHORT --voc-difficult pos
refused features_with_table "\-\-features does not apply to CSV tables" --train "$T/t.csv" --test "$T/t.csv" $SHORT --labels 2 --features 3
refused two_label_choices "give one of them" --train "$T/t.csv" --test "$T/t.csv" $SHORT --labels 2 --label-prefix y
refused impute_value "\-\-impute: 'median' is not mean or zero" --train "$T/t.csv" --test "$T/t.csv" $SHORT --labels 2 --impute median
refused voc_difficult_value "\-\-voc-difficult: 'maybe' is not neg or pos" --train "$T/VOC" --test "$T/VOC:test" $SHORT --voc-difficult maybe
refused label_columns_empty "\-\-label-columns: 'y1,,y2' is not a list" --train "$T/t.csv" --test "$T/t.csv" $SHORT --label-columns y1,,y2
refused image_root_file "\-\-image-root $T/train.csv: is not a directory" --train "$T/train.csv" --test "$T/test.csv" $SHORT --image-root "$T/train.csv"
refused mixed_kinds "\-\-test $TE is one of the ARFF files, --train $T/train.csv one of the image manifests" \
    --train "$T/train.csv" --test "$TE" $SHORT

# ---- 2. manifests, tables and VOC trees are inputs: no output overwrites them
cp "$T/train.csv" "$T/train.orig"
refused json_is_csv_manifest "\-\-json $T/train.csv: is the same file as --train $T/train.csv" \
    --train "$T/train.csv" --test "$T/test.csv" $SHORT --json "$T/train.csv"
refused log_is_test_manifest "same file as --test" --train "$T/train.csv" --test "$T/test.csv" $SHORT --log "$T/test.csv"
refused json_is_csv_table "same file as --train" --train "$T/t.csv" --test "$T/t.csv" $SHORT --labels 2 --json "$T/t.csv"
refused json_is_coco "same file as --train" --train "$T/coco/annotations/instances_train.json" \
    --test "$T/coco/annotations/instances_test.json" $SHORT --json "$T/coco/annotations/instances_train.json"
cp "$T/VOC/ImageSets/Main/test.txt" "$T/voc_test.orig"
refused json_in_voc_tree "is inside the VOC folder --train $T/VOC" --train "$T/VOC" --test "$T/VOC:test" $SHORT \
    --json "$T/VOC/ImageSets/Main/test.txt"
refused log_in_voc_images "is inside the VOC folder" --train "$T/VOC" --test "$T/VOC:test" $SHORT --log "$T/VOC/JPEGImages/new.csv"
img=$(sed -n 2p "$T/train.csv" | cut -d, -f1)
cp "$T/$img" "$T/img.orig"
refused json_over_image "is an image in .*the image folder of --train" --train "$T/train.csv" --test "$T/test.csv" $SHORT --json "$T/$img"
refused json_over_image_root "image folder of --image-root" --train "$T/train.csv" --test "$T/test.csv" $SHORT \
    --image-root "$T" --json "$T/$img"
if cmp -s "$T/train.csv" "$T/train.orig" && cmp -s "$T/VOC/ImageSets/Main/test.txt" "$T/voc_test.orig" &&
   cmp -s "$T/$img" "$T/img.orig" && [ ! -e "$T/VOC/JPEGImages/new.csv" ]; then ok inputs_unchanged
else bad inputs_unchanged "a manifest, a VOC file or an image changed, or a file appeared in the VOC tree"; fi

# ---- 3. the memory budget of an image manifest: N x 3 x --image-size^2, checked before decoding anything
( ulimit -v 2000000; exec timeout -s KILL 60 "$BIN" --train "$T/train.csv" --test "$T/test.csv" --encoder resnet18 --image-size 4096 $SHORT ) >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "image-size 4096.*needs" "$T/err"; then ok budget_image_size
else bad budget_image_size "exit status $rc (expected 2 with '--image-size 4096 ... needs')"; fi

echo "cli_data: $fails failure(s)${failed:+:$failed}"
[ "$fails" -eq 0 ] || exit 1
echo "cli_data: every case passed"
