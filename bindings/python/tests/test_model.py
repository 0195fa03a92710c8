"""mlcl.Model and Trainer.export_model: predictions equal the trainer's,
save/load, validation of inputs, thresholds and names, concurrent calls,
close() while calls run, pickling, export, and models written by mlcl-train."""
import json
import os
import pickle
import subprocess
import threading

import numpy as np
import pytest

import mlcl
from conftest import REPO
from test_model_interop import read_safetensors, write_safetensors

EPOCHS = dict(pretrain=dict(epochs=1), finetune=dict(epochs=1))


@pytest.fixture(scope="module")
def trained(yeast):
    tr, te = yeast
    t = mlcl.Trainer(tr, preset="yeast", seed=7, **EPOCHS)
    t.run()
    metrics = t.evaluate(te)
    m = t.export_model(train_path="yeast-train.arff.gz", test_path="yeast-test.arff.gz",
                       metrics=metrics)
    yield t, m, metrics
    m.close()
    t.close()


def test_export_predicts_as_the_trainer(trained, yeast):
    t, m, _ = trained
    x = yeast[1].features
    s = m.predict(x)
    assert s.dtype == np.float32 and s.shape == (917, 14)
    assert np.array_equal(s, t.predict(x))                      # bit for bit
    d = m.distributions(x)
    assert np.array_equal(d, t.distributions(x))
    np.testing.assert_allclose(d.sum(axis=1), 1.0, atol=1e-5)
    lab = m.predict_labels(x)
    assert lab.dtype == np.uint8 and lab.shape == (917, 14)
    assert np.array_equal(lab, (s >= 0.5).astype(np.uint8))
    e = m.embed(x)
    assert e.shape == (917, m.embed_dim) and m.embed_dim == 256
    assert np.isfinite(e).all() and e.std() > 0
    # the trainer can go: the model does not depend on it or its data
    m2 = t.export_model()
    sub = x[:50].copy()
    ref = m2.predict(sub)
    assert np.array_equal(ref, t.predict(sub))
    # BLAS blocking depends on the row count: other batches agree to rounding
    np.testing.assert_allclose(ref, s[:50], rtol=1e-5, atol=1e-6)
    m2.close()
    assert m2.closed
    with pytest.raises(ValueError, match="closed"):
        m2.predict(sub)
    m2.close()  # twice: no-op


def test_properties_info_and_provenance(trained, yeast):
    _, m, metrics = trained
    assert (m.n_features, m.n_labels, m.embed_dim) == (103, 14, 256)
    assert m.label_names == ["Class%d" % i for i in range(1, 15)]
    assert m.image_shape is None
    mean, std = m.standardization
    xt = yeast[0].features
    np.testing.assert_allclose(mean, xt.mean(axis=0), atol=1e-4)
    assert (std > 0).all()
    info = m.info()
    assert info["n_features"] == 103 and info["n_labels"] == 14 and info["standardized"]
    assert info["thresholds"] == [0.5] * 14
    assert info["label_names"][0] == "Class1"
    assert "Linear(103," in info["architecture"]
    p = info["provenance"]
    assert p["method"] == "cld" and p["seed"] == "7" and p["train_rows"] == "1500"
    assert p["train_file"] == "yeast-train.arff.gz" and p["test_file"] == "yeast-test.arff.gz"
    assert p["train_hash"].startswith("fnv1a64:")
    assert abs(float(p["test_paper_mAP"]) - metrics["paper"]["mAP"]) < 1e-12
    assert abs(float(p["test_t05_miF1"]) - metrics["t05"]["miF1"]) < 1e-12
    assert m.get_provenance("method") == "cld"
    assert m.get_provenance("no_such_key") is None
    assert m.get_provenance("no_such_key", "x") == "x"
    with pytest.raises(ValueError, match="NUL"):
        m.get_provenance("method\0junk")
    assert "method cld" in repr(m)


