"""comm.h from Python: the struct, validation, and a one-rank communicator
that must reproduce single-process MoCo steps and trainer runs bit for bit."""
import numpy as np
import pytest

import mlcl
from mlcl.comm import Comm, LocalComm, set_comm


def test_defaults_and_validate():
    c = Comm.defaults()
    assert (c.version, c.rank, c.size) == (1, 0, 1)
    with pytest.raises(mlcl.InvalidArgument, match="allreduce_f32 is NULL"):
        c.validate()
    lc = LocalComm()
    lc.validate()
    lc.rank = 1
    with pytest.raises(mlcl.InvalidArgument, match="comm->rank"):
        lc.validate()


def _moco():
    return mlcl.MoCo(6, 3, hidden=[16, 8], proj_dim=4, queue_size=8, max_batch=6, seed=2)


def test_one_rank_moco_is_bit_identical():
    rng = np.random.default_rng(0)
    with _moco() as a, _moco() as b:
        comm = LocalComm()
        set_comm(b, comm)
        for _ in range(3):
            x0 = rng.standard_normal((6, 6), dtype=np.float32)
            x1 = rng.standard_normal((6, 6), dtype=np.float32)
            y = mlcl.pack_labels(rng.integers(0, 2, (6, 3)).astype(np.uint8))
            ra, rb = a.step(x0, x1, y), b.step(x0, x1, y)
            assert ra.total == rb.total
        for w in range(5):
            assert np.array_equal(a.encoder(w).params, b.encoder(w).params)
        set_comm(b, None)
        bad = Comm.defaults()
        with pytest.raises(mlcl.InvalidArgument, match="mlcl_moco_set_comm"):
            set_comm(b, bad)


def test_encoder_and_trainer_set_comm():
    enc = mlcl.MoCo(6, 3, hidden=[8], proj_dim=4, queue_size=8, max_batch=4).encoder(0)
    comm = LocalComm()
    set_comm(enc, comm)
    set_comm(enc, None)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((24, 5)).astype(np.float32)
    y = (rng.random((24, 3)) < 0.4).astype(np.uint8)
    ds = mlcl.Dataset.from_arrays(x, y)
    kw = dict(seed=3, batch=8, pretrain=dict(epochs=1), finetune=dict(epochs=1),
              moco=dict(hidden=[8], proj_dim=4, queue_size=8))
    with mlcl.Trainer(ds, **kw) as t1, mlcl.Trainer(ds, **kw) as t2:
        set_comm(t2, comm)
        t1.run()
        t2.run()
        assert np.array_equal(t1.predict(x), t2.predict(x))
    with pytest.raises(TypeError):
        set_comm(object(), comm)
