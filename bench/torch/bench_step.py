#!/usr/bin/python3
"""One full MoCo pretraining step, timed: momentum update of the key encoder,
query encoder + projection head + LD head on view 0, key encoder on view 1,
loss (default CLD, MATH.md defaults) against the current keys and a *full*
queue, backward, AdamW (lr 4e-5, wd 1e-4), enqueue of k, y, D.
Networks as MATH.md (backbone d_in-256-512-256, dropout 0.2; projection
256-256 BN ReLU Dropout(0.1) 256; LD head 256-c), float32, train mode.

Configurations (name, d_in, c, n, K): Yeast (103,14,128,256),
Scene (294,6,256,1024), Delicious-like (500,983,128,4096),
Mediamill-like (120,101,512,8192).

Inputs (numpy PCG64, seed --seed): x (n,d_in) standard normal; y (n,c) by the
label-density rule of mlcl_torch.gen_labels (1.1 labels/row for c <= 6,
4 otherwise); the queue is pre-filled with K unit keys, K label rows (same
rule) and K softmax-of-normal distributions. Model init: torch.manual_seed.
Each rep draws two fresh masked views (p = 0.5) outside the timer; the timer
covers mlcl_torch.moco_step only. --warmup untimed reps, then --reps timed;
median seconds per step reported.

One custom shape instead (bench/scaling.py): any of --n/--K/--c/--d/--width
runs the configuration "custom", the missing values from Yeast (n 128, K 256,
c 14, d 103, width 256), as bench/step does. Width W is the backbone
d-W-2W-W (MATH.md's 256-512-256 at W = 256), the projection head
W-W-BN-ReLU-Dropout-256 and the LD head W-c; the embedding m stays 256.
"""
import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlcl_torch as mt  # noqa: E402

CONFIGS = [("yeast", 103, 14, 128, 256), ("scene", 294, 6, 256, 1024),
           ("delicious-like", 500, 983, 128, 4096),
           ("mediamill-like", 120, 101, 512, 8192)]
CUSTOM_DEFAULT = {"n": 128, "K": 256, "c": 14, "d": 103, "width": 256}


def widen(model, d_in, c, width):
    """Rebuilds model's networks at width W (mlcl_torch's layer order and
    dropout rates, every width scaled by W/256; m stays mt.EMB_DIM)."""
    W = width
    model.enc_q = torch.nn.Sequential(
        torch.nn.Linear(d_in, W), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(W, 2 * W), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(2 * W, W), torch.nn.ReLU(), torch.nn.Dropout(0.2))
    model.proj_q = torch.nn.Sequential(
        torch.nn.Linear(W, W), torch.nn.BatchNorm1d(W), torch.nn.ReLU(), torch.nn.Dropout(0.1),
        torch.nn.Linear(W, mt.EMB_DIM))
    model.fc = torch.nn.Linear(W, c)
    model.enc_k = copy.deepcopy(model.enc_q)
    model.proj_k = copy.deepcopy(model.proj_q)
    for p in list(model.enc_k.parameters()) + list(model.proj_k.parameters()):
        p.requires_grad_(False)
    return model


def run(name, d_in, c, n, K, method, reps, warmup, seed, foreach=None, width=256, min_time=0.0):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(rng.standard_normal((n, d_in)).astype(np.float32))
    y = torch.from_numpy(mt.gen_labels(n, c, rng))
    model = mt.MoCoLD(d_in, c, K)
    if width != mt.HID_DIM:
        widen(model, d_in, c, width)
    model.train()
    with torch.no_grad():
        model.enqueue(torch.from_numpy(mt.random_unit(K, mt.EMB_DIM, rng)),
                      torch.from_numpy(mt.gen_labels(K, c, rng)),
                      torch.from_numpy(mt.random_dist(K, c, rng)))
    assert model.filled == K
    opt, _ = mt.make_pretrain_optimizer(model, foreach=foreach)
    times, last = [], None
    r = 0
    # --reps timed steps, or more until they add up to --min-time (at most 2000), as bench/step does
    while r < warmup + reps or (sum(times) < min_time and len(times) < 2000):
        x0, x1 = mt.mask_view(x, 0.5, gen), mt.mask_view(x, 0.5, gen)
        t0 = time.perf_counter()
        last = mt.moco_step(model, opt, x0, x1, y, method)
        dt = time.perf_counter() - t0
        if r >= warmup:
            times.append(dt)
        r += 1
    return statistics.median(times), min(times), last["total"]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.0,
                    help="more timed steps until they add up to this many seconds (at most 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", default="cld", choices=["cld", "rld", "mulsupcon"])
    ap.add_argument("--adamw-foreach", action="store_true",
                    help="AdamW(foreach=True) instead of torch's CPU default")
    ap.add_argument("--json", metavar="OUT")
    for k in ("n", "K", "c", "d", "width"):
        ap.add_argument("--" + k, type=int, default=None,
                        help=f"one custom shape (default {CUSTOM_DEFAULT[k]})")
    a = ap.parse_args()
    custom = any(getattr(a, k) is not None for k in CUSTOM_DEFAULT)
    shape = {k: getattr(a, k) if getattr(a, k) is not None else v for k, v in CUSTOM_DEFAULT.items()}
    if custom and (shape["n"] < 2 or shape["K"] < 1 or shape["c"] < 2 or shape["d"] < 1
                   or shape["width"] < 1):
        ap.error(f"need --n >= 2, --K >= 1, --c >= 2, --d >= 1, --width >= 1 (got {shape})")
    if a.reps < 1 or a.warmup < 0:
        ap.error("--reps must be >= 1 and --warmup >= 0")
    configs = ([("custom", shape["d"], shape["c"], shape["n"], shape["K"])] if custom
               else CONFIGS)
    mt.set_threads(a.threads)
    print(f"torch {torch.__version__}  threads {torch.get_num_threads()}  "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}  "
          f"loss {a.method}  adamw_foreach {a.adamw_foreach}")
    print(f"{'config':>15} {'d_in':>5} {'c':>4} {'n':>4} {'K':>5} {'median_s':>10} "
          f"{'min_s':>10} {'loss':>10}")
    results = []
    for (name, d_in, c, n, K) in configs:
        med, mn, val = run(name, d_in, c, n, K, a.method, a.reps, a.warmup, a.seed,
                           True if a.adamw_foreach else None, shape["width"], a.min_time)
        print(f"{name:>15} {d_in:>5} {c:>4} {n:>4} {K:>5} {med:>10.6f} {mn:>10.6f} "
              f"{val:>10.5g}", flush=True)
        row = {"config": name, "d_in": d_in, "c": c, "n": n, "K": K,
               "method": a.method, "adamw_foreach": a.adamw_foreach,
               "median_s": med, "min_s": mn,
               "loss": val}
        if custom:
            row["width"] = shape["width"]
        results.append(row)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"bench": "pretrain_step", "impl": "torch",
                       "torch": torch.__version__, "threads": a.threads,
                       "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                       "reps": a.reps, "warmup": a.warmup, "seed": a.seed,
                       "host": platform.node(), "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
