#!/bin/sh
# mlcl-train on image manifests (issue 16): a generated multi-label set of
# JPEG and PNG files (RGB, gray, RGBA, palette; odd sizes) read through a CSV
# manifest, a COCO instances JSON and a VOC tree, each trained to the end with
# metrics; a corrupt image fails the run naming the file, or is skipped and
# counted with --skip-bad-images. Run by `make check-scripts`.
set -eu
BIN=${MLCL_TRAIN:-bin/mlcl-train}
HERE=$(dirname "$0")
/usr/bin/python3 -c 'import PIL' 2>/dev/null || { echo "data_images: python3-pil missing (tools/deps.sh)"; exit 1; }
T=$(mktemp -d /tmp/mlcl_images.XXXXXX)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 "$HERE/make_image_set.py" "$T" 48 16

RUN="--encoder resnet18-small --image-size 32 --pretrain-epochs 1 --finetune-epochs 1 --threads 2"
# the runs after the first (the exact command) use a narrower ResNet: same code path, faster
NARROW="$RUN --base-width 16"

has_metrics() {
    grep -q '"metrics": {"paper": {"HA": [0-9.]*, "ebF1": [0-9.]*, "miF1": [0-9.]*, "maF1": [0-9.]*, "p_at_1": [0-9.]*, "mAP": [0-9.]*}' "$1" ||
        { cat "$1"; echo "data_images: $1 has no metrics"; exit 1; }
    grep -q '"n_train": '"$2"', "n_test": '"$3"', "features": 3072, "labels": 4' "$1" ||
        { cat "$1"; echo "data_images: $1: expected $2 train / $3 test images, 3x32x32, 4 labels"; exit 1; }
}

# 1. CSV manifests (0/1 label columns), picked by extension and the `path` column
$BIN --train "$T/train.csv" --test "$T/test.csv" $RUN --json "$T/csv.json" >"$T/csv.log" 2>&1 ||
    { cat "$T/csv.log"; echo "data_images: CSV manifest run failed"; exit 1; }
has_metrics "$T/csv.json" 48 16

# 2. COCO: the image folders found from the layout (annotations/instances_<split>.json -> <split>/)
$BIN --train "$T/coco/annotations/instances_train.json" --test "$T/coco/annotations/instances_test.json" $NARROW \
    --json "$T/coco.json" >"$T/coco.log" 2>&1 || { cat "$T/coco.log"; echo "data_images: COCO run failed"; exit 1; }
has_metrics "$T/coco.json" 48 16

# 3. VOC tree: trainval for training, test for testing; difficult counted positive
$BIN --train "$T/VOC" --test "$T/VOC:test" --voc-difficult pos $NARROW --json "$T/voc.json" >"$T/voc.log" 2>&1 ||
    { cat "$T/voc.log"; echo "data_images: VOC run failed"; exit 1; }
has_metrics "$T/voc.json" 48 16

# 4. a truncated image: a clean error naming it; then skipped and counted
f=$(sed -n 5p "$T/train.csv" | cut -d, -f1)
head -c 300 "$T/$f" >"$T/cut" && mv "$T/cut" "$T/$f"
if $BIN --train "$T/train.csv" --test "$T/test.csv" $NARROW >"$T/bad.log" 2>&1; then
    echo "data_images: a truncated image did not fail the run"; exit 1
fi
grep -q "image 4 of 48: mlcl_image_read: .*$f: corrupt" "$T/bad.log" ||
    { cat "$T/bad.log"; echo "data_images: the error does not name $f"; exit 1; }
$BIN --train "$T/train_labels.tsv" --test "$T/test_labels.tsv" --skip-bad-images $NARROW --json "$T/skip.json" >"$T/skip.log" 2>&1 ||
    { cat "$T/skip.log"; echo "data_images: --skip-bad-images run failed"; exit 1; }
grep -q "train_labels.tsv: 1 unreadable images skipped" "$T/skip.log" || { cat "$T/skip.log"; echo "data_images: no skip count"; exit 1; }
has_metrics "$T/skip.json" 47 16
echo "data_images: CSV, COCO and VOC manifests trained to the end; bad images reported and skipped"
