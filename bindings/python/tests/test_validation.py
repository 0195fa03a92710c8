"""Validation rows: epoch selection and decision thresholds (train.h, metrics.h)."""
import json
import math

import numpy as np
import pytest

import mlcl


# ------------------------------------------------------------ brute-force reference

def _best(scores, labels):
    """(threshold, F1) maximising F1 = 2tp / (2tp + fp + fn) over the decisions
    score >= s for every distinct score s; ties to the highest s; the
    threshold halfway (float32) to the next lower distinct score."""
    s = np.asarray(scores, np.float32).ravel()
    y = np.asarray(labels, np.uint8).ravel().astype(bool)
    distinct = np.unique(s)[::-1]  # descending
    best = None
    for k, t in enumerate(distinct):
        pred = s >= t
        tp = int(np.sum(pred & y))
        fp = int(np.sum(pred & ~y))
        fn = int(np.sum(~pred & y))
        num, den = 2 * tp, 2 * tp + fp + fn
        if best is None or num * best[2] > best[1] * den:  # strictly better only
            best = (k, num, den)
    k = best[0]
    hi = distinct[k]
    if k + 1 < distinct.size:
        lo = distinct[k + 1]
        mid = np.float32(np.float32(0.5) * hi + np.float32(0.5) * lo)
        thr = mid if lo < mid <= hi else hi
    else:
        thr = hi
    return np.float32(thr), best[1] / best[2]


def _reference(scores, labels):
    n, c = scores.shape
    if labels.sum() == 0:
        return np.full(c, 0.5, np.float32), 0.5, np.full(c, np.nan)
    g, _ = _best(scores, labels)
    per = np.zeros(c, np.float32)
    f1 = np.full(c, np.nan)
    for j in range(c):
        if labels[:, j].sum() == 0:
            per[j] = g
        else:
            per[j], f1[j] = _best(scores[:, j], labels[:, j])
    return per, float(g), f1


@pytest.mark.parametrize("seed", range(6))
def test_choose_thresholds_equals_brute_force(seed):
    r = np.random.default_rng(seed)
    n, c = int(r.integers(3, 40)), int(r.integers(1, 7))
    scores = r.random((n, c)).astype(np.float32)
    if seed % 2:  # ties: scores on a coarse grid
        scores = (np.round(scores * 8) / 8).astype(np.float32)
    labels = (r.random((n, c)) < 0.35).astype(np.uint8)
    if seed == 3:
        labels[:, 0] = 0  # a label without positives takes the global threshold
    per, g, f1 = mlcl.choose_thresholds(scores, labels)
    rper, rg, rf1 = _reference(scores, labels)
    assert per.dtype == np.float32 and per.shape == (c,)
    assert np.array_equal(per, rper), (per, rper)
    assert g == rg
    assert np.array_equal(np.isnan(f1), np.isnan(rf1))
    assert np.allclose(f1[~np.isnan(f1)], rf1[~np.isnan(rf1)], rtol=0, atol=1e-15)
    # the chosen thresholds reproduce the chosen decisions: the per-label F1
    # computed at them is the best one
    if (labels.sum(0) > 0).all():
        m = mlcl.compute_with_thresholds(scores, labels, per)
        assert math.isnan(m["threshold"])
        assert m["maF1"] == pytest.approx(np.mean(rf1), abs=1e-6)


def test_choose_thresholds_no_positive_and_bad_inputs():
    s = np.array([[0.2, 0.9], [0.4, 0.1]], np.float32)
    per, g, f1 = mlcl.choose_thresholds(s, np.zeros((2, 2), np.uint8))
    assert g == 0.5 and np.array_equal(per, [0.5, 0.5]) and np.isnan(f1).all()
    with pytest.raises(ValueError, match="not 0 or 1"):
        mlcl.choose_thresholds(s, [[0, 2], [1, 0]])
    with pytest.raises(ValueError, match="shape"):
        mlcl.choose_thresholds(s, np.zeros((2, 3)))
    with pytest.raises(mlcl.NumericError):
        mlcl.choose_thresholds(np.array([[np.nan, 0.1]], np.float32), [[1, 0]])


