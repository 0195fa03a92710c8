"""Loss values against a float64 numpy re-implementation of MATH.md, gradients
against central finite differences of that re-implementation (with the
stop-gradients of loss.h), and a crude float32 finite-difference check of the
C function itself."""
import itertools

import numpy as np
import pytest

import mlcl

N, F, M, CL, H = 5, 4, 3, 4, 2


def ref_loss(q, k, y, d, kq, yq, dq, W, o, q0=None, d0=None):
    """MATH.md's losses in float64. q0/d0: values used where loss.h stops the
    gradient (w of G unless weight_grad; d_p^j of the contrastive term unless
    dweight_grad). Returns (total, con, G, H, wreg)."""
    q0 = q if q0 is None else q0
    d0 = d if d0 is None else d0
    n = q.shape[0]
    K = np.vstack([k, kq])
    Y = np.vstack([y, yq]).astype(float)
    D = np.vstack([d, dq])
    D0 = np.vstack([d0, dq])
    tau = o["tau"]

    def logprob(qq):
        s = qq @ K.T / tau
        mx = s.max(1, keepdims=True)
        return s - (mx + np.log(np.exp(s - mx).sum(1, keepdims=True)))
    l = logprob(q)
    inter = y.astype(float) @ Y.T
    if o["mask"] == "any":
        P = inter > 0
    else:
        P = np.array([[np.array_equal(y[i], Y[a]) for a in range(len(Y))] for i in range(n)])
    cnt_j = Y.sum(0)
    method = o["method"]
    if method == "supcon":
        per = np.array([-(l[i][P[i]].mean()) if P[i].any() else 0.0 for i in range(n)])
        con = per.sum() / (n if o["reduction"] == "mean" else 1)
        return con, con, 0.0, 0.0, 0.0
    if method == "mulsupcon":
        per = np.array([sum(-(l[i] * Y[:, j]).sum() / cnt_j[j] for j in range(y.shape[1]) if y[i, j])
                        for i in range(n)])
        den = y.sum() if o["reduction"] == "mean" else 1
        con = per.sum() / den if den else 0.0
        return con, con, 0.0, 0.0, 0.0
    Dw = D if o["dweight_grad"] else D0
    con_i = np.zeros(n)
    for i in range(n):
        for j in range(y.shape[1]):
            if y[i, j]:
                t = -(Dw[:, j] * Y[:, j] * l[i]).sum()
                con_i[i] += t / cnt_j[j] if o["con_norm"] == "per_label" else t
    qw = q if o["weight_grad"] else q0
    if o["variant"] == "rld":
        dist2 = (qw ** 2).sum(1)[:, None] + (K ** 2).sum(1)[None, :] - 2 * qw @ K.T
        w = np.exp(-dist2 / (2 * o["sigma"] ** 2))
    else:
        lw = logprob(qw)
        w = np.exp(lw) if o["cld_weight"] == "prob" else lw
    G_i = np.array([sum(w[i, a] * ((d[i] - D[a]) ** 2).sum() for a in range(len(Y)) if P[i, a])
                    for i in range(n)])
    if o["h_target"] == "raw":
        yhat = Y
    else:
        s = Y.sum(1, keepdims=True)
        yhat = np.where(s > 0, Y / np.maximum(s, 1), 0)
    H_i = np.array([sum(((yhat[a] - D[a]) ** 2).sum() for a in range(len(Y)) if P[i, a])
                    for i in range(n)])
    wn = o["beta"] * (W ** 2).sum()
    if o["reduction"] == "mean":
        con, G, Hh, wreg = con_i.sum() / n, G_i.sum() / n, H_i.sum() / n, wn
    else:
        con, G, Hh, wreg = con_i.sum(), G_i.sum(), H_i.sum(), wn * n
    return con + G + o["alpha"] * Hh + wreg, con, G, Hh, wreg


DEFAULTS = dict(method="ld", variant="cld", mask="any", alpha=0.1, beta=1.0, tau=0.5, sigma=0.8,
                reduction="mean", cld_weight="prob", weight_grad=0, dweight_grad=0,
                con_norm="none", h_target="normalised")

