"""Library loading, versions, errors, RNG and the ctypes struct layouts."""
import ctypes
import os
import shutil
import subprocess

import numpy as np
import pytest

import mlcl
from mlcl import _lib
from conftest import REPO, run_py


def test_version_matches_library():
    assert mlcl.__version__ == mlcl.version()
    major, minor, patch = (int(p) for p in mlcl.__version__.split("."))
    assert mlcl.version_number() == major * 10000 + minor * 100 + patch
    assert major == 1 and mlcl.version_number() >= _lib.WRITTEN_FOR
    assert _lib.missing == [], "functions declared but not exported: %s" % _lib.missing


def test_status_str_and_names():
    assert mlcl.status_str(0) != mlcl.status_str(-1)
    assert "unknown" in mlcl.status_str(12345)
    assert mlcl.STATUS_NAMES[-11] == "MLCL_ECHECKSUM"


def test_error_carries_message_and_status():
    with pytest.raises(mlcl.MlclError) as ei:
        mlcl.Queue(0, 4, 3)
    e = ei.value
    assert isinstance(e, mlcl.InvalidArgument) and isinstance(e, ValueError)
    assert e.status == -1 and e.status_name == "MLCL_EINVAL"
    assert "capacity" in e.message and "capacity" in str(e)
    assert mlcl.last_error() == e.message
    mlcl.clear_error()
    assert mlcl.last_error() == ""


def test_set_num_threads():
    before = mlcl.get_num_threads()
    try:
        mlcl.set_num_threads(1)
        assert mlcl.get_num_threads() == 1
        # more than the CPUs this process may run on: capped, unless forced
        cpus = len(os.sched_getaffinity(0))
        mlcl.set_num_threads(cpus + 1)
        assert mlcl.get_num_threads() == cpus
        mlcl.set_num_threads(cpus + 1, force=True)
        assert mlcl.get_num_threads() == cpus + 1
        with pytest.raises(mlcl.InvalidArgument, match="n must be"):
            mlcl.set_num_threads(0)
        with pytest.raises(mlcl.InvalidArgument, match="n must be"):
            mlcl.set_num_threads(1025, force=True)
        with pytest.raises(TypeError):
            mlcl.set_num_threads(2.0)
    finally:
        mlcl.set_num_threads(before, force=True)
    assert mlcl.get_num_threads() == before


