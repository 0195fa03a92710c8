#!/usr/bin/python3
"""Writes N photo-sized JPEGs (default 500 x 375, COCO-like) and a CSV manifest.

    make_jpegs.py OUT_DIR N [W H]

Each image is a smooth random colour field with a few shapes and noise, so the
JPEG has realistic entropy; labels are the shapes drawn (4 classes)."""
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFilter

out, n = sys.argv[1], int(sys.argv[2])
W, H = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (500, 375)
os.makedirs(os.path.join(out, "img"), exist_ok=True)
rng = random.Random(1)
noise = Image.effect_noise((W, H), 40).convert("RGB")
with open(os.path.join(out, "train.csv"), "w") as f:
    f.write("path,circle,square,triangle,cross\n")
    for i in range(n):
        w, h = (W, H) if i % 3 else (H, W)  # some portrait images
        img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
        d = ImageDraw.Draw(img)
        labs = [rng.random() < 0.4 for _ in range(4)]
        for k, on in enumerate(labs):
            if not on:
                continue
            s = rng.randrange(min(w, h) // 5, min(w, h) // 2)
            x, y = rng.randrange(0, w - s), rng.randrange(0, h - s)
            col = tuple(rng.randrange(256) for _ in range(3))
            if k == 0:
                d.ellipse((x, y, x + s, y + s), fill=col)
            elif k == 1:
                d.rectangle((x, y, x + s, y + s), fill=col)
            elif k == 2:
                d.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=col)
            else:
                d.line((x, y, x + s, y + s), fill=col, width=8)
        nz = noise if (w, h) == (W, H) else noise.transpose(Image.Transpose.ROTATE_90)
        img = Image.blend(img, nz, 0.25)
        name = "img/%06d.jpg" % i
        img.save(os.path.join(out, name), quality=88)
        f.write(name + "," + ",".join("1" if b else "0" for b in labs) + "\n")