CASES = [
    {},
    dict(variant="rld"),
    dict(variant="rld", weight_grad=1),
    dict(weight_grad=1, dweight_grad=1),
    dict(cld_weight="logprob", con_norm="per_label", h_target="raw"),
    dict(mask="all", reduction="sum", alpha=0.7, beta=0.05),
    dict(method="mulsupcon"),
    dict(method="mulsupcon", reduction="sum"),
    dict(method="supcon"),
    dict(method="supcon", mask="all"),
]


def make_case(seed, n=N, f=F):
    r = np.random.default_rng(seed)

    def unit(rows):
        x = r.standard_normal((rows, M))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q, k, kq = unit(n), unit(n), unit(f)
    y = (r.random((n, CL)) < 0.45).astype(np.uint8)
    y[0] = 0
    y[0, 1] = 1
    yq = (r.random((f, CL)) < 0.45).astype(np.uint8)
    yq[1] = 0  # a queue entry without labels (yhat = 0)

    def dist(rows):
        z = np.exp(r.standard_normal((rows, CL)))
        return (z / z.sum(1, keepdims=True)).astype(np.float32)
    W = (0.3 * r.standard_normal((CL, H))).astype(np.float32)
    return q, k, y, dist(n), kq, yq, dist(f), W


def fd_grad(fun, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in itertools.product(*[range(s) for s in x.shape]):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (fun(xp) - fun(xm)) / (2 * h)
    return g


def close(a, b, rel):
    scale = max(np.abs(b).max(), 1e-3)
    return np.abs(a - b).max() <= rel * scale


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join("%s=%s" % kv for kv in c.items()) or "default")
def test_loss_and_gradients_match_reference(case):
    o = dict(DEFAULTS, **case)
    q, k, y, d, kq, yq, dq, W = make_case(7)
    opts = {kk: v for kk, v in o.items()}
    with mlcl.Loss(N, F, M, CL, **opts) as L:
        r = L.compute(q, k, y, d, kq, yq, dq, W)
    Q, Kk, Dd, KQ, DQ, WW = (a.astype(np.float64) for a in (q, k, d, kq, dq, W))
    tot, con, G, Hh, wreg = ref_loss(Q, Kk, y, Dd, KQ, yq, DQ, WW, o)
    assert r.total == pytest.approx(tot, rel=1e-4, abs=1e-5)
    assert (r.con, r.G, r.H, r.wreg) == pytest.approx((con, G, Hh, wreg), rel=1e-4, abs=1e-5)
    assert r.total == pytest.approx(r.con + r.G + o["alpha"] * r.H + r.wreg, rel=1e-6, abs=1e-6)
    gq = fd_grad(lambda x: ref_loss(x, Kk, y, Dd, KQ, yq, DQ, WW, o, q0=Q)[0], Q)
    assert close(r.grad_q, gq, 2e-3), (r.grad_q, gq)
    if o["method"] == "ld":
        gd = fd_grad(lambda x: ref_loss(Q, Kk, y, x, KQ, yq, DQ, WW, o, d0=Dd)[0], Dd)
        assert close(r.grad_d, gd, 2e-3), (r.grad_d, gd)
        gW = fd_grad(lambda x: ref_loss(Q, Kk, y, Dd, KQ, yq, DQ, x, o)[0], WW)
        assert close(r.grad_W, gW, 2e-3)
    else:
        assert r.grad_d is None and r.grad_W is None


def test_reference_check_can_fail():
    """The comparison detects a wrong option: tau 0.5 vs 0.25 differ."""
    q, k, y, d, kq, yq, dq, W = make_case(3)
    with mlcl.Loss(N, F, M, CL, tau=0.25) as L:
        r = L.compute(q, k, y, d, kq, yq, dq, W)
    ref = ref_loss(*(a.astype(np.float64) if a.dtype == np.float32 else a
                     for a in (q, k, y, d, kq, yq, dq, W)), DEFAULTS)[0]
    assert abs(r.total - ref) > 1e-3 * abs(ref)


