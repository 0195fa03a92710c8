"""Float64 autograd reference of the libmlcl losses, for cross-checks.

    from loss_reference import ld_reference, mulsupcon_reference, supcon_reference
    out = ld_reference(q, k, y, d, kq, yq, dq, W, {"variant": "rld", "sigma": 0.5})
    out["total"], out["con"], out["G"], out["H"], out["reg"]      # floats
    out["grad_q"], out["grad_d"], out["grad_W"]                   # numpy float64

All inputs are numpy arrays (any float dtype; labels 0/1 of any dtype):
  q (n,m) query embeddings (L2-normalised by the caller), k (n,m) current keys,
  y (n,c), d (n,c) batch distributions, kq (F,m), yq (F,c), dq (F,c) the
  filled queue entries (F may be 0; None means empty), W (c,256) or None.
options: a dict (or LDOptions) with any of the keys of MATH.md's table:
  variant cld|rld, mask any|all, alpha, beta, tau, sigma, reduction mean|sum,
  cld_weight prob|logprob, weight_grad bool, dweight_grad bool,
  con_norm none|per_label, h_target normalised|raw.
Gradients are of 'total'. q is taken as given (the gradient is w.r.t. the
normalised q, not the raw projection output).

`python3 loss_reference.py` runs a self-test: the vectorised losses of
mlcl_torch against literal per-anchor loops (MATH.md items 1-8), every option
combination, float64.
"""
from __future__ import annotations

import itertools
import os
import sys
from dataclasses import fields
from typing import Dict, Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlcl_torch as mt  # noqa: E402


def _opts(options) -> mt.LDOptions:
    if options is None:
        return mt.LDOptions()
    if isinstance(options, mt.LDOptions):
        return options.check()
    names = {f.name for f in fields(mt.LDOptions)}
    bad = set(options) - names
    if bad:
        raise KeyError(f"unknown options: {sorted(bad)}")
    conv = dict(options)
    for b in ("weight_grad", "dweight_grad"):
        if b in conv and isinstance(conv[b], str):
            conv[b] = conv[b].lower() in ("on", "1", "true", "yes")
    return mt.LDOptions(**conv).check()


def _t(a, grad=False) -> Optional[torch.Tensor]:
    if a is None:
        return None
    t = torch.as_tensor(np.asarray(a, dtype=np.float64)).clone()
    return t.requires_grad_(grad)


def _np(t: Optional[torch.Tensor]):
    return None if t is None else t.detach().numpy().copy()


def ld_reference(q, k, y, d, kq=None, yq=None, dq=None, W=None,
                 options=None) -> Dict[str, object]:
    o = _opts(options)
    tq, td, tW = _t(q, True), _t(d, True), _t(W, True)
    with torch.enable_grad():
        parts = mt.ld_loss(tq, _t(k), _t(y), td, _t(kq), _t(yq), _t(dq), tW, o)
        parts["total"].backward()
    out = {kk: float(v) for kk, v in parts.items()}
    out.update(grad_q=_np(tq.grad), grad_d=_np(td.grad),
               grad_W=_np(tW.grad) if tW is not None else None)
    for key in ("grad_q", "grad_d"):
        if out[key] is None:
            out[key] = np.zeros(np.shape(q if key == "grad_q" else d))
    return out


def mulsupcon_reference(q, k, y, kq=None, yq=None, tau: float = 0.1):
    tq = _t(q, True)
    with torch.enable_grad():
        L = mt.mulsupcon_loss(tq, _t(k), _t(y), _t(kq), _t(yq), tau=tau)
        L.backward()
    return {"total": float(L), "grad_q": _np(tq.grad)}


def supcon_reference(q, k, y, kq=None, yq=None, tau: float = 0.1,
                     mask: str = "any", reduction: str = "mean"):
    tq = _t(q, True)
    with torch.enable_grad():
        L = mt.supcon_loss(tq, _t(k), _t(y), _t(kq), _t(yq), tau=tau, mask=mask,
                           reduction=reduction)
        L.backward()
    g = tq.grad if tq.grad is not None else torch.zeros_like(tq)
    return {"total": float(L), "grad_q": _np(g)}


# ---------------------------------------------------------------------------
# Literal per-anchor loops (self-test only; slow by design)
# ---------------------------------------------------------------------------

def _loop_ld(q, k, y, d, kq, yq, dq, W, o: mt.LDOptions):
    keys = torch.cat([k, kq]) if kq is not None else k
    ya = torch.cat([y, yq]) if yq is not None else y
    da = torch.cat([d, dq]) if dq is not None else d
    n, N, c = q.shape[0], keys.shape[0], y.shape[1]
    con = G = H = q.new_zeros(())
    for i in range(n):
        s = torch.stack([q[i] @ keys[a] / o.tau for a in range(N)])
        lse = torch.log(torch.exp(s - s.max()).sum()) + s.max()
        for a in range(N):
            l_ia = s[a] - lse
            yi, yv = y[i].bool(), ya[a].bool()
            inP = bool((yi & yv).any()) if o.mask == "any" else bool((yi == yv).all())
            for j in range(c):
                if yi[j] and yv[j]:
                    dj = da[a, j] if o.dweight_grad else da[a, j].detach()
                    norm = ya[:, j].sum() if o.con_norm == "per_label" else 1.0
                    con = con - dj * l_ia / norm
            if inP:
                if o.variant == "rld":
                    w = torch.exp(-((q[i] - keys[a]) ** 2).sum() / (2 * o.sigma ** 2))
                elif o.cld_weight == "prob":
                    w = torch.exp(l_ia)
                else:
                    w = l_ia
                if not o.weight_grad:
                    w = w.detach()
                G = G + w * ((d[i] - da[a]) ** 2).sum()
                tgt = ya[a] / ya[a].sum() if o.h_target == "normalised" else ya[a]
                H = H + ((tgt - da[a]) ** 2).sum()
    wn = (W * W).sum()
    if o.reduction == "mean":
        con, G, H, reg = con / n, G / n, H / n, o.beta * wn
    else:
        reg = n * o.beta * wn
    return {"total": con + G + o.alpha * H + reg, "con": con, "G": G, "H": H, "reg": reg}


