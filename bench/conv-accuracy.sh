#!/bin/sh
# ResNet-18 (small stem) on 10,000 Fashion-MNIST 2x2 mosaics: contrastive
# pretraining with SimCLR views (32x32), then fine-tuning, then the six metrics
# on 2,000 test mosaics — once with CLD and once with MulSupCon on the same
# budget (docs/results.md, "Images"). One run after the other, both cores each.
#   sh bench/conv-accuracy.sh [pretrain_epochs] [finetune_epochs]
set -e
cd "$(dirname "$0")/.."
PE=${1:-1}
FE=${2:-1}
OUT=bench/results/conv
mkdir -p "$OUT"
make -s all
for m in cld mulsupcon; do
    echo "== $m: ResNet-18 small stem, 10000 mosaics, $PE+$FE epochs"
    /usr/bin/time -f "%e s wall, %M KB peak RSS" \
        bin/mlcl-train --encoder resnet18-small --image-size 32 --mosaic-train 10000 --mosaic-test 2000 \
        --method $m --pretrain-epochs "$PE" --finetune-epochs "$FE" --batch 64 --queue 1024 --seed 1 \
        --json "$OUT/resnet18-small-$m.json" --log "$OUT/resnet18-small-$m.csv" 2>&1 | tee "$OUT/resnet18-small-$m.txt"
done
