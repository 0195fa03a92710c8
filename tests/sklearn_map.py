#!/usr/bin/python3
"""Reference values for tests/test_metrics.c, computed with scikit-learn.

Usage: sklearn_map.py FILE...; for each file in turn: input "n c threshold", then n lines of c scores, then n
lines of c 0/1 labels. Output: one line of c per-label average precisions
(average_precision_score; "nan" for a label without positives), then one
line "HA miF1 maF1" at the threshold.
"""
import sys
import warnings

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, hamming_loss


def main(path):
    with open(path) as f:
        n, c, t = f.readline().split()
        n, c, t = int(n), int(c), np.float32(t)
        rows = [f.readline().split() for _ in range(2 * n)]
    s = np.array(rows[:n], dtype=np.float32)
    y = np.array(rows[n:], dtype=np.int64)
    ap = []
    for j in range(c):
        if y[:, j].sum() == 0:
            ap.append(float("nan"))
        else:
            ap.append(average_precision_score(y[:, j], s[:, j]))
    print(" ".join("%.17g" % v for v in ap))
    yh = (s >= t).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ha = 1.0 - hamming_loss(y, yh)
        mi = f1_score(y, yh, average="micro", zero_division=0)
        ma = f1_score(y, yh, average="macro", zero_division=0)
    print("%.17g %.17g %.17g" % (ha, mi, ma))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        main(arg)
