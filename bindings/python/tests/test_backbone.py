"""A caller's backbone in the MoCo pair and the trainer (moco.h, train.h):
mlcl_moco_options.backbone and mlcl_trainer_create_ex."""
import os

import numpy as np
import pytest

import mlcl


def _batch(rng, n, d, c):
    x0 = rng.normal(size=(n, d)).astype(np.float32)
    x1 = (x0 + 0.05 * rng.normal(size=(n, d))).astype(np.float32)
    y = (rng.random((n, c)) < 0.4).astype(np.uint8)
    y[np.arange(n), np.arange(n) % c] = 1
    return x0, x1, y


def test_moco_with_mlp_backbone_matches_builtin(rng):
    kw = dict(hidden=[16, 8], dropout=0.0, proj_dim=4, queue_size=8, max_batch=6, seed=2)
    a = mlcl.MoCo(6, 3, **kw)
    # the same MLP as mlcl_moco_create builds (query stream seed*8+1)
    bb = mlcl.Encoder.mlp(6, hidden=[16, 8], dropout=0.0, max_batch=6, seed=2 * 8 + 1)
    b = mlcl.MoCo(0, 3, backbone=bb, **kw)
    bb.close()  # the pair holds copies
    for _ in range(4):
        x0, x1, y = _batch(rng, 6, 6, 3)
        la, lb = a.step(x0, x1, y), b.step(x0, x1, y)
        assert abs(la.total - lb.total) <= 1e-6 * (1 + abs(la.total))
    pa = a.encoder("query_backbone").get_params()
    pb = b.encoder("query_backbone").get_params()
    np.testing.assert_allclose(pa, pb, rtol=0, atol=1e-5)
    a.close()
    b.close()


def test_moco_backbone_errors():
    bb = mlcl.Encoder.mlp(5, hidden=[4], max_batch=4)
    with pytest.raises(mlcl.MlclError, match="in_dim"):
        mlcl.MoCo(7, 3, backbone=bb, proj_dim=4, queue_size=8, max_batch=4)
    with pytest.raises(TypeError):
        mlcl.MoCo(5, 3, backbone="resnet")
    bb.close()


def test_trainer_resnet_with_simclr_views():
    try:
        tr = mlcl.Dataset.fashion_mosaic(16, seed=4, grid=1)
    except mlcl.MlclError as e:
        pytest.skip("Fashion-MNIST not installed: %s" % e)
    c, h, w = tr.image_shape
    bb = mlcl.Encoder.resnet(18, stem="small", in_channels=c, height=16, width=16, base_width=4, max_batch=8)
    views = {"out_h": 16, "out_w": 16}
    opts = dict(batch=8, seed=1, moco=dict(queue_size=16, proj_dim=8),
                pretrain=dict(epochs=1), finetune=dict(epochs=1))
    t = mlcl.Trainer(tr, backbone=bb, pretrain_views=views,
                     finetune_views=dict(views, jitter_p=0.0, gray_p=0.0, blur_p=0.0), **opts)
    t.run()
    x = tr.features
    s = t.predict(x)
    assert s.shape == (x.shape[0], 10)
    assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
    t.close()
    bb.close()
    with pytest.raises(mlcl.MlclError, match="backbone"):
        bad = mlcl.Encoder.mlp(10, hidden=[4], max_batch=8)
        mlcl.Trainer(tr, backbone=bad, batch=8)
