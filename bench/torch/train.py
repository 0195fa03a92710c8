#!/usr/bin/python3
"""The whole MulSupCon_LD protocol (MATH.md) in PyTorch on ARFF(.gz) data.

  1. read train/test ARFF (MEKA '-C -N'), standardise with the train mean/std
  2. pretrain (unless --method none or --pretrain-epochs 0): MoCo, two views
     masked with p = --pretrain-mask (0.5), AdamW lr 4e-5 wd 1e-4,
     CosineAnnealingWarmRestarts(50, 2, 1e-5) stepped per epoch, momentum
     0.999, queue K = --queue, loss mulsupcon | rld | cld (MATH.md defaults
     unless overridden by the loss flags)
  3. fine-tune backbone + LD head with sigmoid/BCE: --finetune-epochs (100),
     AdamW lr 4e-4 wd 1e-5, CosineAnnealingWarmRestarts(25, 2, 1e-4),
     mask 0.4, batch = pretrain batch
  4. evaluate on the test set after the last epoch: the paper protocol (best
     of t = 0.1..0.9 per metric on the test set) and fixed t = 0.5

Prints wall times of pretraining and fine-tuning and the peak RSS
(getrusage ru_maxrss, kB); --json OUT writes
  {"metrics": {"paper": {...}, "t05": {...}},
   "timing": {"pretrain_s", "finetune_s"}, "peak_rss_kb", "config": {...},
   "diagnostics": {...}}
"""
import argparse
import json
import os
import resource
import sys
import time
from dataclasses import asdict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlcl_torch as mt  # noqa: E402


def parse():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--method", default="cld",
                    choices=["none", "mulsupcon", "rld", "cld", "supcon"])
    ap.add_argument("--pretrain-epochs", type=int, default=400)
    ap.add_argument("--finetune-epochs", type=int, default=100)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--queue", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", metavar="OUT")
    g = ap.add_argument_group("protocol (defaults = MATH.md)")
    g.add_argument("--pretrain-lr", type=float, default=4e-5)
    g.add_argument("--pretrain-wd", type=float, default=1e-4)
    g.add_argument("--pretrain-mask", type=float, default=0.5)
    g.add_argument("--momentum", type=float, default=0.999)
    g.add_argument("--finetune-lr", type=float, default=4e-4)
    g.add_argument("--finetune-wd", type=float, default=1e-5)
    g.add_argument("--finetune-mask", type=float, default=0.4)
    g.add_argument("--finetune-sched", type=float, nargs=3, default=[25, 2, 1e-4],
                   metavar=("T0", "TMULT", "ETA_MIN"))
    o = ap.add_argument_group("loss options (MATH.md table)")
    d = mt.LDOptions()
    o.add_argument("--mask", default=d.mask, choices=["any", "all"])
    o.add_argument("--alpha", type=float, default=d.alpha)
    o.add_argument("--beta", type=float, default=d.beta)
    o.add_argument("--tau", type=float, default=d.tau)
    o.add_argument("--sigma", type=float, default=d.sigma)
    o.add_argument("--reduction", default=d.reduction, choices=["mean", "sum"])
    o.add_argument("--cld-weight", default=d.cld_weight, choices=["prob", "logprob"])
    o.add_argument("--weight-grad", default="off", choices=["off", "on"])
    o.add_argument("--dweight-grad", default="off", choices=["off", "on"])
    o.add_argument("--con-norm", default=d.con_norm, choices=["none", "per_label"])
    o.add_argument("--h-target", default=d.h_target, choices=["normalised", "raw"])
    return ap.parse_args()


