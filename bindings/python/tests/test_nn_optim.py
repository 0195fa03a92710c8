"""Encoder (MLP and layers), kernels, optimisers and schedules."""
import math

import numpy as np
import pytest

import mlcl


def _linear_ref(x, Wt, b):
    return x @ Wt.T + b


def test_encoder_layers_forward_backward(rng):
    e = mlcl.Encoder(4, max_batch=8, seed=3)
    assert (e.in_dim, e.out_dim, e.num_layers, e.param_count) == (4, 4, 0, 0)
    e.add_linear(5).add_relu().add_linear(3, bias=False).add_l2norm()
    assert (e.out_dim, e.num_layers, e.param_count) == (3, 4, 4 * 5 + 5 + 5 * 3)
    p = e.params
    W1, b1, W2 = p[:20].reshape(5, 4), p[20:25], p[25:].reshape(3, 5)
    assert np.all(np.abs(W1) <= 1 / math.sqrt(4) + 1e-6)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    out = e.forward(x)
    h = np.maximum(_linear_ref(x.astype(np.float64), W1, b1), 0) @ W2.T
    ref = h / np.linalg.norm(h, axis=1, keepdims=True)
    assert np.allclose(out, ref, atol=1e-5)
    # backward of sum(out * g) against finite differences on the input
    g = rng.standard_normal((6, 3)).astype(np.float32)
    e.zero_grad()
    gin = e.backward(g)
    assert gin.shape == (6, 4)
    num = np.zeros((6, 4))
    for i, j in np.ndindex(6, 4):
        xp, xm = x.astype(np.float64), x.astype(np.float64)
        xp[i, j] += 1e-5
        xm[i, j] -= 1e-5
        f = lambda z: (np.maximum(_linear_ref(z, W1, b1), 0) @ W2.T)
        fp, fm = f(xp), f(xm)
        fp /= np.linalg.norm(fp, axis=1, keepdims=True)
        fm /= np.linalg.norm(fm, axis=1, keepdims=True)
        num[i, j] = ((fp - fm) * g).sum() / 2e-5
    assert np.allclose(gin, num, atol=1e-3)
    grads = e.grads
    assert grads.shape == (e.param_count,) and np.abs(grads).sum() > 0
    e.backward(g, want_grad_in=False)  # accumulates
    assert np.allclose(e.grads, 2 * grads, atol=1e-6)
    e.zero_grad()
    assert not e.grads.any()
    with pytest.raises(TypeError, match="x must have dtype float32"):
        e.forward(x.astype(np.float64))
    assert np.allclose(e.forward(x.astype(np.float64), strict=False), out)
    with pytest.raises(ValueError, match="in_dim"):
        e.forward(np.zeros((2, 5), np.float32))
    with pytest.raises(mlcl.StateError):
        e.backward(np.zeros((2, 3), np.float32))  # n differs from the last forward


def test_params_round_trip_and_views(rng):
    e = mlcl.Encoder.mlp(6, hidden=[8, 4], dropout=0.0, batchnorm=True, out_dim=3,
                         out_act="softmax", seed=1, max_batch=16)
    n = e.param_count
    assert n == (6 * 8 + 8 + 16) + (8 * 4 + 4 + 8) + (4 * 3 + 3)
    p = e.params
    new = rng.standard_normal(n).astype(np.float32)
    e.params = new
    assert np.array_equal(e.params, new) and not np.array_equal(p, new)
    v = e.params_view()
    assert np.array_equal(v, new)
    v[0] = 42.0  # a view writes through
    assert e.get_params()[0] == 42.0
    e.set_params(p.astype(np.float64))  # converted (not a hot path)
    assert np.array_equal(e.params, p) and v[0] == p[0]
    with pytest.raises(mlcl.InvalidArgument, match=str(n)):
        e.set_params(np.zeros(n + 1, np.float32))
    bad = p.copy()
    bad[3] = np.nan
    with pytest.raises(mlcl.NumericError):
        e.set_params(bad)
    # BatchNorm state: running mean 0 / var 1 at creation; training forward updates it
    assert e.state_count == 2 * (8 + 4)
    st = e.state
    assert np.array_equal(st[:8], np.zeros(8)) and np.array_equal(st[8:16], np.ones(8))
    assert e.training
    x = rng.standard_normal((10, 6)).astype(np.float32)
    y = e(x)
    assert np.allclose(y.sum(1), 1, atol=1e-5)
    assert not np.array_equal(e.state, st)
    e.state = st
    assert np.array_equal(e.get_state(), st)
    e.eval()
    assert not e.training
    y1, y2 = e.forward(x), e.forward(x)
    assert np.array_equal(y1, y2)
    e.train()
    assert e.training
    # copy / momentum update
    f = mlcl.Encoder.mlp(6, hidden=[8, 4], dropout=0.0, batchnorm=True, out_dim=3,
                         out_act="softmax", seed=2, max_batch=16)
    fp = f.params
    f.momentum_update(e, 0.9)
    assert np.allclose(f.params, 0.9 * fp + 0.1 * e.params, atol=1e-6)
    f.copy_params_from(e)
    assert np.array_equal(f.params, e.params)
    with pytest.raises(mlcl.InvalidArgument):
        f.copy_params_from(mlcl.Encoder(6).add_linear(2))
    st = e.get_rng_state()
    e.set_rng_state(st)
    assert e.get_rng_state() == st


