"""Hostile callers (issue 12, findings 3 and 5): closed, closing and shared
handles, threads, re-entrant callbacks, wrapping integers, NUL bytes.

Every case runs in its own interpreter (a segfault is a failed test, not a
dead pytest) and must end with "OK" on stdout and exit code 0. The cases
use mlcl.BusyError / mlcl.ClosedError when they exist, else their bases
RuntimeError / ValueError, so that on bindings without these rules a case
fails by what the old bindings do (a crash, a silently wrong value, a missing
exception), not by a missing name.

Threads are made deterministic with callbacks that block: a progress
callback or a communicator callback waits on an Event while the main thread
makes the hostile call, then releases it.
"""
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import python_env

PRELUDE = r'''
import ctypes, gc, os, sys, threading
import numpy as np
import mlcl
from mlcl import comm as mcomm

BusyError = getattr(mlcl, "BusyError", RuntimeError)
ClosedError = getattr(mlcl, "ClosedError", ValueError)
TRAIN, TEST = sys.argv[1], sys.argv[2]


def expect(exc, text, fn, *a, **k):
    """fn(*a, **k) must raise exc with ``text`` in its message."""
    try:
        fn(*a, **k)
    except exc as e:
        assert text in str(e), "expected %r in the message, got %s: %s" % (text, type(e).__name__, e)
        print("raised %s: %s" % (type(e).__name__, e))
        return e
    raise AssertionError("%s(%r) was not raised" % (exc.__name__, text))


def scrub():
    """Re-uses freed memory: a dangling view would now show other values or fault."""
    junk = [np.full(1 << 18, 7.0, np.float32) for _ in range(16)]
    gc.collect()
    return junk


def trainer(ds, **kw):
    return mlcl.Trainer(ds, preset="yeast", seed=1, pretrain=dict(epochs=1),
                        finetune=dict(epochs=1), **kw)


class Gate:
    """A callback stop: wait() (armed once) tells the main thread it is
    there, then blocks until release()."""

    def __init__(self):
        self.entered, self.released, self.armed = threading.Event(), threading.Event(), False

    def wait(self):
        if self.armed:
            self.armed = False
            self.entered.set()
            assert self.released.wait(60), "never released"

    def release(self):
        self.released.set()


def blocking_comm(gate):
    """A one-rank communicator (identity collectives) whose callbacks stop at gate."""
    c = mcomm.Comm.defaults()

    def ar(ctx, buf, n):
        gate.wait()
        return 0

    def ag(ctx, s, n, r):
        gate.wait()
        ctypes.memmove(r, s, n)
        return 0

    def bc(ctx, b, n, root):
        gate.wait()
        return 0
    c._keep = [mcomm.ALLREDUCE_F32(ar), mcomm.ALLREDUCE_F64(ar), mcomm.ALLGATHER(ag),
               mcomm.BCAST(bc)]
    c.allreduce_f32, c.allreduce_f64, c.allgather, c.bcast = c._keep
    return c


def in_thread(fn, *a):
    """Starts fn(*a) in a thread; returns (thread, errors list)."""
    errs = []

    def body():
        try:
            fn(*a)
        except BaseException as e:  # noqa: BLE001
            errs.append(e)
    th = threading.Thread(target=body, daemon=True)  # a failed case must not hang on it
    th.start()
    return th, errs
'''

CASES = {}


def case(fn):
    CASES[fn.__name__] = textwrap.dedent(fn.__doc__)
    return fn


# ------------------------------------------------------------------ views

@case
def dataset_view_outlives_close():
    """
    ds = mlcl.Dataset.load_arff(TRAIN)
    v = ds.features_view()
    ref = v.copy()
    ds.close()                      # deferred: the view still uses the memory
    junk = scrub()
    assert np.array_equal(v, ref), "the view changed after close()"
    assert ds.closed and not v.flags.writeable
    for call in (lambda: ds.n, lambda: ds.features, ds.features_view, lambda: ds.subset([0]),
                 lambda: ds.gather([0]), ds.standardize_stats, lambda: ds.feature_name(0),
                 lambda: ds.split(0.5)):
        expect(ClosedError, "Dataset is closed", call)
    w = v[10:20]                    # a derived array keeps the memory too
    del v
    assert ds.views_alive == 1
    assert np.array_equal(w, ref[10:20])
    del w
    gc.collect()
    assert ds.views_alive == 0
    ds.close()                      # a second close is a no-op
    print("OK")
    """


