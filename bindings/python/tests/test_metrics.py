"""Metrics on a hand-worked case, the sweep against a loop, AP against scikit-learn."""
import numpy as np
import pytest

import mlcl

SCORES = np.array([[0.9, 0.2, 0.6, 0.3],
                   [0.4, 0.8, 0.1, 0.7],
                   [0.3, 0.35, 0.2, 0.1]], np.float32)
LABELS = np.array([[1, 0, 0, 0],
                   [0, 1, 1, 0],
                   [0, 0, 0, 1]], np.uint8)


def test_hand_worked_threshold_05():
    # yhat at 0.5: [1,0,1,0] [0,1,0,1] [0,0,0,0]
    m = mlcl.compute_metrics(SCORES, LABELS, 0.5)
    assert m["HA"] == pytest.approx(1 - 4 / 12)          # errors: (0,2) (1,2) (1,3) (2,3)
    # ebF1: row0 2*1/(1+2); row1 2*1/(2+2); row2 2*0/(1+0)
    assert m["ebF1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert m["ebf1_samples_skipped"] == 0
    # tp 2, fp 2, fn 2
    assert m["miF1"] == pytest.approx(4 / 8)
    # label F1: l0 1, l1 1, l2 (tp0 fp1 fn1) 0, l3 (tp0 fp1 fn1) 0
    assert m["maF1"] == pytest.approx(0.5)
    # top-1: row0 l0 (pos), row1 l1 (pos), row2 l1 (neg)
    assert m["p_at_1"] == pytest.approx(2 / 3)
    # AP: l0 1; l1 1; l2 scores .6(neg) .1(pos) .2(neg) -> pos ranked 3rd: 1/3;
    #     l3 scores .3(neg) .7(neg) .1(pos) -> 1/3
    assert m["mAP"] == pytest.approx((1 + 1 + 1 / 3 + 1 / 3) / 4)
    assert m["map_labels_used"] == 4 and m["map_labels_skipped"] == 0
    assert m["threshold"] == pytest.approx(0.5)
    ap = mlcl.average_precision(SCORES, LABELS)
    assert ap == pytest.approx([1, 1, 1 / 3, 1 / 3])


def test_sweep_is_the_best_over_thresholds(rng):
    s = rng.random((40, 6)).astype(np.float32)
    y = (rng.random((40, 6)) < 0.4).astype(np.uint8)
    best, best_t = mlcl.sweep_metrics(s, y)
    ts = [np.float32(k / 10) for k in range(1, 10)]
    per = [mlcl.compute_metrics(s, y, t) for t in ts]
    for name in ("HA", "ebF1", "miF1", "maF1"):
        vals = [p[name] for p in per]
        assert best[name] == pytest.approx(max(vals))
        assert best_t[name] == pytest.approx(float(ts[int(np.argmax(vals))]))
    assert np.isnan(best["threshold"])
    assert best["mAP"] == pytest.approx(per[0]["mAP"])


def test_average_precision_matches_sklearn(rng):
    skm = pytest.importorskip("sklearn.metrics")
    s = np.round(rng.random((60, 5)), 1).astype(np.float32)  # ties
    y = (rng.random((60, 5)) < 0.3).astype(np.uint8)
    y[:, 4] = 0
    ap = mlcl.average_precision(s, y)
    for j in range(4):
        assert ap[j] == pytest.approx(skm.average_precision_score(y[:, j], s[:, j]), abs=1e-6)
    assert np.isnan(ap[4])
    m = mlcl.compute_metrics(s, y)
    assert m["map_labels_skipped"] == 1 and m["mAP"] == pytest.approx(np.mean(ap[:4]))


def test_metric_errors():
    bad = LABELS.copy()
    bad[1, 2] = 3
    with pytest.raises(ValueError, match=r"labels\[1, 2\] = 3 is not 0 or 1"):
        mlcl.compute_metrics(SCORES, bad)
    s = SCORES.copy()
    s[2, 0] = np.nan
    with pytest.raises(mlcl.NumericError):
        mlcl.compute_metrics(s, LABELS)
    with pytest.raises(ValueError, match="labels has shape"):
        mlcl.compute_metrics(SCORES, LABELS[:2])
