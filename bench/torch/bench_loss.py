#!/usr/bin/python3
"""Loss forward+backward timing: MulSupCon (Eqs. 3-4), MulSupCon_RLD and
MulSupCon_CLD (MATH.md defaults) at the shapes (n, K, m, c) below, float32,
with a full queue (F = K) and random labels.

Inputs per shape (numpy PCG64, seed --seed, default 0; drawn in this order):
  y (n,c), yq (K,c)  labels by the density rule of mlcl_torch.gen_labels:
                     each row one label uniform in [0,c) plus every other
                     label independently with prob (L-1)/(c-1);
                     L = 1.1 labels/row for c <= 6, L = 4 for c >= 14
  q (n,m), k (n,m), kq (K,m)   unit rows (normalised standard normals)
  d (n,c), dq (K,c)            softmax of standard normals
  W (c,256)                    standard normal * 0.05
q, d, W are leaves with requires_grad; one rep = zero grads, loss forward,
backward. Timing: --warmup untimed reps, then --reps timed reps; the median
is reported. --dump DIR writes every input as DIR/<shape>_<name>.npy so a C
benchmark can load the identical arrays.
"""
import argparse
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

SHAPES = [(128, 256, 256, 14), (256, 1024, 256, 6),
          (128, 4096, 256, 983), (512, 8192, 256, 101)]


def make_inputs(n, K, m, c, seed):
    rng = np.random.default_rng(seed)
    arr = {}
    arr["y"] = mt.gen_labels(n, c, rng)
    arr["yq"] = mt.gen_labels(K, c, rng)
    arr["q"] = mt.random_unit(n, m, rng)
    arr["k"] = mt.random_unit(n, m, rng)
    arr["kq"] = mt.random_unit(K, m, rng)
    arr["d"] = mt.random_dist(n, c, rng)
    arr["dq"] = mt.random_dist(K, c, rng)
    arr["W"] = (rng.standard_normal((c, mt.HID_DIM)) * 0.05).astype(np.float32)
    return arr


def time_loss(kind, arr, reps, warmup, min_time=0.0, max_reps=64):
    t = {k: torch.from_numpy(v) for k, v in arr.items()}
    q = t["q"].clone().requires_grad_(True)
    d = t["d"].clone().requires_grad_(True)
    W = t["W"].clone().requires_grad_(True)
    opts = mt.LDOptions(variant=kind) if kind in ("rld", "cld") else None

    def once():
        q.grad = d.grad = W.grad = None
        if kind == "mulsupcon":
            L = mt.mulsupcon_loss(q, t["k"], t["y"], t["kq"], t["yq"])
        else:
            L = mt.ld_loss(q, t["k"], t["y"], d, t["kq"], t["yq"], t["dq"], W, opts)["total"]
        L.backward()
        return float(L)

    for _ in range(warmup):
        once()
    times = []
    # --reps calls, or more until they add up to --min-time (at most max_reps)
    while len(times) < reps or (sum(times) < min_time and len(times) < max_reps):
        t0 = time.perf_counter()
        val = once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), val


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--min-time", type=float, default=0.0,
                    help="more timed calls until they add up to this many seconds (at most 64)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--dump", metavar="DIR")
    a = ap.parse_args()
    mt.set_threads(a.threads)
    print(f"torch {torch.__version__}  threads {torch.get_num_threads()}  "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    print(f"{'n':>5} {'K':>6} {'m':>4} {'c':>4} {'loss':>10} {'median_s':>10} "
          f"{'min_s':>10} {'value':>12}")
    results = []
    for (n, K, m, c) in SHAPES:
        arr = make_inputs(n, K, m, c, a.seed)
        if a.dump:
            os.makedirs(a.dump, exist_ok=True)
            for name, v in arr.items():
                np.save(os.path.join(a.dump, f"n{n}_K{K}_m{m}_c{c}_{name}.npy"), v)
        for kind in ("mulsupcon", "rld", "cld"):
            med, mn, val = time_loss(kind, arr, a.reps, a.warmup, a.min_time)
            print(f"{n:>5} {K:>6} {m:>4} {c:>4} {kind:>10} {med:>10.6f} {mn:>10.6f} "
                  f"{val:>12.5g}", flush=True)
            results.append({"n": n, "K": K, "m": m, "c": c, "loss": kind,
                            "median_s": med, "min_s": mn, "value": val,
                            "labels_per_row": float(arr["y"].sum(1).mean()),
                            "queue_labels_per_row": float(arr["yq"].sum(1).mean())})
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"bench": "loss_fwd_bwd", "impl": "torch",
                       "torch": torch.__version__, "threads": a.threads,
                       "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                       "reps": a.reps, "warmup": a.warmup, "seed": a.seed,
                       "host": platform.node(), "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