@case
def encoder_views_outlive_close():
    """
    enc = mlcl.Encoder.mlp(103, hidden=[512, 512], seed=3)
    p, g = enc.params_view(), enc.grads_view()
    ref = enc.params
    enc.close()
    junk = scrub()
    assert np.array_equal(p, ref) and p.size == ref.size
    p[0] = 42.0                     # still writable, still our memory
    g[:] = 1.0
    assert p[0] == 42.0 and g.sum() == g.size
    expect(ClosedError, "Encoder is closed", enc.params_view)
    expect(ClosedError, "Encoder is closed", enc.forward, np.zeros((2, 103), np.float32))
    expect(ClosedError, "Encoder is closed", lambda: enc.param_count)
    print("OK")
    """


@case
def encoder_add_layer_with_live_view():
    """
    enc = mlcl.Encoder(8, max_batch=4, seed=1).add_linear(4096)
    v = enc.params_view()
    e = expect(BusyError, "view(s) of this Encoder's buffers are alive", enc.add_linear, 4096)
    assert "re-allocates" in str(e)
    junk = scrub()
    assert v.size == 8 * 4096 + 4096 and np.array_equal(v, enc.params)
    del v
    enc.add_linear(3)               # no view any more: allowed
    assert enc.out_dim == 3
    print("OK")
    """


@case
def optimizer_keeps_encoder_alive():
    """
    enc = mlcl.Encoder.mlp(103, hidden=[512, 512], seed=3)
    g = enc.grads_view()
    g[:] = 1.0
    del g
    before = enc.params
    opt = mlcl.Optimizer(type="sgd", lr=0.5)
    opt.add_encoder(enc)            # the C optimiser points into the encoder's buffers
    enc.close()                     # so the free is deferred
    junk = scrub()
    opt.step()
    opt.step()
    assert enc.closed and enc.views_alive == 2
    expect(ClosedError, "Encoder is closed", enc.get_params)
    opt.close()                     # drops the views: the encoder is freed now
    gc.collect()
    assert enc.views_alive == 0
    print("OK")
    """


@case
def queue_views_outlive_close():
    """
    q = mlcl.Queue(4096, 128, 14)
    rng = np.random.default_rng(0)
    q.enqueue(rng.standard_normal((100, 128)).astype(np.float32),
              (rng.random((100, 14)) < 0.3).astype(np.uint8))
    f, l, d = q.features_view(), q.labels_view(), q.dists_view()
    ref = (f.copy(), l.copy(), d.copy())
    q.close()
    junk = scrub()
    assert all(np.array_equal(a, b) for a, b in zip((f, l, d), ref))
    expect(ClosedError, "Queue is closed", lambda: q.size)
    expect(ClosedError, "Queue is closed", q.enqueue, np.zeros((1, 128), np.float32),
           np.zeros((1, 14), np.uint8))
    print("OK")
    """


@case
def borrowed_views_outlive_moco_close():
    """
    m = mlcl.MoCo(103, 14, queue_size=4096, seed=2)
    enc, q = m.encoder("query_backbone"), m.queue
    p, f = enc.params_view(), q.features_view()
    ref_p, ref_f = p.copy(), f.copy()
    m.close()
    junk = scrub()
    assert np.array_equal(p, ref_p) and np.array_equal(f, ref_f)
    expect(ClosedError, "its owner, a MoCo, was closed", enc.forward, np.zeros((2, 103), np.float32))
    expect(ClosedError, "its owner, a MoCo, was closed", lambda: q.size)
    expect(ClosedError, "MoCo is closed", m.encoder, 0)
    print("OK")
    """


@case
def trainer_views_outlive_close_and_pin_dataset():
    """
    ds = mlcl.Dataset.load_arff(TRAIN)
    t = trainer(ds)
    enc = t.moco.encoder("query_backbone")   # a handle borrowed from a borrowed MoCo
    p = enc.params_view()
    ref = p.copy()
    t.close()
    junk = scrub()
    assert np.array_equal(p, ref)
    expect(ClosedError, "closed", enc.forward, np.zeros((2, 103), np.float32))
    expect(ClosedError, "Trainer is closed", t.run)
    # the C trainer still exists (the view), and it borrows the dataset:
    expect(BusyError, "borrowed by 1 open Trainer", ds.close)
    del p
    gc.collect()
    ds.close()                      # the last view went: trainer freed, dataset free to go
    print("OK")
    """


# --------------------------------------------------------------- trainer