def test_compute_with_thresholds_matches_numpy():
    r = np.random.default_rng(7)
    s = r.random((30, 4)).astype(np.float32)
    y = (r.random((30, 4)) < 0.4).astype(np.uint8)
    t = np.array([0.3, 0.5, 0.7, 0.45], np.float32)
    m = mlcl.compute_with_thresholds(s, y, t)
    pred = s >= t
    assert m["HA"] == pytest.approx(1 - np.mean(pred != y.astype(bool)), abs=1e-12)
    tp = np.sum(pred & (y == 1))
    fp = np.sum(pred & (y == 0))
    fn = np.sum(~pred & (y == 1))
    assert m["miF1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-12)
    # one value for every label = compute_metrics at that threshold
    one = mlcl.compute_with_thresholds(s, y, 0.4)
    ref = mlcl.compute_metrics(s, y, 0.4)
    for k in ("HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP"):
        assert one[k] == ref[k]
    with pytest.raises(ValueError, match="not finite"):
        mlcl.compute_with_thresholds(s, y, [0.1, np.inf, 0.2, 0.3])
    with pytest.raises(ValueError, match="shape"):
        mlcl.compute_with_thresholds(s, y, [0.1, 0.2])


# --------------------------------------------------------------- the trainer on Yeast

def test_yeast_validation_selection_and_thresholds(yeast, tmp_path):
    train_full, test = yeast
    fit, val = train_full.split(0.2, seed=5)
    tr = mlcl.Trainer(fit, preset="yeast", method="mulsupcon", batch=256, seed=3,
                      moco=dict(queue_size=512), pretrain=dict(epochs=2),
                      finetune=dict(epochs=3))
    try:
        with pytest.raises(mlcl.InvalidArgument):
            tr.selection()  # no validation set yet
        with pytest.raises(ValueError, match="select_metric"):
            tr.set_validation(val, select_metric="accuracy")
        with pytest.raises(ValueError, match="patience needs"):
            tr.set_validation(val, patience=2)
        with pytest.raises(ValueError, match="thresholds"):
            tr.set_validation(val, thresholds="best")
        with pytest.raises(ValueError, match="features"):
            tr.set_validation(mlcl.Dataset.from_arrays(np.zeros((4, 5)), np.zeros((4, 14))))
        tr.set_validation(val, select_metric="mAP", patience=0, thresholds="per-label")
        assert tr.validation is val
        with pytest.raises(mlcl.BusyError):
            val.close()  # borrowed by the trainer
        with pytest.raises(mlcl.InvalidArgument):
            tr.thresholds()  # not chosen yet
        values = []
        done = False
        while not done:
            done = tr.run_epochs(1)
            sel = tr.selection()
            if tr.position[0] >= 2 and not math.isnan(sel["last_value"]):
                values.append(sel["last_value"])
        sel = tr.selection()
        assert sel["epochs_run"] == 3 == len(values)
        best = int(np.argmax(values))  # the earliest on ties
        assert sel["best_epoch"] == best
        assert sel["best_value"] == values[best]
        assert 0.0 < sel["best_value"] <= 1.0
        # after the run the networks are the best epoch's: the validation mAP now is its value
        vs = tr.predict(val.features)
        assert mlcl.compute_metrics(vs, val.labels)["mAP"] == pytest.approx(sel["best_value"],
                                                                           abs=1e-9)
        per, g = tr.thresholds()
        assert per.shape == (14,) and per.dtype == np.float32
        assert ((per >= 0) & (per <= 1)).all() and 0 <= g <= 1
        # chosen on the validation rows, by the same rule as choose_thresholds
        cper, cg, _ = mlcl.choose_thresholds(vs, val.labels)
        assert np.array_equal(per, cper) and g == cg
        ev = tr.evaluate_thresholds(test)
        ts = tr.predict(test.features)
        ref = mlcl.compute_with_thresholds(ts, test.labels, per)
        refg = mlcl.compute_metrics(ts, test.labels, g)
        for k in ("HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP"):
            assert ev["per_label"][k] == pytest.approx(ref[k], abs=1e-12)
            assert ev["global"][k] == pytest.approx(refg[k], abs=1e-12)
        with pytest.raises(mlcl.InvalidArgument):
            tr.set_validation(None)  # fine-tuning already started
        model = tr.export_model()
        try:
            assert np.array_equal(model.thresholds, per)
            assert np.array_equal(model.predict_labels(test.features[:50]),
                                  (ts[:50] >= per).astype(np.uint8))
            p = tmp_path / "m.mlclm"
            model.save(str(p))
        finally:
            model.close()
        with mlcl.Model.load(str(p)) as m2:
            assert np.array_equal(m2.thresholds, per)
    finally:
        tr.close()
    val.close()  # released with the trainer


def test_global_thresholds_and_none(yeast):
    train_full, _ = yeast
    fit, val = train_full.split(0.25, seed=9)
    with mlcl.Trainer(fit, method="none", batch=256, seed=1, pretrain=dict(epochs=0),
                      finetune=dict(epochs=2)) as tr:
        tr.set_validation(val, thresholds="global")
        tr.run()
        sel = tr.selection()
        assert sel["best_epoch"] == -1 and sel["epochs_run"] == 2  # no selection metric
        per, g = tr.thresholds()
        assert np.all(per == np.float32(g))
    with mlcl.Trainer(fit, method="none", batch=256, seed=1, pretrain=dict(epochs=0),
                      finetune=dict(epochs=1)) as tr:
        tr.set_validation(val, thresholds="none")
        tr.run()
        with pytest.raises(mlcl.InvalidArgument):
            tr.thresholds()
        with pytest.raises(mlcl.InvalidArgument):
            tr.evaluate_thresholds(val)


# ------------------------------------------------------------ the Python CLI

def test_cli_val_split_without_test(yeast_paths, tmp_path):
    from conftest import run_py
    js = tmp_path / "r.json"
    r = run_py(["-m", "mlcl.train", "--train", yeast_paths[0], "--val-split", "0.2",
                "--pretrain-epochs", "1", "--finetune-epochs", "1", "--batch", "256",
                "--queue", "256", "--quiet", "--json", str(js)], timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(js.read_text())
    assert doc["evaluated_on"] == "validation"
    assert (doc["n_train"], doc["n_test"]) == (1200, 300)  # Yeast train has 1500 rows
    assert 0 < doc["metrics"]["t05"]["HA"] <= 1
    r = run_py(["-m", "mlcl.train", "--train", yeast_paths[0]])
    assert r.returncode == 2 and "--train needs --test (or --val-split" in r.stderr
    r = run_py(["-m", "mlcl.train", "--train", yeast_paths[0], "--test", yeast_paths[1],
                "--select-metric", "mAP"])
    assert r.returncode == 2 and "--select-metric does not apply without --val-split" in r.stderr
    r = run_py(["-m", "mlcl.train", "--train", yeast_paths[0], "--test", yeast_paths[1],
                "--patience", "2"])
    assert r.returncode == 2 and "--patience does not apply without --val-split" in r.stderr
    r = run_py(["-m", "mlcl.train", "--train", yeast_paths[0], "--val-split", "0.95"])
    assert r.returncode == 2 and "0.95" in r.stderr


def test_cli_val_split_with_test(yeast_paths, tmp_path):
    """--val-split with --test: thresholds and the epoch chosen on the held-out
    rows, the report on the test set (as mlcl-train)."""
    from conftest import run_py
    js = tmp_path / "t.json"
    r = run_py(["-m", "mlcl.train", "--train", yeast_paths[0], "--test", yeast_paths[1],
                "--val-split", "0.2", "--select-metric", "miF1", "--patience", "1",
                "--pretrain-epochs", "1", "--finetune-epochs", "4", "--batch", "256",
                "--queue", "256", "--quiet", "--json", str(js)], timeout=300)
    assert r.returncode == 0, r.stderr
    assert "val thresholds/label" in r.stdout and "val threshold, global" in r.stdout
    doc = json.loads(js.read_text())
    v, m = doc["validation"], doc["metrics"]
    assert doc["evaluated_on"] == "test"
    assert (doc["n_train"], doc["n_test"], v["rows"]) == (1200, 917, 300)
    assert v["select_metric"] == "miF1" and v["patience"] == 1
    assert 0 <= v["best_epoch"] < v["epochs_run"] <= 4
    assert v["epochs_run"] == 4 or v["epochs_run"] == v["best_epoch"] + 2
    assert 0 < v["best_value"] <= 1 and 0 < v["global_threshold"] < 1
    # the thresholds change the thresholded metrics, never the ranking ones
    assert m["validation_thresholds"]["mAP"] == m["t05"]["mAP"]
    assert m["validation_thresholds"]["miF1"] != m["t05"]["miF1"]