def test_float32_finite_differences_of_c_itself():
    q, k, y, d, kq, yq, dq, W = make_case(11)
    L = mlcl.Loss(N, F, M, CL, tau=0.5, beta=0.5, weight_grad=1, dweight_grad=1)
    r = L.compute(q, k, y, d, kq, yq, dq, W)
    h = 1e-2
    for name, arr, g in (("q", q, r.grad_q), ("d", d, r.grad_d), ("W", W, r.grad_W)):
        num = np.zeros_like(g)
        for idx in np.ndindex(*arr.shape):
            a1, a2 = arr.copy(), arr.copy()
            a1[idx] += h
            a2[idx] -= h
            args = dict(q=q, d=d, W=W)
            args[name] = a1
            fp = L.compute(args["q"], k, y, args["d"], kq, yq, dq, args["W"], grads=False).total
            args[name] = a2
            fm = L.compute(args["q"], k, y, args["d"], kq, yq, dq, args["W"], grads=False).total
            num[idx] = (fp - fm) / (2 * h)
        assert close(g, num, 2e-2), name


def test_compute_with_queue_handle_equals_arrays():
    q, k, y, d, kq, yq, dq, W = make_case(5)
    Q = mlcl.Queue(8, M, CL)
    Q.enqueue(kq, yq, dq)
    L = mlcl.Loss(N, 8, M, CL)
    a = L.compute(q, k, y, d, kq, mlcl.pack_labels(yq), dq, W)
    b = L(q, k, mlcl.pack_labels(y), d, W=W, queue=Q)
    assert a.total == b.total and a.n_anchors_used == b.n_anchors_used
    assert np.array_equal(a.grad_q, b.grad_q) and np.array_equal(a.grad_d, b.grad_d)
    assert np.array_equal(a.grad_W, b.grad_W)
    assert float(a) == a.total and set(a.parts) >= {"total", "con", "G", "H", "wreg"}
    # empty queue part == F = 0
    c0 = L.compute(q, k, y, d, W=W)
    Q.reset()
    c1 = L.compute(q, k, y, d, W=W, queue=Q)
    assert c0.total == c1.total


def test_loss_options_dims_and_errors():
    q, k, y, d, kq, yq, dq, W = make_case(2)
    L = mlcl.Loss(N, F, M, CL)
    assert L.dims == (N, F, M, CL) and L.workspace_size > 0
    assert L.options["tau"] == pytest.approx(0.1)
    L.set_options(tau=0.5, variant="rld")
    assert L.get_options().variant == 1 and L.options["tau"] == pytest.approx(0.5)
    L.set_options(mlcl.loss_options(method="supcon"))
    assert L.options["method"] == 2
    with pytest.raises(mlcl.InvalidArgument, match="tau"):
        L.set_options(tau=-1.0)
    assert L.options["method"] == 2  # unchanged on error
    L.set_options(method="ld")
    with pytest.raises(TypeError, match="q must have dtype float32"):
        L.compute(q.astype(np.float64), k, y, d, W=W)
    r = L.compute(q.astype(np.float64), k, y, d, W=W, strict=False)
    assert np.isfinite(r.total)
    with pytest.raises(TypeError, match="ndarray"):
        L.compute(q.tolist(), k, y, d, W=W)
    with pytest.raises(ValueError, match="k has shape"):
        L.compute(q, k[:3], y, d, W=W)
    with pytest.raises(ValueError, match="q has 3 columns"):
        mlcl.Loss(N, F, 3 + 1, CL).compute(q, k, y, d, W=W)
    with pytest.raises(ValueError, match="max_n"):
        mlcl.Loss(2, F, M, CL).compute(q, k, y, d, W=W)
    with pytest.raises(ValueError, match="d .n x c"):
        L.compute(q, k, y, W=W)
    with pytest.raises(mlcl.InvalidArgument, match="W"):
        L.compute(q, k, y, d)  # beta != 0 needs W
    bad = q.copy()
    bad[1, 1] = np.inf
    with pytest.raises(mlcl.NumericError, match="q"):
        L.compute(bad, k, y, d, W=W)
    with pytest.raises(mlcl.InvalidArgument):
        mlcl.Loss(0, F, M, CL)