@case
def trainer_close_from_progress_callback():
    """
    ds, te = mlcl.Dataset.load_arff(TRAIN), mlcl.Dataset.load_arff(TEST)
    t = trainer(ds)
    seen = {}

    def cb(p):
        if p.end_of_epoch and "eval" not in seen:   # allowed from the callback
            seen["eval"] = t.evaluate(te)["t05"]["mAP"]
            seen["pos"] = t.position
            seen["pred"] = t.predict(te.features[:3]).shape
        if p.step == 3 and "close" not in seen:
            seen["close"] = 1
            t.close()
    t.set_progress(cb)
    e = expect(BusyError, "Trainer.close() refused from the progress callback of run_epochs()",
               t.run_epochs, 1)
    assert not t.closed and t.position == (1, 0)
    assert t.run_epochs(1) is False and 0 < seen["eval"] <= 1 and seen["pos"] == (1, 0)
    assert seen["pred"] == (3, 14)
    t.close()
    assert t.closed
    expect(ClosedError, "Trainer is closed", t.run)
    print("OK")
    """


@case
def trainer_reentrant_calls_from_callback():
    """
    ds = mlcl.Dataset.load_arff(TRAIN)
    t = trainer(ds)
    tried = []

    def cb(p):
        if p.step == 2 and not tried:
            tried.append(1)
            x = np.zeros((4, 103), np.float32)
            for name, call in (("run", t.run), ("run_epochs", lambda: t.run_epochs(1)),
                               ("load", lambda: t.load("nowhere.ckpt")),
                               ("set_progress", lambda: t.set_progress(None)),
                               ("step", lambda: t.moco.step(x, x, np.zeros((4, 14), np.uint8)))):
                try:
                    call()
                except BusyError as e:
                    assert "called from the progress callback of run()" in str(e), str(e)
                    tried.append(name)
                    print("refused %s: %s" % (name, e))
    t.set_progress(cb)
    t.run()
    assert tried == [1, "run", "run_epochs", "load", "set_progress", "step"], tried
    assert t.position[0] == 3
    t.close()
    print("OK")
    """


@case
def trainer_close_from_another_thread():
    """
    ds = mlcl.Dataset.load_arff(TRAIN)
    t = trainer(ds)
    gate = Gate()
    t.set_progress(lambda p: gate.wait())
    gate.armed = True
    th, errs = in_thread(t.run_epochs, 1)
    assert gate.entered.wait(60)
    expect(BusyError, "Trainer.close() refused while another thread runs run_epochs()", t.close)
    expect(BusyError, "run_epochs() is running in another thread", lambda: t.position)
    expect(BusyError, "is running in another thread", lambda: t.moco.encoder(0))
    expect(BusyError, "borrowed by 1 open Trainer", ds.close)
    gate.release()
    th.join(120)
    assert not th.is_alive() and not errs, errs
    assert t.position == (2, 0)
    t.close()
    ds.close()
    print("OK")
    """


@case
def trainer_run_from_two_threads():
    """
    ds = mlcl.Dataset.load_arff(TRAIN)
    t = trainer(ds)
    gate = Gate()
    t.set_progress(lambda p: gate.wait())
    gate.armed = True
    th, errs = in_thread(t.run)
    assert gate.entered.wait(60)
    expect(BusyError, "Trainer.run(): the handle is busy: run() is running in another thread", t.run)
    expect(BusyError, "is running in another thread", t.run_epochs, 1)
    gate.release()
    th.join(120)
    assert not th.is_alive() and not errs, errs
    assert t.position[0] == 3
    t.close()
    print("OK")
    """


# ------------------------------------------- other handles, shared handles

@case
def moco_shared_while_stepping_in_another_thread():
    """
    m = mlcl.MoCo(16, 5, hidden=[32], proj_dim=8, queue_size=64, max_batch=8, seed=4)
    gate = Gate()
    mcomm.set_comm(m, blocking_comm(gate))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    y = (rng.random((8, 5)) < 0.5).astype(np.uint8)
    q, enc, opt = m.queue, m.encoder(0), m.optimizer
    gate.armed = True
    th, errs = in_thread(m.step, x, x.copy(), y)
    assert gate.entered.wait(60)
    expect(BusyError, "MoCo.close() refused while another thread runs step()", m.close)
    expect(BusyError, "step() is running in another thread", m.step, x, x, y)
    expect(BusyError, "Queue (borrowed from a MoCo).enqueue()", q.enqueue,
           np.zeros((1, 8), np.float32), np.zeros((1, 5), np.uint8))
    expect(BusyError, "Encoder (borrowed from a MoCo).forward()", enc.forward, x)
    expect(BusyError, "Optimizer (borrowed from a MoCo).step()", opt.step)
    expect(BusyError, "running in another thread", enc.params_view)
    gate.release()
    th.join(120)
    assert not th.is_alive() and not errs, errs
    assert m.steps == 1 and q.size == 8
    m.close()
    print("OK")
    """