def main():
    a = parse()
    mt.set_threads(a.threads)
    print(f"torch {torch.__version__}  threads {torch.get_num_threads()}  "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}", flush=True)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    Xtr, Ytr = mt.read_arff(a.train)
    Xte, Yte = mt.read_arff(a.test)
    Xtr, Xte = mt.standardise(Xtr, Xte)
    Xtr, Xte = torch.from_numpy(Xtr.astype(np.float32)), torch.from_numpy(Xte.astype(np.float32))
    Ytr_t = torch.from_numpy(Ytr)
    d_in, c = Xtr.shape[1], Ytr.shape[1]
    print(f"data: train {tuple(Xtr.shape)} test {tuple(Xte.shape)} labels {c} "
          f"(mean {Ytr.sum(1).mean():.2f}/row)", flush=True)

    opts = mt.LDOptions(variant=a.method if a.method in ("rld", "cld") else "cld",
                        mask=a.mask, alpha=a.alpha, beta=a.beta, tau=a.tau,
                        sigma=a.sigma, reduction=a.reduction, cld_weight=a.cld_weight,
                        weight_grad=a.weight_grad == "on",
                        dweight_grad=a.dweight_grad == "on", con_norm=a.con_norm,
                        h_target=a.h_target).check()
    model = mt.MoCoLD(d_in, c, a.queue, momentum=a.momentum)
    diag = {}

    # ---------------- pretraining ----------------
    epochs = a.pretrain_epochs if a.method != "none" else 0
    t0 = time.perf_counter()
    if epochs > 0:
        opt, sched = mt.make_pretrain_optimizer(model, a.pretrain_lr, a.pretrain_wd)
        model.train()
        for ep in range(epochs):
            tot, nb, parts_acc = 0.0, 0, {}
            for idx in mt.batches(Xtr.shape[0], a.batch, gen):
                xb = Xtr[idx]
                x0 = mt.mask_view(xb, a.pretrain_mask, gen)
                x1 = mt.mask_view(xb, a.pretrain_mask, gen)
                parts = mt.moco_step(model, opt, x0, x1, Ytr_t[idx], a.method, opts)
                for kk, v in parts.items():
                    parts_acc[kk] = parts_acc.get(kk, 0.0) + v
                nb += 1
            sched.step()
            if ep == 0 or (ep + 1) % 50 == 0 or ep + 1 == epochs:
                s = " ".join(f"{kk} {v / nb:.4g}" for kk, v in parts_acc.items())
                print(f"pretrain epoch {ep + 1:4d}/{epochs}  lr {opt.param_groups[0]['lr']:.3g}"
                      f"  {s}  ({time.perf_counter() - t0:.1f}s)", flush=True)
        diag["pretrain_last_epoch"] = {kk: v / nb for kk, v in parts_acc.items()}
        with torch.no_grad():          # mass of d on the true labels (train, eval mode)
            model.eval()
            D = torch.softmax(model.fc(model.enc_q(Xtr)), 1)
            diag["d_mass_on_labels"] = float((D * Ytr_t).sum(1).mean())
            diag["d_mass_uniform"] = float(Ytr_t.sum(1).mean() / c)
            model.train()
        print(f"d mass on true labels {diag['d_mass_on_labels']:.4f} "
              f"(uniform {diag['d_mass_uniform']:.4f})")
    pretrain_s = time.perf_counter() - t0

    # ---------------- fine-tuning ----------------
    clf = mt.Classifier(model.enc_q, model.fc)
    t1 = time.perf_counter()
    mt.finetune(clf, Xtr, Ytr_t, epochs=a.finetune_epochs, batch=a.batch,
                lr=a.finetune_lr, wd=a.finetune_wd, mask=a.finetune_mask,
                sched=(int(a.finetune_sched[0]), int(a.finetune_sched[1]),
                       a.finetune_sched[2]), gen=gen)
    finetune_s = time.perf_counter() - t1

    # ---------------- evaluation ----------------
    scores = mt.predict_scores(clf, Xte)
    paper = mt.paper_metrics(scores, Yte)
    t05 = mt.metrics_at(scores, Yte, 0.5)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    keys = ["HA", "ebF1", "miF1", "maF1", "p@1", "mAP"]
    print(f"{'':8}" + "".join(f"{k:>8}" for k in keys))
    print(f"{'paper':8}" + "".join(f"{paper[k]:8.4f}" for k in keys))
    print(f"{'t=0.5':8}" + "".join(f"{t05[k]:8.4f}" for k in keys))
    print(f"pretrain {pretrain_s:.2f} s  finetune {finetune_s:.2f} s  peak RSS {rss} kB")
    if a.json:
        cfg = {kk: v for kk, v in vars(a).items() if kk != "json"}
        cfg["loss_options"] = asdict(opts)
        cfg["torch"] = torch.__version__
        cfg["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
        with open(a.json, "w") as fh:
            json.dump({"metrics": {"paper": paper, "t05": t05},
                       "timing": {"pretrain_s": pretrain_s, "finetune_s": finetune_s},
                       "peak_rss_kb": rss, "config": cfg, "diagnostics": diag},
                      fh, indent=1)


if __name__ == "__main__":
    main()