def test_dropout_masks_replay_with_rng_state(rng):
    e = mlcl.Encoder(20, seed=5).add_dropout(0.5).add_batchnorm(1e-5, 0.1).add_softmax()
    x = rng.standard_normal((4, 20)).astype(np.float32)
    st = e.get_rng_state()
    a = e.forward(x)
    e.set_rng_state(st)
    assert np.array_equal(e.forward(x), a)
    with pytest.raises(mlcl.InvalidArgument):
        mlcl.Encoder(3).add_dropout(1.5)


def test_kernels_against_numpy(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    p = mlcl.softmax(x)
    ref = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    assert np.allclose(p, ref, atol=1e-6)
    g = rng.standard_normal((3, 5)).astype(np.float32)
    gl = mlcl.softmax_backward(p, g)
    assert np.allclose(gl, p * (g - (g * p).sum(1, keepdims=True)), atol=1e-6)
    t = (rng.random((3, 5)) < 0.5).astype(np.float32)
    loss, gr = mlcl.bce_with_logits(x, t)
    sig = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert loss == pytest.approx(np.mean(-(t * np.log(sig) + (1 - t) * np.log(1 - sig))), rel=1e-5)
    assert np.allclose(gr, (sig - t) / x.size, atol=1e-7)
    assert mlcl.bce_with_logits(x, t, grad=False)[1] is None
    assert np.allclose(mlcl.sigmoid(x), sig, atol=1e-6)
    out, norms = mlcl.l2norm(x)
    assert np.allclose(norms, np.linalg.norm(x, axis=1), rtol=1e-6)
    assert np.allclose(out, x / norms[:, None], atol=1e-6)
    gx = mlcl.l2norm_backward(out, norms, g)
    ref = (g - out * (out * g).sum(1, keepdims=True)) / norms[:, None]
    assert np.allclose(gx, ref, atol=1e-5)
    with pytest.raises(mlcl.NumericError):
        mlcl.softmax(np.array([[np.inf, 0]], np.float32))


def test_sgd_and_adam_match_hand_computation():
    p = np.array([1.0, -2.0, 3.0], np.float32)
    g = np.array([0.5, 0.5, -1.0], np.float32)
    with mlcl.Optimizer(type="sgd", lr=0.1, momentum=0.9) as o:
        gid = o.add_group(p, g, weight_decay=0.01)
        assert gid == 0 and o.num_groups == 1 and o.get_lr(0) == pytest.approx(0.1)
        p0 = p.copy()
        o.step()
        b1 = g + 0.01 * p0
        assert np.allclose(p, p0 - 0.1 * b1, atol=1e-7)
        p1 = p.copy()
        o.step()
        b2 = 0.9 * b1 + (g + 0.01 * p1)
        assert np.allclose(p, p1 - 0.1 * b2, atol=1e-6)
        assert o.state_count == 3 and np.allclose(o.get_state(), b2, atol=1e-6)
        assert o.get_step(0) == 2
        o.set_state(np.zeros(3))
        o.set_step(0)
        o.set_lr(0.5)
        assert o.get_lr(0) == pytest.approx(0.5)
        o.zero_state()
        with pytest.raises(TypeError, match="in place"):
            o.add_group(p.astype(np.float64), g)
        with pytest.raises(mlcl.InvalidArgument):
            o.set_lr(0.1, group=7)
    q = np.array([1.0, -2.0], np.float32)
    gq = np.array([0.3, -0.1], np.float32)
    o = mlcl.Optimizer(type="adam", lr=0.01)
    o.add_group(q, gq)
    q0 = q.copy().astype(np.float64)
    o.step()
    m = 0.1 * gq
    v = 0.001 * gq.astype(np.float64) ** 2
    ref = q0 - 0.01 / 0.1 * m / (np.sqrt(v) / np.sqrt(0.001) + 1e-8)
    assert np.allclose(q, ref, atol=1e-6)
    gq[0] = np.nan
    with pytest.raises(mlcl.NumericError):
        o.step()


def test_optimizer_on_encoder_buffers(rng):
    e = mlcl.Encoder(3, seed=1).add_linear(2)
    o = mlcl.Optimizer(type="sgd", lr=1.0)
    o.add_encoder(e)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    e.forward(x)
    e.zero_grad()
    e.backward(np.ones((4, 2), np.float32), want_grad_in=False)
    before, grads = e.params, e.grads
    o.step()
    assert np.allclose(e.params, before - grads, atol=1e-6)


def test_schedules_closed_forms():
    assert mlcl.schedule_lr(7, base_lr=0.3) == pytest.approx(0.3)
    assert mlcl.schedule_lr(65, type="step", base_lr=1.0, step_size=30, gamma=0.1) == \
        pytest.approx(0.01)
    s = mlcl.Schedule(type="cosine", base_lr=1.0, T_max=10, eta_min=0.1)
    assert s.lr(5) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 0.5)) / 2)
    assert s.options["T_max"] == 10
    w = mlcl.Schedule(type="cosine_warm_restarts", base_lr=1.0, T_0=2, T_mult=2, eta_min=0.0)
    # periods [0,2) [2,6) [6,14): epoch 4 is T_cur 2 of T_i 4
    assert w(4) == pytest.approx((1 + math.cos(math.pi * 2 / 4)) / 2)
    assert w(6) == pytest.approx(1.0)
    with pytest.raises(mlcl.InvalidArgument):
        w.lr(-1)