@case
def encoder_shared_between_threads():
    """
    enc = mlcl.Encoder.mlp(6, hidden=[16], batchnorm=True, dropout=0.0, out_dim=4, max_batch=8, seed=5)
    x = np.random.default_rng(2).standard_normal((8, 6)).astype(np.float32)
    ref = enc.forward(x)
    gate = Gate()
    mcomm.set_comm(enc, blocking_comm(gate))
    out = {}
    gate.armed = True
    th, errs = in_thread(lambda: out.setdefault("y", enc.forward(x)))
    assert gate.entered.wait(60)
    expect(BusyError, "Encoder.forward(): the handle is busy: forward() is running in another thread",
           enc.forward, x)
    expect(BusyError, "Encoder.close() refused while another thread runs forward()", enc.close)
    expect(BusyError, "running in another thread", enc.add_linear, 3)
    expect(BusyError, "running in another thread", mlcl.Optimizer(type="sgd").add_encoder, enc)
    gate.release()
    th.join(60)
    assert not th.is_alive() and not errs, errs
    assert np.allclose(out["y"], ref, atol=1e-5)
    enc.close()
    print("OK")
    """


@case
def comm_kept_alive_for_borrowed_handles():
    """
    ds = mlcl.Dataset.load_arff(TRAIN)
    t = trainer(ds)
    mcomm.set_comm(t.moco, mcomm.LocalComm())   # temporaries: the comm must outlive them
    gc.collect()
    junk = scrub()
    x = np.random.default_rng(0).standard_normal((8, 103)).astype(np.float32)
    t.moco.step(x, x.copy(), np.ones((8, 14), np.uint8))
    assert t.moco.steps == 1
    t.close()
    print("OK")
    """


@case
def closed_handles_of_every_type():
    """
    import mlcl.image
    ds = mlcl.Dataset.from_arrays(np.zeros((4, 3)), np.zeros((4, 2), bool))
    objs = {
        "Rng": (mlcl.Rng(1), lambda o: o.uniform(3)),
        "Batcher": (mlcl.Batcher(10, 3), lambda o: o.next()),
        "Loss": (mlcl.Loss(8, 8, 4, 3), lambda o: o.dims),
        "Optimizer": (mlcl.Optimizer(type="adam"), lambda o: o.step()),
        "Queue": (mlcl.Queue(8, 4, 3), lambda o: o.features_view()),
        "Encoder": (mlcl.Encoder(3).add_linear(2), lambda o: o.grads_view()),
        "MoCo": (mlcl.MoCo(3, 2, hidden=[4], proj_dim=2, queue_size=8, max_batch=4), lambda o: o.queue),
        "Dataset": (ds, lambda o: o.labels),
    }
    for name, (o, call) in objs.items():
        o.close()
        o.close()
        assert o.closed
        expect(ClosedError, "%s is closed" % name, call, o)
    r = mlcl.Rng(0)
    r.close()
    expect(ClosedError, "Rng is closed", mlcl.augment_mask, r, np.ones((2, 2)), 0.5)
    expect(ClosedError, "Rng is closed", mlcl.image.simclr, r, np.ones((1, 3, 8, 8)))
    # handles borrowed from a borrowed handle die with the root owner too
    t = trainer(mlcl.Dataset.load_arff(TRAIN))
    m = t.moco
    enc, q, opt = m.encoder("query_backbone"), m.queue, m.optimizer
    t.close()
    junk = scrub()
    for o, call in ((m, lambda: m.steps), (enc, lambda: enc.forward(np.ones((4, 103), np.float32))),
                    (q, lambda: q.features), (opt, lambda: opt.get_state())):
        assert o.closed
        expect(ClosedError, "closed", call)
    print("OK")
    """


# ------------------------------------------------------------- validation

@case
def from_arrays_labels_must_be_0_or_1():
    """
    x = np.zeros((3, 2))
    for bad, shown in ((256, "256"), (0.7, "0.7"), (-1, "-1"), (2, "2"), (np.nan, "nan")):
        y = np.zeros((3, 2), dtype=np.float64 if isinstance(bad, float) else np.int64)
        y[1, 1] = bad
        expect(ValueError, "y[1, 1] = %s is not 0 or 1" % shown, mlcl.Dataset.from_arrays, x, y)
    expect(ValueError, "labels[0, 0] = 256 is not 0 or 1", mlcl.compute_metrics,
           np.zeros((1, 1), np.float32), np.array([[256]]))
    expect(ValueError, "y01[0, 0] = 256 is not 0 or 1", mlcl.pack_labels, np.array([[256]], np.int16))
    expect(TypeError, "0/1 numbers or bools", mlcl.Dataset.from_arrays, x, np.full((3, 2), "1"))
    ok = mlcl.Dataset.from_arrays(x, np.array([[True, False], [0, 1], [1.0, 0.0]]))
    assert ok.labels.tolist() == [[1, 0], [0, 1], [1, 0]]
    print("OK")
    """


