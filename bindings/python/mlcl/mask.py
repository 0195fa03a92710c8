"""Positive sets over packed labels (mask.h): ANY / ALL masks, label-wise counts.

Labels may be given packed (uint64, n x words) or as a 0/1 matrix (uint8/bool,
n x c), which is packed first; ``c`` is needed with packed labels.
"""

import numpy as np

from ._lib import C
from ._util import as_input, ptr, to_int
from .queue import label_words, pack_labels

MODES = {"any": 0, "all": 1}


def _mode(mode):
    if isinstance(mode, str):
        if mode.lower() not in MODES:
            raise ValueError("mode must be 'any' or 'all' (got %r)" % mode)
        return MODES[mode.lower()]
    return to_int("mode", mode)


def _packed(name, y, c):
    """-> (packed uint64 array, c)."""
    if y is None:
        return None, c
    a = np.asarray(y)
    if a.dtype == np.uint64:
        if c is None:
            raise ValueError("c (the number of labels) is needed with packed %s" % name)
        return as_input(name, a, np.uint64, (None, label_words(c))), c
    if a.ndim != 2:
        raise ValueError("%s must be 2-dimensional" % name)
    if c is not None and a.shape[1] != c:
        raise ValueError("%s has %d columns, c is %d" % (name, a.shape[1], c))
    return pack_labels(a), a.shape[1]


def _rows(a):
    return 0 if a is None else a.shape[0]


def build_mask(y_anchor, y_cand, y_cand2=None, mode="any", c=None, counts_only=False):
    """The n x (N1+N2) positive mask (uint8) and |P(i)| counts (int32).

    ``y_cand2`` (optional) is a second candidate part (e.g. a queue's filled
    labels), appended after ``y_cand`` without copying in C (mlcl_mask_build's
    second part).
    Returns (mask, counts); mask is None with counts_only.
    """
    ya, c = _packed("y_anchor", y_anchor, c)
    y1, c = _packed("y_cand", y_cand, c)
    y2, c = _packed("y_cand2", y_cand2, c)
    n, N1, N2 = ya.shape[0], _rows(y1), _rows(y2)
    mask = None if counts_only else np.zeros((n, N1 + N2), dtype=np.uint8)
    counts = np.zeros(n, dtype=np.int32)
    C.mlcl_mask_build(ptr(mask, np.uint8), ptr(counts, np.int32), _mode(mode), n,
                      ptr(ya, np.uint64), N1, ptr(y1, np.uint64), N2, ptr(y2, np.uint64), c)
    return mask, counts


def labelwise_counts(y_cand, y_cand2=None, c=None):
    """count_j: the number of candidates carrying label j (= |P^j(i)|), int32 (c,)."""
    y1, c = _packed("y_cand", y_cand, c)
    y2, c = _packed("y_cand2", y_cand2, c)
    out = np.zeros(c, dtype=np.int32)
    C.mlcl_mask_labelwise_counts(ptr(out, np.int32), _rows(y1), ptr(y1, np.uint64),
                                 _rows(y2), ptr(y2, np.uint64), c)
    return out


def labelwise(y_anchor, y_cand, y_cand2=None, c=None):
    """The n x c matrix |P^j(i)| (count_j where anchor i has label j, else 0), int32."""
    ya, c = _packed("y_anchor", y_anchor, c)
    y1, c = _packed("y_cand", y_cand, c)
    y2, c = _packed("y_cand2", y_cand2, c)
    out = np.zeros((ya.shape[0], c), dtype=np.int32)
    C.mlcl_mask_labelwise(ptr(out, np.int32), ya.shape[0], ptr(ya, np.uint64), _rows(y1),
                          ptr(y1, np.uint64), _rows(y2), ptr(y2, np.uint64), c)
    return out
