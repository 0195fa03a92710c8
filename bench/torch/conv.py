#!/usr/bin/python3
"""ResNet forward + backward throughput, the PyTorch peer of bench/conv.c.

Configurations (name, depth, stem, H = W, batch), 3-channel inputs:
  resnet18-small-56       ResNet-18, small stem (3x3 s1, no max-pool), 56x56, batch 64
  resnet50-imagenet-224   ResNet-50, ImageNet stem (7x7 s2 + max-pool), 224x224, batch 8
torchvision's layout without fc (written in plain torch; torchvision is not
installed), base width 64, float32, train mode (BatchNorm batch statistics).

One iteration = zero the gradients (set_to_none), forward, backward of
sum(out * g) for a fixed random g (no optimiser step); the input does not
require a gradient. --warmup untimed iterations, then --reps timed ones; the
median and min seconds per iteration and images/s = batch / median are
reported (plus forward and backward medians separately).
Inputs: numpy default_rng(seed) standard normals; weights torch.manual_seed.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlcl_torch as mt  # noqa: E402

CONFIGS = [("resnet18-small-56", 18, "small", 56, 64),
           ("resnet50-imagenet-224", 50, "imagenet", 224, 8)]
BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}


def conv(cin, cout, k, stride):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class Basic(nn.Module):
    expansion = 1

    def __init__(self, inpl, planes, stride):
        super().__init__()
        self.conv1, self.bn1 = conv(inpl, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv(planes, planes, 3, 1), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(conv(inpl, planes, 1, stride), nn.BatchNorm2d(planes))
                           if stride != 1 or inpl != planes else None)

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inpl, planes, stride):
        super().__init__()
        self.conv1, self.bn1 = conv(inpl, planes, 1, 1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = conv(planes, 4 * planes, 1, 1), nn.BatchNorm2d(4 * planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(conv(inpl, 4 * planes, 1, stride), nn.BatchNorm2d(4 * planes))
                           if stride != 1 or inpl != 4 * planes else None)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, depth, stem, in_channels=3, base=64):
        super().__init__()
        block = Bottleneck if depth == 50 else Basic
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, base, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_channels, base, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1, self.relu = nn.BatchNorm2d(base), nn.ReLU(inplace=True)
        inpl, layers = base, []
        for s, nb in enumerate(BLOCKS[depth]):
            blocks = []
            for j in range(nb):
                blocks.append(block(inpl, base << s, 2 if s > 0 and j == 0 else 1))
                inpl = (base << s) * block.expansion
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def run(name, depth, stem, hw, batch, reps, warmup, seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = ResNet(depth, stem).train()
    x = torch.from_numpy(rng.standard_normal((batch, 3, hw, hw)).astype(np.float32))
    with torch.no_grad():
        od = model(x[:2]).shape[1]
    g = torch.from_numpy(rng.standard_normal((batch, od)).astype(np.float32))
    tot, fwd, bwd = [], [], []
    for r in range(warmup + reps):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        out = model(x)
        t1 = time.perf_counter()
        (out * g).sum().backward()
        t2 = time.perf_counter()
        if r >= warmup:
            tot.append(t2 - t0)
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    med = statistics.median(tot)
    return {"config": name, "depth": depth, "stem": stem, "hw": hw, "batch": batch,
            "median_s": med, "min_s": min(tot), "fwd_median_s": statistics.median(fwd),
            "bwd_median_s": statistics.median(bwd), "images_per_s": batch / med}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", metavar="NAME", help="one configuration")
    ap.add_argument("--json", metavar="OUT")
    a = ap.parse_args()
    mt.set_threads(a.threads)
    print(f"torch {torch.__version__}  threads {torch.get_num_threads()}  "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    print(f"{'config':<24} {'batch':>5} {'median s':>9} {'min s':>8} {'fwd s':>7} {'bwd s':>7} {'img/s':>8}")
    res = []
    for cfg in CONFIGS:
        if a.only and cfg[0] != a.only:
            continue
        r = run(*cfg, a.reps, a.warmup, a.seed)
        res.append(r)
        print(f"{r['config']:<24} {r['batch']:>5} {r['median_s']:>9.3f} {r['min_s']:>8.3f} "
              f"{r['fwd_median_s']:>7.3f} {r['bwd_median_s']:>7.3f} {r['images_per_s']:>8.1f}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"bench": "resnet_fwd_bwd", "impl": "torch", "torch": torch.__version__,
                       "threads": torch.get_num_threads(),
                       "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                       "reps": a.reps, "warmup": a.warmup, "seed": a.seed,
                       "platform": platform.platform(), "results": res,
                       "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, f, indent=1)


if __name__ == "__main__":
    main()