def test_check_output_path(tmp_path):
    mlcl.check_output_path(tmp_path / "new.mlcl")            # absent, writable directory
    (tmp_path / "old.mlcl").write_bytes(b"x")
    mlcl.check_output_path(str(tmp_path / "old.mlcl"))       # a regular file
    os.symlink("old.mlcl", tmp_path / "link.mlcl")
    mlcl.check_output_path(tmp_path / "link.mlcl")           # a link to one
    with pytest.raises(mlcl.InvalidArgument, match="directory"):
        mlcl.check_output_path(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(mlcl.InvalidArgument, match="FIFO"):
        mlcl.check_output_path(tmp_path / "fifo")
    with pytest.raises(mlcl.IOFailure, match="does not exist"):
        mlcl.check_output_path(tmp_path / "no-dir" / "x.mlcl")
    with pytest.raises(ValueError, match="NUL"):
        mlcl.check_output_path("x\0y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link.mlcl", "old.mlcl"]  # nothing created


def test_library_env_var_bad_path_gives_importerror(tmp_path):
    env_lib = str(tmp_path / "nope.so")
    r = run_py(["-c", "import os; os.environ['MLCL_LIBRARY']=%r; import mlcl" % env_lib])
    assert r.returncode != 0 and "ImportError" in r.stderr and "nope.so" in r.stderr


def test_rng_streams_are_seeded():
    with mlcl.Rng(7) as a, mlcl.Rng(7) as b:
        u = a.uniform(1000)
        assert np.array_equal(u, b.uniform(1000))
        assert u.dtype == np.float32 and 0 <= u.min() and u.max() < 1
        assert 0.45 < u.mean() < 0.55
        st = a.get_state()
        x = a.normal(5000, stddev=2.0)
        assert abs(x.std() - 2.0) < 0.1
        a.set_state(st)
        assert np.array_equal(a.normal(5000, stddev=2.0), x)
        a.seed(7)
        b.seed(7)
        assert np.array_equal(a.u32(10), b.u32(10))
        with pytest.raises(mlcl.InvalidArgument):
            a.set_state((1, 2))  # even increment
    a.close()  # double close is harmless
    with pytest.raises(ValueError):
        a.uniform(1)


# ---------------------------------------------------------------- struct layout
_STRUCTS = {
    "mlcl_queue_options": _lib.QueueOptions, "mlcl_loss_options": _lib.LossOptions,
    "mlcl_loss_parts": _lib.LossParts, "mlcl_loss_inputs": _lib.LossInputs, "mlcl_metrics": _lib.Metrics,
    "mlcl_encoder_options": _lib.EncoderOptions, "mlcl_mlp_spec": _lib.MlpSpec,
    "mlcl_resnet_spec": _lib.ResnetSpec,
    "mlcl_optim_options": _lib.OptimOptions, "mlcl_sched_options": _lib.SchedOptions,
    "mlcl_simclr_options": _lib.SimclrOptions,
    "mlcl_moco_options": _lib.CMocoOptions, "mlcl_train_options": _lib.CTrainOptions,
    "mlcl_trainer_ex_options": _lib.TrainerExOptions, "mlcl_progress": _lib.Progress,
    "mlcl_model_export_options": _lib.ModelExportOptions, "mlcl_model_import_options": _lib.ModelImportOptions,
    "mlcl_validation_options": _lib.ValidationOptions, "mlcl_csv_options": _lib.CsvOptions,
    "mlcl_manifest_options": _lib.ManifestOptions, "mlcl_loader_options": _lib.LoaderOptions,
    "mlcl_loader_batch": _lib.LoaderBatch, "mlcl_loader_stats": _lib.LoaderStats,
}


def test_struct_layouts_match_the_headers(tmp_path):
    """sizeof/offsetof of every mirrored struct, compiled from the real headers."""
    cc = shutil.which("cc") or shutil.which("gcc")
    inc = os.path.join(REPO, "include")
    if cc is None or not os.path.exists(os.path.join(inc, "mlcl.h")):
        pytest.skip("no C compiler or no headers")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <mlcl.h>", "int main(void){"]
    for cname, cls in _STRUCTS.items():
        lines.append('printf("%s %%zu\\n", sizeof(%s));' % (cname, cname))
        for f in cls._fields_:
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (cname, f[0], cname, f[0]))
    lines.append("return 0;}")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    r = subprocess.run([cc, "-std=c99", "-I", inc, str(src), "-o", str(exe)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]  # a mirrored struct or field the headers lack
    out = dict(l.split() for l in subprocess.check_output([str(exe)], text=True).splitlines())
    for cname, cls in _STRUCTS.items():
        assert int(out[cname]) == ctypes.sizeof(cls), cname
        for f in cls._fields_:
            assert int(out[cname + "." + f[0]]) == getattr(cls, f[0]).offset, cname + "." + f[0]


def test_options_come_from_c_defaults():
    o = mlcl.loss_options()
    assert (o.method, o.alpha, o.beta) == (0, pytest.approx(0.1), pytest.approx(1.0))
    assert o.tau == pytest.approx(0.1) and o.sigma == pytest.approx(0.01)
    o = mlcl.loss_options(method="mulsupcon", variant="rld", mask="all", reduction="sum",
                          cld_weight="logprob", con_norm="per_label", h_target="raw",
                          weight_grad=True, tau=0.5)
    assert (o.method, o.variant, o.mask, o.reduction, o.cld_weight, o.con_norm, o.h_target,
            o.weight_grad) == (1, 1, 1, 1, 1, 1, 1, 1)
    with pytest.raises(TypeError, match="unknown option"):
        mlcl.loss_options(temperature=1)
    with pytest.raises(ValueError, match="variant"):
        mlcl.loss_options(variant="xld")
    t = mlcl.train_options(preset="scene", method="mulsupcon", moco=dict(hidden=[64, 32]),
                           pretrain=dict(epochs=3))
    assert (t.batch, t.moco.queue_size, t.method) == (256, 1024, 1)
    assert t.moco.n_hidden == 2 and list(t.moco.hidden)[:3] == [64, 32, 0]
    assert t.pretrain.epochs == 3 and t.finetune.epochs == 100
    with pytest.raises(mlcl.InvalidArgument, match="preset"):
        mlcl.train_options(preset="nope")
    m = mlcl.moco_options(in_dim=5, n_labels=3, loss=dict(variant="rld"), optim=dict(type="sgd"))
    assert m.loss.variant == 1 and m.optim.type == 0 and m.queue_size == 256
    assert mlcl.optim_options().type == 2 - 1  # Adam by default (optim.h)
