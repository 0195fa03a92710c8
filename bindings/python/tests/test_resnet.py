"""Encoder.resnet / Encoder.clone / resnet_spec (no torch needed; the
PyTorch cross-check is test_resnet_torch.py)."""
import numpy as np
import pytest

import mlcl


def test_resnet_spec_defaults_and_enums():
    s = mlcl.resnet_spec()
    assert (s.depth, s.stem, s.in_channels, s.height, s.width, s.base_width) == (18, 1, 3, 32, 32, 64)
    assert abs(s.bn_eps - 1e-5) < 1e-12 and abs(s.bn_momentum - 0.1) < 1e-7
    assert s.zero_init_residual == 0
    assert mlcl.resnet_spec(stem="imagenet").stem == 0
    with pytest.raises(ValueError):
        mlcl.resnet_spec(stem="cifar")
    with pytest.raises(TypeError):
        mlcl.resnet_spec(depht=18)


def test_resnet_shapes_forward_backward_and_clone(rng):
    e = mlcl.Encoder.resnet(18, stem="small", in_channels=2, height=8, width=8, base_width=4,
                            max_batch=3, seed=7)
    assert e.in_dim == 2 * 8 * 8
    assert e.out_dim == 8 * 4
    assert e.training
    x = rng.standard_normal((3, e.in_dim)).astype(np.float32)
    out = e.forward(x)
    assert out.shape == (3, 32) and np.all(np.isfinite(out))
    assert np.all(out >= 0)  # global average of a ReLU output
    e.zero_grad()
    gin = e.backward(np.ones_like(out))
    assert gin.shape == x.shape and np.any(gin != 0)
    assert np.any(e.grads != 0)

    c = e.clone()
    assert c.param_count == e.param_count and c.state_count == e.state_count
    np.testing.assert_array_equal(c.params, e.params)
    np.testing.assert_array_equal(c.grads, e.grads)
    np.testing.assert_array_equal(c.state, e.state)
    np.testing.assert_allclose(c.forward(x), e.forward(x), rtol=1e-6, atol=1e-6)
    e.eval()
    assert c.training  # independent mode
    p = e.params
    e.params = p * 2
    np.testing.assert_array_equal(c.params, p)  # independent parameters
    e.close()
    assert c.forward(x).shape == (3, 32)  # outlives the original
    c.close()


def test_resnet_bad_spec_names_the_field():
    with pytest.raises(mlcl.InvalidArgument, match="depth"):
        mlcl.Encoder.resnet(19)
    with pytest.raises(mlcl.InvalidArgument, match="base_width"):
        mlcl.Encoder.resnet(18, base_width=0)
    with pytest.raises(mlcl.InvalidArgument, match="bn_momentum"):
        mlcl.Encoder.resnet(18, bn_momentum=2.0)


def test_zero_init_residual_and_init():
    kw = dict(stem="imagenet", height=16, width=16, base_width=2, max_batch=2, seed=1)
    z = mlcl.Encoder.resnet(50, zero_init_residual=True, **kw)
    e = mlcl.Encoder.resnet(50, **kw)
    p, q = z.params, e.params
    # conv1 (2 x 3 x 7 x 7), then bn1 gamma = 1, beta = 0
    assert np.all(p[294:296] == 1) and np.all(p[296:298] == 0)
    # only the last BN gamma of each of the 16 bottlenecks differs: 1 -> 0,
    # 4 * planes per block = 4 * (2*3 + 4*4 + 8*6 + 16*3) values
    diff = p != q
    assert diff.sum() == 472
    assert np.all(p[diff] == 0) and np.all(q[diff] == 1)
    s = z.state
    assert np.all(s[:2] == 0) and np.all(s[2:4] == 1)
