"""The six multi-label metrics and the paper's threshold sweep (metrics.h).

Inputs are not hot paths: scores are converted to C-contiguous float32 and
labels to uint8 (a copy when needed; labels must be bools or numbers exactly
0 or 1, anything else is a ValueError).
"""

import ctypes

import numpy as np

from ._lib import C, Metrics, METRICS_VERSION
from ._util import as_input, labels01, ptr, to_int

METRIC_NAMES = ("HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP")


def _struct():
    m = Metrics()
    C.mlcl_metrics_init(ctypes.byref(m), METRICS_VERSION)
    return m


def metrics_dict(m):
    """An mlcl_metrics struct as a dict."""
    return {name: getattr(m, name) for name, _ in Metrics._fields_ if name != "version"}


def _inputs(scores, labels):
    s = as_input("scores", scores, np.float32, ndim=2)
    y = labels01("labels", labels, s.shape)
    for name, v in (("rows", s.shape[0]), ("columns", s.shape[1])):
        to_int(name, v)
    return s, y


def compute_metrics(scores, labels, threshold=0.5):
    """All six metrics at one threshold -> dict (HA, ebF1, miF1, maF1, p_at_1,
    mAP, map_labels_used, map_labels_skipped, ebf1_samples_skipped, threshold)."""
    s, y = _inputs(scores, labels)
    m = _struct()
    C.mlcl_metrics_compute(ctypes.byref(m), s.shape[0], s.shape[1], ptr(s, np.float32),
                           ptr(y, np.uint8), float(threshold))
    return metrics_dict(m)


def sweep_metrics(scores, labels):
    """The paper protocol: best HA/ebF1/miF1/maF1 over t = 0.1 .. 0.9 each.
    Returns (metrics dict, {"HA": t, "ebF1": t, "miF1": t, "maF1": t})."""
    s, y = _inputs(scores, labels)
    m = _struct()
    bt = (ctypes.c_float * 4)()
    C.mlcl_metrics_sweep(ctypes.byref(m), bt, s.shape[0], s.shape[1], ptr(s, np.float32),
                         ptr(y, np.uint8))
    return metrics_dict(m), dict(zip(("HA", "ebF1", "miF1", "maF1"), (float(v) for v in bt)))


def average_precision(scores, labels):
    """Per-label average precision (float64, NaN for labels without positives)."""
    s, y = _inputs(scores, labels)
    out = np.zeros(s.shape[1], dtype=np.float64)
    C.mlcl_metrics_average_precision(ptr(out, np.float64), s.shape[0], s.shape[1],
                                     ptr(s, np.float32), ptr(y, np.uint8))
    return out


def compute_with_thresholds(scores, labels, thresholds):
    """All six metrics with one threshold per label (label j predicted when its
    score >= thresholds[j]; ``thresholds`` one value or c finite values) ->
    dict as compute_metrics() (``threshold`` is NaN)."""
    s, y = _inputs(scores, labels)
    c = s.shape[1]
    t = np.asarray(thresholds, dtype=np.float32)
    if t.ndim == 0:
        t = np.full(c, t, np.float32)
    t = as_input("thresholds", t, np.float32, (c,))
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise ValueError("thresholds[%d] = %r is not finite" % (bad[0], float(t[bad[0]])))
    m = _struct()
    C.mlcl_metrics_compute_thresholds(ctypes.byref(m), s.shape[0], c, ptr(s, np.float32),
                                      ptr(y, np.uint8), ptr(t, np.float32))
    return metrics_dict(m)


def choose_thresholds(scores, labels):
    """Decision thresholds chosen on validation rows (never the test set):
    -> (per_label float32 (c,), global float, f1 float64 (c,)). Per label: the
    threshold maximising that label's F1 (labels without a positive row get
    the global one, and F1 NaN); global: the one maximising micro-F1. Ties go
    to the highest score; each threshold lies midway between the chosen score
    and the next lower distinct one (see metrics.h)."""
    s, y = _inputs(scores, labels)
    c = s.shape[1]
    per = np.zeros(c, np.float32)
    f1 = np.zeros(c, np.float64)
    g = ctypes.c_float()
    C.mlcl_metrics_choose_thresholds(ptr(per, np.float32), ctypes.byref(g), ptr(f1, np.float64),
                                     s.shape[0], c, ptr(s, np.float32), ptr(y, np.uint8))
    return per, float(g.value), f1