def test_save_load_round_trip(trained, yeast, tmp_path):
    _, m, _ = trained
    x = yeast[1].features
    path = tmp_path / "yeast.mlcl"
    m.save(path)
    ck = tmp_path / "yeast.ckpt"
    trained[0].save(str(ck))
    assert os.path.getsize(path) * 3 <= os.path.getsize(ck)
    with mlcl.Model.load(str(path)) as m2:
        assert np.array_equal(m2.predict(x), m.predict(x))
        assert np.array_equal(m2.embed(x), m.embed(x))
        assert m2.info() == m.info()
    # bad files are clean errors naming the file
    data = path.read_bytes()
    bad = tmp_path / "flipped.mlcl"
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    bad.write_bytes(bytes(flipped))
    with pytest.raises(mlcl.MlclError, match="flipped.mlcl"):
        mlcl.Model.load(bad)
    short = tmp_path / "short.mlcl"
    short.write_bytes(data[:len(data) // 3])
    with pytest.raises((mlcl.FormatError, mlcl.ChecksumError), match="short.mlcl"):
        mlcl.Model.load(short)
    with pytest.raises(mlcl.IOFailure):
        mlcl.Model.load(tmp_path / "missing.mlcl")
    with pytest.raises(ValueError, match="NUL"):
        mlcl.Model.load(str(path) + "\0junk")  # C would open yeast.mlcl
    with pytest.raises(ValueError, match="NUL"):
        m.save(str(tmp_path / "x.mlcl\0"))
    with pytest.raises(TypeError, match="path"):
        mlcl.Model.load(3.5)
    with pytest.raises(mlcl.FormatError):
        mlcl.Model.load(ck)  # a checkpoint is not a model


def test_pickle_and_bytes(trained, yeast):
    _, m, _ = trained
    x = yeast[1].features[:100]
    m2 = pickle.loads(pickle.dumps(m))
    assert m2 is not m and np.array_equal(m2.predict(x), m.predict(x))
    assert m2.provenance == m.provenance
    m3 = mlcl.Model.from_bytes(m.to_bytes())
    assert np.array_equal(m3.distributions(x), m.distributions(x))
    with pytest.raises(mlcl.MlclError):
        mlcl.Model.from_bytes(b"MLCLMODL" + b"\0" * 40)


def test_input_validation(trained, yeast):
    _, m, _ = trained
    x = yeast[1].features[:40]
    ref = m.predict(x)
    # float64, Fortran order, strided views and lists are converted (a copy only then)
    assert np.array_equal(m.predict(x.astype(np.float64)), ref)
    assert np.array_equal(m.predict(np.asfortranarray(x)), ref)
    wide = np.zeros((40, 206), np.float32)
    wide[:, ::2] = x
    assert np.array_equal(m.predict(wide[:, ::2]), ref)
    assert np.array_equal(m.predict(x.tolist()), ref)
    np.testing.assert_allclose(m.predict(x[:3].tolist()), ref[:3], rtol=1e-5, atol=1e-6)
    assert m.predict(np.zeros((0, 103), np.float32)).shape == (0, 14)
    assert m.embed(np.zeros((0, 103))).shape == (0, 256)
    with pytest.raises(ValueError, match="2-dimensional"):
        m.predict(x[0])
    with pytest.raises(ValueError, match="102 features per row, the model takes 103"):
        m.predict(x[:, :102])
    bad = x.copy()
    bad[5, 3] = np.nan
    bad[17, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 row\(s\): 5, 17"):
        m.predict(bad)
    with pytest.raises(ValueError, match="NaN or Inf"):
        m.predict(np.full((2, 103), 1e39))  # finite float64, infinite as float32
    with pytest.raises(TypeError, match="numbers"):
        m.predict(np.array([["a"] * 103]))


def test_thresholds_and_label_names(trained, yeast, tmp_path):
    _, m0, _ = trained
    m = pickle.loads(pickle.dumps(m0))  # a private copy to modify
    x = yeast[1].features
    s = m.predict(x)
    m.thresholds = 0.3
    assert np.array_equal(m.thresholds, np.full(14, 0.3, np.float32))
    assert np.array_equal(m.predict_labels(x), (s >= np.float32(0.3)).astype(np.uint8))
    t = np.linspace(0.1, 0.9, 14).astype(np.float32)
    m.thresholds = t
    assert np.array_equal(m.predict_labels(x), (s >= t).astype(np.uint8))
    for badt, msg in ((1.5, "outside"), ([0.5] * 13, "14 values"), (np.nan, "outside")):
        with pytest.raises(ValueError, match=msg):
            m.thresholds = badt
    assert np.array_equal(m.thresholds, t)  # unchanged
    names = ["l%02d" % j for j in range(14)]
    m.label_names = names
    assert m.label_names == names
    with pytest.raises(ValueError, match="13 names"):
        m.label_names = names[:13]
    with pytest.raises(mlcl.InvalidArgument, match="names"):
        m.label_names = ["ok"] * 13 + ["two\nlines"]
    assert m.label_names == names
    m.set_provenance("val_mAP", "0.5")
    m.save(tmp_path / "m.mlcl")
    m2 = mlcl.Model.load(tmp_path / "m.mlcl")
    assert m2.label_names == names and np.array_equal(m2.thresholds, t)
    assert m2.get_provenance("val_mAP") == "0.5"
    with pytest.raises(mlcl.InvalidArgument):
        m2.set_provenance("bad key", "v")
    # the original is untouched
    assert m0.label_names[0] == "Class1" and m0.thresholds[0] == 0.5


def test_export_model_options(yeast):
    tr, te = yeast
    x, y = tr.features[:300], tr.labels[:300]
    with mlcl.Dataset.from_arrays(x, y) as ds, mlcl.Trainer(ds, seed=1, batch=64, **EPOCHS) as t:
        t.run_epochs(1)  # mid-training exports are allowed and recorded
        m = t.export_model()
        assert m.label_names == ["label%d" % j for j in range(14)]
        assert m.get_provenance("exported_at").startswith("phase 2")
        m = t.export_model(label_names=list("abcdefghijklmn"), thresholds=0.25)
        assert m.label_names[2] == "c" and np.allclose(m.thresholds, 0.25)
        with pytest.raises(ValueError, match="13 names"):
            t.export_model(label_names=list("abcdefghijklm"))
        with pytest.raises(mlcl.InvalidArgument, match="threshold"):
            t.export_model(thresholds=[0.5] * 13 + [2.0])
        with pytest.raises(TypeError, match="evaluate"):
            t.export_model(metrics={"mAP": 0.3})
        assert np.array_equal(m.predict(te.features[:20]), t.predict(te.features[:20]))


def test_threads_share_one_model(trained, yeast):
    _, m, _ = trained
    x = yeast[1].features
    refs = []
    for i in range(8):  # one thread first, on the same row sets
        rows = np.arange(i, 917, 8)
        refs.append((m.predict(x[rows]), m.embed(x[rows])))
    out = [None] * 8
    errors = []

    def work(i):
        try:
            rows = np.arange(i, 917, 8)
            for _ in range(3):
                s = m.predict(x[rows])
                e = m.embed(x[rows])
            out[i] = (rows, s, e)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    ths = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert errors == []
    for (rows, s, e), (rs, re) in zip(out, refs):
        assert np.array_equal(s, rs) and np.array_equal(e, re)


def test_setters_wait_for_running_calls(trained, yeast):
    m = pickle.loads(pickle.dumps(trained[1]))
    x = yeast[1].features
    s = m.predict(x)
    allowed = [(s >= np.float32(t)).astype(np.uint8) for t in (0.2, 0.8)]
    m.thresholds = 0.2
    stop = threading.Event()
    seen, errors = [], []

    def reader():
        try:
            while not stop.is_set():
                lab = m.predict_labels(x)
                seen.append(any(np.array_equal(lab, a) for a in allowed))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    ths = [threading.Thread(target=reader) for _ in range(3)]
    for th in ths:
        th.start()
    for k in range(12):
        m.thresholds = (0.2, 0.8)[k % 2]
    stop.set()
    for th in ths:
        th.join()
    assert errors == [] and seen and all(seen)  # never a mix of two threshold sets


def test_close_while_predicting_is_deferred(trained, yeast):
    m = pickle.loads(pickle.dumps(trained[1]))
    x = np.tile(yeast[1].features, (10, 1))  # ~9k rows: each call takes a while
    ref = m.predict(x)
    results, errors = [], []

    def work():
        try:
            results.append(m.predict(x))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    ths = [threading.Thread(target=work) for _ in range(2)]
    for th in ths:
        th.start()
    while m._busy < 2 and all(th.is_alive() for th in ths):
        pass
    assert m._busy == 2  # close() below runs while both predict() calls run in C
    m.close()
    assert m.closed
    assert m._ptr  # not freed under the running calls
    with pytest.raises(ValueError, match="closed"):
        m.predict(x[:5])
    for th in ths:
        th.join()
    assert m._ptr is None  # freed by the last call
    assert errors == [] and len(results) == 2
    for r in results:
        assert np.array_equal(r, ref)


def test_export_formats(trained, tmp_path):
    _, m, _ = trained
    with pytest.raises(ValueError, match="format"):
        m.export(tmp_path / "m.bin")
    for ext, sym in mlcl._lib.MODEL_EXPORTERS.items():
        path = tmp_path / ("m" + ext)
        if not hasattr(mlcl._lib.lib, sym):
            with pytest.raises(NotImplementedError, match=sym):
                m.export(path)
            assert not path.exists()
            continue
        m.export(path)
        data = path.read_bytes()
        assert len(data) > 4 * 103 * 256  # at least the first layer's weights
        if ext == ".safetensors":
            n = int.from_bytes(data[:8], "little")
            header = json.loads(data[8:8 + n])
            assert any(v["shape"] == [256, 103] for k, v in header.items() if k != "__metadata__")
        elif ext == ".npz":
            with np.load(path) as z:
                assert any(z[k].shape == (256, 103) for k in z.files)
    # format= overrides the extension
    sym = mlcl._lib.MODEL_EXPORTERS[".onnx"]
    if not hasattr(mlcl._lib.lib, sym):
        with pytest.raises(NotImplementedError, match=sym):
            m.export(tmp_path / "graph", format="onnx")


def test_model_from_mlcl_train(yeast, yeast_paths, tmp_path):
    exe = os.path.join(REPO, "bin", "mlcl-train")
    if not os.access(exe, os.X_OK):
        pytest.skip("bin/mlcl-train not built")
    path, js = tmp_path / "cli.mlcl", tmp_path / "r.json"
    r = subprocess.run([exe, "--train", yeast_paths[0], "--test", yeast_paths[1], "--preset", "yeast",
                        "--pretrain-epochs", "1", "--finetune-epochs", "1", "--seed", "2", "--quiet",
                        "--save-model", str(path), "--json", str(js)], capture_output=True, text=True,
                       env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(REPO, "lib")))
    if r.returncode != 0 and "save-model" in r.stderr:
        pytest.skip("this mlcl-train has no --save-model")
    assert r.returncode == 0, r.stderr
    m = mlcl.Model.load(str(path))
    te = yeast[1]
    got = mlcl.compute_metrics(m.predict(te.features), te.labels)["mAP"]
    want = json.loads(js.read_text())["metrics"]["t05"]["mAP"]
    assert abs(got - want) < 1e-6
    assert m.get_provenance("seed") == "2" and m.label_names[-1] == "Class14"


def test_resnet_model_takes_images(tmp_path):
    try:
        tr = mlcl.Dataset.fashion_mosaic(16, seed=4, grid=1)
    except mlcl.MlclError as e:
        pytest.skip("Fashion-MNIST not installed: %s" % e)
    c, h, w = tr.image_shape
    bb = mlcl.Encoder.resnet(18, stem="small", in_channels=c, height=16, width=16, base_width=4,
                             max_batch=8)
    views = {"out_h": 16, "out_w": 16}
    with mlcl.Trainer(tr, backbone=bb, pretrain_views=views,
                      finetune_views=dict(views, jitter_p=0.0, gray_p=0.0, blur_p=0.0), batch=8,
                      seed=1, moco=dict(queue_size=16, proj_dim=8), pretrain=dict(epochs=1),
                      finetune=dict(epochs=1)) as t:
        t.run()
        m = t.export_model()
        x = tr.features
        ref = t.predict(x)
    bb.close()
    assert m.image_shape == (c, h, w, 16, 16) and m.standardization is None
    assert m.n_features == c * h * w and m.embed_dim == 32  # 8 x base_width
    assert "ResNet" in m.architecture or "resnet" in m.architecture.lower()
    assert np.array_equal(m.predict(x), ref)
    assert np.array_equal(m.predict(x.reshape(len(x), c, h, w)), ref)  # (n, C, H, W) as well
    with pytest.raises(ValueError, match="2-dimensional"):
        m.predict(x.reshape(len(x), c, h * w, 1))
    m.save(tmp_path / "r.mlcl")
    with mlcl.Model.load(tmp_path / "r.mlcl") as m2:
        assert np.array_equal(m2.predict(x), ref)
        assert np.array_equal(m2.embed(x), m.embed(x))


def _numpy_scores(X, t):
    """The MLP Linear(4,3) ReLU Linear(3,3, no bias), head Linear(3,2), sigmoid, in float64."""
    h = np.maximum(X @ t["backbone.0.weight"].T + t["backbone.0.bias"], 0) @ t["backbone.2.weight"].T
    return h, 1 / (1 + np.exp(-(h @ t["head.weight"].T + t["head.bias"])))


def test_create_and_import_safetensors(tmp_path, rng):
    e = mlcl.Encoder(4, seed=11)
    e.add_linear(3)
    e.add_relu()
    e.add_linear(3, bias=False)
    m = mlcl.Model.create(e, 2, seed=3)
    assert (m.n_features, m.n_labels, m.embed_dim) == (4, 2, 3)
    assert m.standardization is None and np.array_equal(m.thresholds, [0.5, 0.5])
    X = rng.standard_normal((6, 4)).astype(np.float32)
    # the backbone was copied: the model embeds as the encoder computes
    np.testing.assert_allclose(m.embed(X), e.forward(X), rtol=1e-6, atol=1e-6)
    e.close()  # the model does not borrow it
    before = m.predict(X)
    assert before.shape == (6, 2)
    # the tensor names are the export's; the values come from numpy here
    m.export(tmp_path / "own.safetensors")
    names, _ = read_safetensors(tmp_path / "own.safetensors")
    assert set(names) == {"backbone.0.weight", "backbone.0.bias", "backbone.2.weight", "head.weight", "head.bias",
                          "thresholds"}
    t = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in names.items() if k != "thresholds"}
    t["thresholds"] = np.array([0.25, 0.75], np.float32)
    write_safetensors(tmp_path / "w.safetensors", t)
    m.import_safetensors(tmp_path / "w.safetensors")
    h, ref = _numpy_scores(X.astype(np.float64), {k: v.astype(np.float64) for k, v in t.items()})
    np.testing.assert_allclose(m.embed(X), h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.predict(X), ref, rtol=1e-5, atol=1e-6)
    assert np.array_equal(m.thresholds, [0.25, 0.75])
    assert np.array_equal(m.predict_labels(X), (m.predict(X) >= t["thresholds"]).astype(np.uint8))
    # a bad file changes nothing: a missing tensor is named, the model unchanged
    after = m.predict(X)
    partial = {k: v for k, v in t.items() if k != "head.bias"}
    write_safetensors(tmp_path / "partial.safetensors", partial)
    with pytest.raises(mlcl.FormatError, match="head.bias"):
        m.import_safetensors(tmp_path / "partial.safetensors")
    assert np.array_equal(m.predict(X), after)
    # backbone_only: the head stays; other prefixes and unused tensors by option
    t2 = {k.replace("backbone.", "net."): -v for k, v in t.items() if k.startswith("backbone.")}
    t2["fc.weight"] = np.ones((2, 3), np.float32)
    write_safetensors(tmp_path / "net.safetensors", t2)
    with pytest.raises(mlcl.FormatError, match="fc.weight"):
        m.import_safetensors(tmp_path / "net.safetensors", backbone_prefix="net.", backbone_only=True)
    assert np.array_equal(m.predict(X), after)
    m.import_safetensors(tmp_path / "net.safetensors", backbone_prefix="net.", backbone_only=True, allow_unused=True)
    neg = {k: (-v if k.startswith("backbone.") else v).astype(np.float64) for k, v in t.items()}
    np.testing.assert_allclose(m.predict(X), _numpy_scores(X.astype(np.float64), neg)[1], rtol=1e-5, atol=1e-6)
    # the imported model saves and loads like any other
    m.save(tmp_path / "m.mlcl")
    m2 = mlcl.Model.load(tmp_path / "m.mlcl")
    assert np.array_equal(m2.predict(X), m.predict(X))
    m2.close()
    # argument checks
    with pytest.raises(TypeError, match="Encoder"):
        mlcl.Model.create("mlp", 2)
    with pytest.raises(ValueError, match="n_labels"):
        mlcl.Model.create(mlcl.Encoder(4), 0)
    with pytest.raises(mlcl.InvalidArgument, match="no layer"):
        mlcl.Model.create(mlcl.Encoder(4), 2)
    with pytest.raises(ValueError, match="NUL"):
        m.import_safetensors("w.safetensors\0x")
    with pytest.raises(TypeError, match="backbone_prefix"):
        m.import_safetensors(tmp_path / "w.safetensors", backbone_prefix=1)
    with pytest.raises(mlcl.IOFailure):
        m.import_safetensors(tmp_path / "absent.safetensors")
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.import_safetensors(tmp_path / "w.safetensors")
