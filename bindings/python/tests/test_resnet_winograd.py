"""ResNet-18 (small stem) train-mode forward + backward at batch 16 against
PyTorch. From batch 16 up, oneDNN's algorithm choice (dnnl_convolution_auto
in src/kernels/dnn_layers.c) runs the 3x3 stride-1 convolutions as Winograd
F(4x4, 3x3) on AVX-512 machines (direct elsewhere): a different rounding than
the direct convolution, held to the same tolerances as the direct path in
test_resnet_torch.py (see there for the tolerances and the ReLU kinks)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_resnet_torch import kink_margin, pair, rel  # noqa: E402
import torch_resnet as T  # noqa: E402


def test_resnet18_small_batch16_matches_torch():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        n, c, h, w = 16, 3, 16, 16
        enc, model, rng = pair(18, "small", 16, c, h, w, n, 5)
        for seed in range(30):
            x = np.random.default_rng(200 + seed).standard_normal((n, c * h * w)).astype(np.float32)
            if kink_margin(model, x.reshape(n, c, h, w)) >= 5e-6:
                break
        else:
            pytest.fail("no input with every ReLU input >= 5e-6 from 0 in 30 tries")
        g = rng.standard_normal((n, enc.out_dim)).astype(np.float32)
        enc.train()
        enc.zero_grad()
        out = enc.forward(x)
        gin = enc.backward(g)
        grads = enc.grads
        model.train()
        xt = torch.from_numpy(x.reshape(n, c, h, w).copy()).requires_grad_(True)
        ot = model(xt)
        (ot * torch.from_numpy(g)).sum().backward()
        assert rel(out, ot.detach().numpy()) < 2e-4
        assert rel(gin, xt.grad.numpy().reshape(n, -1)) < 1e-3
        tg = T.flat_grads(model)
        k = 0
        for name, p in model.named_parameters():
            m = p.numel()
            e = rel(grads[k:k + m], tg[k:k + m])
            assert e < 1e-3, "%s: rel err %g" % (name, e)
            k += m
        assert rel(enc.state, T.flat_state(model)) < 2e-4
    finally:
        torch.set_num_threads(old)