@case
def row_indices_are_range_checked():
    """
    ds = mlcl.Dataset.from_arrays(np.arange(12.0).reshape(6, 2), np.zeros((6, 1), np.uint8))
    expect(ValueError, "rows[0] = 4294967297 is out of range: the dataset has 6 rows", ds.subset, [2**32 + 1])
    expect(ValueError, "rows[1] = -1 is out of range", ds.subset, [0, -1])
    expect(ValueError, "rows[0] = 18446744073709551615 is out of range", ds.subset,
           np.array([2**64 - 1], np.uint64))
    expect(ValueError, "rows[0] = 6 is out of range", ds.gather, [6])
    expect(TypeError, "rows must hold integers", ds.subset, [1.5])
    expect(ValueError, "rows[0] must be in", ds.subset, [2**70])
    sub = ds.subset(np.array([5, 0], np.int64))
    assert sub.features.tolist() == [[10.0, 11.0], [0.0, 1.0]]
    print("OK")
    """


@case
def strings_with_nul_are_rejected():
    """
    import shutil, tempfile
    d = tempfile.mkdtemp()
    p = os.path.join(d, "ytr.arff.gz")
    shutil.copy(TRAIN, p)
    expect(ValueError, "path contains a NUL byte", mlcl.Dataset.load_arff, p + "\\0junk")
    expect(ValueError, "path contains a NUL byte", mlcl.Dataset.load_arff, os.fsencode(p) + b"\\0x")
    expect(ValueError, "path contains a NUL byte", mlcl.Dataset.load_libsvm, p + "\\0")
    expect(ValueError, "images_key contains a NUL byte", mlcl.Dataset.load_npy, p, p, "x\\0y")
    expect(ValueError, "preset contains a NUL byte", mlcl.train_options, "yeast\\0scene")
    ds = mlcl.Dataset.load_arff(p)
    t = trainer(ds)
    ck = os.path.join(d, "c.ckpt")
    expect(ValueError, "path contains a NUL byte", t.save, ck + "\\0.tmp")
    expect(ValueError, "path contains a NUL byte", t.load, ck + "\\0")
    assert not os.path.exists(ck)
    t.close()
    shutil.rmtree(d)
    print("OK")
    """


@case
def c_integers_do_not_wrap():
    """
    big = 2**32 + 8
    expect(ValueError, "Queue.capacity must be in [-2147483648, 2147483647] (got 4294967304)",
           mlcl.Queue, big, 4, 3)
    expect(ValueError, "n_rows must be in", mlcl.Batcher, 2**32 + 10, 4)
    expect(ValueError, "out_dim must be in", mlcl.Encoder(3).add_linear, 2**32 + 3)
    expect(ValueError, "seed must be in [0, 18446744073709551615] (got -1)", mlcl.Rng, -1)
    expect(ValueError, "train options.batch must be in", mlcl.train_options, "yeast", batch=2**32 + 128)
    expect(ValueError, "MLP spec.hidden[0] must be in", mlcl.Encoder.mlp, 4, hidden=[2**32 + 4])
    expect(TypeError, "out_dim must be an integer (got 2.7)", mlcl.Encoder(3).add_linear, 2.7)
    ds = mlcl.Dataset.from_arrays(np.zeros((2, 2)), np.zeros((2, 1), np.uint8))
    expect(ValueError, "j must be in", ds.feature_name, 2**32)
    expect(ValueError, "epochs must be in", trainer(mlcl.Dataset.load_arff(TRAIN)).run_epochs, 2**32 + 1)
    print("OK")
    """


@pytest.fixture(scope="module")
def data(yeast_paths):
    return yeast_paths


def run_case(name, paths):
    code = PRELUDE + "\n" + CASES[name]
    r = subprocess.run([sys.executable, "-c", code, paths[0], paths[1]], env=python_env(),
                       capture_output=True, text=True, timeout=300)
    return r


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile(name, data):
    r = run_case(name, data)
    tail = "\n--- stdout:\n%s\n--- stderr:\n%s" % (r.stdout[-3000:], r.stderr[-3000:])
    assert r.returncode == 0, "exit code %d%s" % (r.returncode, tail)
    assert r.stdout.rstrip().endswith("OK"), tail
    assert "raised" in r.stdout or "refused" in r.stdout or "OK" in r.stdout, tail
