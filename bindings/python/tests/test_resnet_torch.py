"""mlcl.Encoder.resnet against PyTorch (torchvision's layout written in plain
torch in torch_resnet.py): with identical weights, the train-mode forward,
the input gradient and EVERY parameter gradient for a random upstream
gradient, the running statistics after the step, and the eval-mode forward.

Tolerances: both sides compute in float32 with different summation orders
(oneDNN blocked convolutions vs torch's), so agreement is to float32
round-off amplified by the depth: errors are measured relative to each
tensor's largest magnitude (max |a - b| / max |b|), 2e-4 for outputs and
running statistics, 1e-3 for gradients (BatchNorm's backward subtracts
per-channel means of products, which cancels digits; a wrong term shows as an
O(1) relative error, far above these bounds).

Kinks: a ReLU input within float32 round-off (~1e-6) of 0 may land on
different sides in the two implementations, which legitimately changes that
unit's gradient by O(1) (seen: a 5x5 patch of the input gradient off by 3%).
The gradient test therefore uses inputs whose every ReLU input is at least
5e-6 from 0 in a float64 run of the same network (the first of a few seeds).
"""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mlcl  # noqa: E402
import torch_resnet as T  # noqa: E402


def rel(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def perturb_bn(enc, model, rng):
    """Non-trivial BN gamma/beta and running statistics, set in the library."""
    p = enc.params
    s = enc.state
    k = ks = 0
    for name, t in model.named_parameters():
        if ".bn" in name or name.startswith("bn") or "downsample.1" in name:
            if name.endswith("weight"):
                p[k:k + t.numel()] = rng.uniform(0.5, 1.5, t.numel())
            else:
                p[k:k + t.numel()] = rng.uniform(-0.2, 0.2, t.numel())
        k += t.numel()
    for i, b in enumerate(T.bn_state(model)):  # running_mean, running_var, ...
        n = b.numel()
        s[ks:ks + n] = rng.normal(0, 0.2, n) if i % 2 == 0 else rng.uniform(0.5, 2.0, n)
        ks += n
    enc.params = p
    enc.state = s


def pair(depth, stem, base, c, h, w, n, seed):
    torch.manual_seed(seed)
    enc = mlcl.Encoder.resnet(depth, stem=stem, in_channels=c, height=h, width=w,
                              base_width=base, max_batch=n, seed=seed)
    model = T.ResNet(depth, stem, c, base)
    rng = np.random.default_rng(seed)
    perturb_bn(enc, model, rng)
    T.load_flat(model, enc.params, enc.state)
    assert enc.in_dim == c * h * w
    assert enc.out_dim == model.out_dim
    assert enc.param_count == sum(p.numel() for p in model.parameters())
    assert enc.state_count == sum(b.numel() for b in T.bn_state(model))
    return enc, model, rng


def kink_margin(model, x):
    """min |ReLU input| over the whole train-mode forward, in float64."""
    m = copy.deepcopy(model).double().train()
    mins = []
    for mod in m.modules():
        if isinstance(mod, torch.nn.ReLU):
            mod.register_forward_pre_hook(lambda mod, inp: mins.append(float(inp[0].abs().min())))
    with torch.no_grad():
        m(torch.from_numpy(x.astype(np.float64)))
    return min(mins)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# (batch, base width, side, input seeds, rng seed). From batch 16 up, oneDNN's
# algorithm choice (dnnl_convolution_auto, src/kernels/dnn_layers.c) runs the
# 3x3 stride-1 convolutions as Winograd F(4x4, 3x3) on AVX-512 machines (direct
# elsewhere): another rounding, held to the same tolerances as the direct path.
@pytest.mark.parametrize("n,width,side,xseed,seed", [(4, 8, 32, 100, 3), (16, 16, 16, 200, 5)],
                         ids=["direct", "batch16-winograd"])
def test_resnet18_small_train_step_matches_torch(n, width, side, xseed, seed):
    c, h, w = 3, side, side
    enc, model, rng = pair(18, "small", width, c, h, w, n, seed)
    for s in range(30):
        x = np.random.default_rng(xseed + s).standard_normal((n, c * h * w)).astype(np.float32)
        if kink_margin(model, x.reshape(n, c, h, w)) >= 5e-6:
            break
    else:
        pytest.fail("no input with every ReLU input >= 5e-6 from 0 in 30 tries")
    g = rng.standard_normal((n, enc.out_dim)).astype(np.float32)

    # libmlcl: train-mode forward + backward
    enc.train()
    enc.zero_grad()
    out = enc.forward(x)
    gin = enc.backward(g)
    grads = enc.grads
    state = enc.state

    # torch: the same
    model.train()
    xt = torch.from_numpy(x.reshape(n, c, h, w).copy()).requires_grad_(True)
    ot = model(xt)
    (ot * torch.from_numpy(g)).sum().backward()

    assert rel(out, ot.detach().numpy()) < 2e-4
    assert rel(gin, xt.grad.numpy().reshape(n, -1)) < 1e-3
    # every parameter tensor separately, in named_parameters() order
    tg = T.flat_grads(model)
    assert grads.shape == tg.shape
    k = 0
    for name, p in model.named_parameters():
        m = p.numel()
        e = rel(grads[k:k + m], tg[k:k + m])
        assert e < 1e-3, "%s: rel err %g" % (name, e)
        k += m
    # running statistics after the step (momentum 0.1, unbiased variance)
    assert rel(state, T.flat_state(model)) < 2e-4

    # eval mode: running statistics, the state does not move
    enc.eval()
    model.eval()
    x2 = rng.standard_normal((n, c * h * w)).astype(np.float32)
    out2 = enc.forward(x2)
    with torch.no_grad():
        ot2 = model(torch.from_numpy(x2.reshape(n, c, h, w)))
    assert rel(out2, ot2.numpy()) < 2e-4
    assert np.array_equal(enc.state, state)


def test_resnet50_imagenet_forward_matches_torch():
    n, c, h, w = 2, 3, 64, 64
    enc, model, rng = pair(50, "imagenet", 4, c, h, w, n, 5)
    assert enc.out_dim == 32 * 4
    x = rng.standard_normal((n, c * h * w)).astype(np.float32)
    out = enc.forward(x)
    model.train()
    with torch.no_grad():
        ot = model(torch.from_numpy(x.reshape(n, c, h, w)))
    assert rel(out, ot.numpy()) < 2e-4
    assert rel(enc.state, T.flat_state(model)) < 2e-4
    enc.eval()
    model.eval()
    out = enc.forward(x)
    with torch.no_grad():
        ot = model(torch.from_numpy(x.reshape(n, c, h, w)))
    assert rel(out, ot.numpy()) < 2e-4


def test_torchvision_counts():
    """torchvision's resnet18/34/50 parameter counts without fc (11,689,512 - 513,000,
    21,797,672 - 513,000, 25,557,032 - 2,049,000; all three in tests/test_resnet.c);
    the torch-side layout is checked here on ResNet-18."""
    m = T.ResNet(18, "imagenet", 3, 64)
    assert sum(p.numel() for p in m.parameters()) == 11176512
    e = mlcl.Encoder.resnet(18, stem="imagenet", height=32, width=32, max_batch=2)
    assert e.state_count == sum(b.numel() for b in T.bn_state(m))
    shapes = [tuple(p.shape) for p in m.parameters()]
    assert e.param_count == sum(int(np.prod(s)) for s in shapes)
    assert e.out_dim == 512
    e.close()