def _loop_mulsupcon(q, k, y, kq, yq, tau):
    keys, ya = torch.cat([k, kq]), torch.cat([y, yq])
    tot = q.new_zeros(())
    for i in range(q.shape[0]):
        s = q[i] @ keys.t() / tau
        l = s - torch.logsumexp(s, 0)
        for j in range(y.shape[1]):
            if y[i, j]:
                pj = [a for a in range(keys.shape[0]) if ya[a, j]]
                tot = tot - sum(l[a] for a in pj) / len(pj)
    return tot / y.sum()


def _loop_supcon(q, k, y, kq, yq, tau, mask):
    keys, ya = torch.cat([k, kq]), torch.cat([y, yq])
    tot, cnt = q.new_zeros(()), 0
    for i in range(q.shape[0]):
        s = q[i] @ keys.t() / tau
        l = s - torch.logsumexp(s, 0)
        if mask == "any":
            P = [a for a in range(keys.shape[0]) if (y[i].bool() & ya[a].bool()).any()]
        else:
            P = [a for a in range(keys.shape[0]) if (y[i] == ya[a]).all()]
        if P:
            tot = tot - sum(l[a] for a in P) / len(P)
            cnt += 1
    return tot / max(cnt, 1)


def _self_test() -> int:
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(1)
    n, F_, m, c = 5, 7, 8, 4
    y = mt.gen_labels(n, c, rng).astype(np.float64)
    yq = mt.gen_labels(F_, c, rng).astype(np.float64)
    y[1] = y[0]; yq[2] = y[0]                      # make ALL positives exist
    q = mt.random_unit(n, m, rng).astype(np.float64)
    k = mt.random_unit(n, m, rng).astype(np.float64)
    kq = mt.random_unit(F_, m, rng).astype(np.float64)
    k[0] = q[0] + 0.01 * k[0]; k[0] /= np.linalg.norm(k[0])   # RBF not all zero
    d = mt.random_dist(n, c, rng).astype(np.float64)
    dq = mt.random_dist(F_, c, rng).astype(np.float64)
    W = rng.standard_normal((c, 6)) * 0.1
    worst = 0.0
    grid = itertools.product(("cld", "rld"), ("any", "all"), ("mean", "sum"),
                             ("prob", "logprob"), (False, True), (False, True),
                             ("none", "per_label"), ("normalised", "raw"))
    ncase = 0
    for var, mk, red, cw, wg, dwg, cn, ht in grid:
        o = mt.LDOptions(variant=var, mask=mk, reduction=red, cld_weight=cw,
                         weight_grad=wg, dweight_grad=dwg, con_norm=cn, h_target=ht,
                         sigma=0.05, alpha=0.3, beta=0.7)
        ref = ld_reference(q, k, y, d, kq, yq, dq, W, o)
        tq, td, tW = _t(q, True), _t(d, True), _t(W, True)
        lp = _loop_ld(tq, _t(k), _t(y), td, _t(kq), _t(yq), _t(dq), tW, o)
        lp["total"].backward()
        for key in ("total", "con", "G", "H", "reg"):
            worst = max(worst, abs(ref[key] - float(lp[key])) / max(1.0, abs(float(lp[key]))))
        gq = tq.grad.numpy() if tq.grad is not None else np.zeros_like(q)
        for a, b in ((ref["grad_q"], gq), (ref["grad_d"], td.grad.numpy()),
                     (ref["grad_W"], tW.grad.numpy())):
            worst = max(worst, float(np.max(np.abs(a - b))))
        ncase += 1
    # MulSupCon and SupCon
    r = mulsupcon_reference(q, k, y, kq, yq)
    tq = _t(q, True)
    L = _loop_mulsupcon(tq, _t(k), _t(y), _t(kq), _t(yq), 0.1); L.backward()
    worst = max(worst, abs(r["total"] - float(L)), float(np.max(np.abs(r["grad_q"] - tq.grad.numpy()))))
    for mk in ("any", "all"):
        r = supcon_reference(q, k, y, kq, yq, mask=mk)
        tq = _t(q, True)
        L = _loop_supcon(tq, _t(k), _t(y), _t(kq), _t(yq), 0.1, mk); L.backward()
        worst = max(worst, abs(r["total"] - float(L)), float(np.max(np.abs(r["grad_q"] - tq.grad.numpy()))))
        ncase += 1
    ok = worst < 1e-11
    print(f"loss_reference self-test: {ncase + 1} cases, worst abs/rel diff {worst:.3e} "
          f"-> {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_self_test())
