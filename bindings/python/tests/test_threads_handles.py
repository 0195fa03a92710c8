"""Per-handle thread counts (docs/abi.md, "Threads"): every handle type has a
``threads`` property over mlcl_<kind>_{get,set}_threads; 0 = the library
default; a bad count is refused naming the argument; a count does not change
the results for the layers whose sums do not depend on it."""
import numpy as np
import pytest

import mlcl


def _handles():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((24, 6)).astype(np.float32)
    y = (rng.random((24, 3)) < 0.5).astype(np.uint8)
    y[:, 0] = 1
    ds = mlcl.Dataset.from_arrays(x, y)
    t = mlcl.Trainer(ds, seed=1, batch=8, pretrain=dict(epochs=1), finetune=dict(epochs=1),
                     moco=dict(hidden=[8], proj_dim=4, queue_size=8))
    return ds, {
        "Loss": mlcl.Loss(8, 8, 4, 3),
        "MoCo": mlcl.MoCo(6, 3, hidden=[8], proj_dim=4, queue_size=8, max_batch=4, seed=1),
        "Encoder": mlcl.Encoder.mlp(6, hidden=[8], max_batch=4),
        "Trainer": t,
    }


def test_threads_property_round_trip_and_refusal():
    ds, hs = _handles()
    try:
        for name, h in hs.items():
            assert h.threads == 0, name  # the library default until set
            h.threads = 1
            assert h.threads == 1, name
            with pytest.raises(mlcl.InvalidArgument, match="n"):
                h.threads = -1
            assert h.threads == 1, name  # refused: unchanged
            h.threads = 0
            assert h.threads == 0, name
    finally:
        for h in hs.values():
            h.close()
        ds.close()


def test_encoder_forward_same_with_one_or_two_threads():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    outs = []
    for n in (1, 2):
        with mlcl.Encoder.mlp(6, hidden=[8], dropout=0.0, max_batch=4, seed=7) as e:
            e.threads = n
            outs.append(np.array(e.forward(x), copy=True))
    assert np.array_equal(outs[0], outs[1])


def test_closed_handle_threads_refused():
    e = mlcl.Encoder.mlp(6, hidden=[8], max_batch=4)
    e.close()
    with pytest.raises(mlcl.ClosedError):
        e.threads
