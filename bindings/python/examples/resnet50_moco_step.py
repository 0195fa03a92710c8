"""The paper's image configuration, one piece of it: MoCo pretraining steps with
a ResNet-50 backbone (ImageNet stem) on 224x224 RGB inputs, batch 8.

    make && PYTHONPATH=bindings/python /usr/bin/python3 bindings/python/examples/resnet50_moco_step.py

Random images and labels: this shows the configuration runs and how long a
step takes here, not what it learns (docs/images.md, docs/results.md)."""
import time

import numpy as np

import mlcl

n, c = 8, 20
bb = mlcl.Encoder.resnet(50, stem="imagenet", in_channels=3, height=224, width=224, max_batch=n)
print("ResNet-50 backbone: %d parameters, output width %d" % (bb.param_count, bb.out_dim))
m = mlcl.MoCo(0, c, backbone=bb, max_batch=n, queue_size=64, proj_dim=128)
bb.close()  # the pair holds its own copies
rng = np.random.default_rng(0)
x0 = rng.random((n, 3 * 224 * 224), dtype=np.float32)
x1 = rng.random((n, 3 * 224 * 224), dtype=np.float32)
y = (rng.random((n, c)) < 0.2).astype(np.uint8)
y[np.arange(n), np.arange(n) % c] = 1
for s in range(3):
    t = time.time()
    r = m.step(x0, x1, y)
    print("step %d: loss %.4f (%.1f s%s)" % (s, r.total, time.time() - t,
                                            ", includes building the oneDNN primitives" if s == 0 else ""))
m.close()
