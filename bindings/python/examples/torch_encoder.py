#!/usr/bin/env python3
"""Your PyTorch encoder, libmlcl's losses and queues.

The networks (backbone, projection head, LD head and the momentum key copy)
are PyTorch modules; each step:

    torch forward -> q, k, D as float32 numpy arrays
    -> mlcl.Loss.compute(q, k, y, D, W=fc.weight, queue=Q)   (loss and exact gradients)
    -> gradients back into torch: torch.autograd.backward([q, D, W], [grad_q, grad_D, grad_W])
    -> torch optimiser step -> momentum update of the key side -> Q.enqueue(k, y, D)

    PYTHONPATH=bindings/python python3 bindings/python/examples/torch_encoder.py \
        [yeast-train.arff.gz] [--epochs 3] [--batch 128] [--queue 256] [--seed 0]

Exits 0 with a message when PyTorch is not installed.
"""

import argparse
import copy
import os
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as Fn
except ImportError:
    print("torch_encoder.py: PyTorch is not installed (Debian: apt-get install python3-torch); "
          "nothing to do.")
    sys.exit(0)

import mlcl

DEFAULT_DATA = "/work/shared/data/yeast-train.arff.gz"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("train", nargs="?", default=os.environ.get("MLCL_YEAST", DEFAULT_DATA))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--queue", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--mask", type=float, default=0.5, help="input masking probability")
    args = ap.parse_args(argv)
    if not os.path.exists(args.train):
        print("torch_encoder.py: %s not found" % args.train, file=sys.stderr)
        return 1
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    ds = mlcl.Dataset.load_arff(args.train)
    n, d_in, c = ds.dims
    x_all = ds.features
    x_all = (x_all - x_all.mean(0)) / np.maximum(x_all.std(0), 1e-6)
    y_all = ds.labels  # n x c uint8
    m = 256

    backbone = nn.Sequential(nn.Linear(d_in, 256), nn.ReLU(), nn.Dropout(0.2),
                             nn.Linear(256, 512), nn.ReLU(), nn.Dropout(0.2),
                             nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.2))
    proj = nn.Sequential(nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(256, m))
    fc = nn.Linear(256, c)  # the LD head, W = fc.weight (c x 256)
    key_backbone, key_proj = copy.deepcopy(backbone), copy.deepcopy(proj)
    for p in list(key_backbone.parameters()) + list(key_proj.parameters()):
        p.requires_grad_(False)
    params = list(backbone.parameters()) + list(proj.parameters()) + list(fc.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)

    queue = mlcl.Queue(args.queue, m, c)
    loss = mlcl.Loss(args.batch, args.queue, m, c, tau=0.1, alpha=0.1, beta=1.0)
    rng = np.random.default_rng(args.seed)
    momentum = 0.999

    print("torch_encoder: %s: %d rows, %d features, %d labels; libmlcl %s, torch %s"
          % (os.path.basename(args.train), n, d_in, c, mlcl.__version__, torch.__version__))
    for epoch in range(args.epochs):
        t0 = time.time()
        order = rng.permutation(n)
        sums = np.zeros(5)
        batches = 0
        for s in range(0, n - 1, args.batch):
            rows = order[s:s + args.batch]
            if len(rows) < 2:
                continue
            xb = x_all[rows]
            x0 = torch.from_numpy(xb * (rng.random(xb.shape) >= args.mask).astype(np.float32))
            x1 = torch.from_numpy(xb * (rng.random(xb.shape) >= args.mask).astype(np.float32))
            yb = np.ascontiguousarray(y_all[rows])
            # 1. momentum update of the key side
            with torch.no_grad():
                for pk, pq in zip(list(key_backbone.parameters()) + list(key_proj.parameters()),
                                  list(backbone.parameters()) + list(proj.parameters())):
                    pk.mul_(momentum).add_(pq, alpha=1 - momentum)
            # 2. forward: q and D share one backbone pass; k from the key side
            h = backbone(x0)
            q = Fn.normalize(proj(h), dim=1)
            D = torch.softmax(fc(h), dim=1)
            with torch.no_grad():
                k = Fn.normalize(key_proj(key_backbone(x1)), dim=1)
            # 3. libmlcl loss against the current keys and the queue as it was
            q_np = q.detach().numpy()
            D_np = D.detach().numpy()
            W_np = fc.weight.detach().numpy()
            r = loss.compute(q_np, k.numpy(), yb, D_np, W=W_np, queue=queue)
            # 4. gradients back into torch, optimiser step
            opt.zero_grad()
            torch.autograd.backward([q, D, fc.weight],
                                    [torch.from_numpy(r.grad_q), torch.from_numpy(r.grad_d),
                                     torch.from_numpy(r.grad_W)])
            opt.step()
            # 5. enqueue (k, y, D)
            queue.enqueue(k.numpy(), yb, D_np)
            sums += (r.total, r.con, r.G, r.H, r.wreg)
            batches += 1
        mean = sums / max(batches, 1)
        with torch.no_grad():
            backbone.eval()
            Dall = torch.softmax(fc(backbone(torch.from_numpy(x_all))), dim=1).numpy()
            backbone.train()
        on_labels = float((Dall * y_all).sum(1).mean())
        print("epoch %d/%d loss %.4f (con %.4f G %.5f H %.4f W %.4f) queue %d/%d "
              "mass of d on true labels %.3f  %.1f s"
              % (epoch + 1, args.epochs, mean[0], mean[1], mean[2], mean[3], mean[4],
                 queue.size, queue.capacity, on_labels, time.time() - t0))
        if not np.isfinite(mean[0]):
            print("torch_encoder: non-finite loss", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
