#!/usr/bin/python3
"""Writes a small multi-label image set for the reader tests (python3-pil).

    make_image_set.py OUT_DIR [N_TRAIN N_TEST]

Each image shows some of four shapes (the labels: circle, square, triangle,
cross) on a noisy background. Files are JPEG and PNG in several modes (RGB,
grayscale, RGBA, palette) and odd sizes. Writes, in OUT_DIR:
  images/*.{jpg,png}, train.csv + test.csv (path + one 0/1 column per label),
  train_labels.tsv (path + a ';'-separated `labels` column),
  coco/annotations/instances_{train,test}.json + coco/{train,test}/ (COCO layout),
  VOC/JPEGImages/*.jpg + VOC/ImageSets/Main/{<class>_,}{trainval,test}.txt.
"""
import json
import os
import random
import sys

from PIL import Image, ImageDraw

LABELS = ["circle", "square", "triangle", "cross"]
MODES = ["RGB", "L", "RGBA", "P"]


def draw(rng, labels, w, h):
    img = Image.new("RGB", (w, h), tuple(rng.randrange(40, 90) for _ in range(3)))
    d = ImageDraw.Draw(img)
    for _ in range(30):  # background speckle
        x, y = rng.randrange(w), rng.randrange(h)
        d.point((x, y), fill=tuple(rng.randrange(256) for _ in range(3)))
    for lab in labels:
        s = rng.randrange(min(w, h) // 4, min(w, h) // 2)
        x, y = rng.randrange(0, w - s), rng.randrange(0, h - s)
        col = {"circle": (230, 40, 40), "square": (40, 220, 40), "triangle": (50, 60, 240), "cross": (240, 240, 60)}[lab]
        if lab == "circle":
            d.ellipse((x, y, x + s, y + s), fill=col)
        elif lab == "square":
            d.rectangle((x, y, x + s, y + s), fill=col)
        elif lab == "triangle":
            d.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=col)
        else:
            d.line((x, y, x + s, y + s), fill=col, width=3)
            d.line((x, y + s, x + s, y), fill=col, width=3)
    return img


def main():
    out = sys.argv[1]
    n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 48
    n_test = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    rng = random.Random(16)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    rows = []
    for i in range(n_train + n_test):
        labels = [l for l in LABELS if rng.random() < 0.45] or [rng.choice(LABELS)]
        w, h = rng.randrange(37, 81), rng.randrange(33, 77)  # odd sizes
        img = draw(rng, labels, w, h)
        mode = MODES[i % 4]
        if mode == "L":
            img = img.convert("L")
        elif mode == "RGBA":
            img = img.convert("RGBA")
            img.putalpha(200)
        elif mode == "P":
            img = img.convert("P", palette=Image.ADAPTIVE, colors=32)
        if i % 3 == 0 and mode in ("RGB", "L"):
            name = "img%03d.jpg" % i
            img.save(os.path.join(out, "images", name), quality=90)
        else:
            name = "img%03d.png" % i
            img.save(os.path.join(out, "images", name))
        rows.append((name, labels, img))
    splits = {"train": rows[:n_train], "test": rows[n_train:]}
    # CSV manifests: one 0/1 column per label; and a `labels` column (TSV)
    for split, part in splits.items():
        with open(os.path.join(out, split + ".csv"), "w") as f:
            f.write("path," + ",".join(LABELS) + "\n")
            for name, labels, _ in part:
                f.write("images/%s,%s\n" % (name, ",".join("1" if l in labels else "0" for l in LABELS)))
        with open(os.path.join(out, split + "_labels.tsv"), "w") as f:
            f.write("path\tlabels\n")
            for name, labels, _ in part:
                f.write("images/%s\t%s\n" % (name, ";".join(labels)))
    # COCO layout: annotations/instances_<split>.json + <split>/ image folders
    cats = [{"id": 10 + k, "name": l, "supercategory": "shape"} for k, l in enumerate(LABELS)]
    for split, part in splits.items():
        d = os.path.join(out, "coco", split)
        os.makedirs(d, exist_ok=True)
        images, anns = [], []
        for k, (name, labels, img) in enumerate(part):
            os.link(os.path.join(out, "images", name), os.path.join(d, name))
            images.append({"id": 1000 + 7 * k, "file_name": name, "width": img.width, "height": img.height})
            for l in labels:
                anns.append({"id": len(anns) + 1, "image_id": 1000 + 7 * k, "category_id": 10 + LABELS.index(l),
                             "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0})
        os.makedirs(os.path.join(out, "coco", "annotations"), exist_ok=True)
        with open(os.path.join(out, "coco", "annotations", "instances_%s.json" % split), "w") as f:
            json.dump({"info": {}, "licenses": [], "images": images, "annotations": anns, "categories": cats}, f)
    # VOC: JPEGs named by id; class lists with 1 / -1 / 0 (difficult)
    main_dir = os.path.join(out, "VOC", "ImageSets", "Main")
    os.makedirs(main_dir, exist_ok=True)
    os.makedirs(os.path.join(out, "VOC", "JPEGImages"), exist_ok=True)
    for split, part in (("trainval", splits["train"]), ("test", splits["test"])):
        ids = []
        for name, labels, img in part:
            vid = "%06d" % int(name[3:6])
            img.convert("RGB").save(os.path.join(out, "VOC", "JPEGImages", vid + ".jpg"), quality=90)
            ids.append((vid, labels))
        with open(os.path.join(main_dir, split + ".txt"), "w") as f:
            f.write("".join(v + "\n" for v, _ in ids))
        for l in LABELS:
            with open(os.path.join(main_dir, "%s_%s.txt" % (l, split)), "w") as f:
                for k, (v, labels) in enumerate(ids):
                    flag = 1 if l in labels else -1
                    if flag == 1 and k % 5 == 0:
                        flag = 0  # difficult
                    f.write("%s %2d\n" % (v, flag))


if __name__ == "__main__":
    main()
