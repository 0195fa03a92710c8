"""Bit-packed labels and the MoCo ring-buffer queue (queue.h)."""

import ctypes

import numpy as np

from ._lib import C, QueueOptions, QUEUE_OPTIONS_VERSION
from ._util import (Handle, as_input, copy_from, hot_input, labels01, locked, make_options, ptr,
                    to_int, view_of)


def label_words(c):
    """uint64 words per packed label row over ``c`` labels: (c + 63) // 64."""
    return int(C.mlcl_label_words(to_int("c", c)))


def pack_labels(y01):
    """Packs an n x c 0/1 matrix (bools, or numbers exactly 0 or 1; anything
    else is a ValueError, nothing is wrapped) into an n x label_words(c) uint64
    array (label j = bit j % 64 of word j // 64)."""
    y = labels01("y01", y01)
    n, c = (to_int("y01 rows", v) for v in y.shape)
    out = np.zeros((n, label_words(c)), dtype=np.uint64)
    C.mlcl_labels_pack(ptr(out, np.uint64), ptr(y, np.uint8), n, c)
    return out


def unpack_labels(packed, c):
    """Unpacks n x label_words(c) uint64 words into an n x c uint8 0/1 matrix."""
    p = as_input("packed", packed, np.uint64, ndim=2)
    n = to_int("packed rows", p.shape[0])
    c = to_int("c", c)
    if p.shape[1] != label_words(c):
        raise ValueError("packed has %d words per row, %d labels need %d"
                         % (p.shape[1], c, label_words(c)))
    out = np.zeros((n, c), dtype=np.uint8)
    C.mlcl_labels_unpack(ptr(out, np.uint8), ptr(p, np.uint64), n, c)
    return out


def labels_arg(name, y, n, c, strict=True):
    """Labels for the hot paths: a packed uint64 (n, words) array used as is,
    or a 0/1 (n, c) matrix of bools or integers exactly 0/1, which is packed
    (documented conversion)."""
    if isinstance(y, np.ndarray) and y.dtype != np.uint64 and y.ndim == 2 and y.shape[1] == c \
            and y.dtype.kind in "biu":
        if y.shape[0] != n:
            raise ValueError("%s has %d rows, expected %d" % (name, y.shape[0], n))
        return pack_labels(labels01(name, y))
    return hot_input(name, y, np.uint64, (n, label_words(c)), strict=strict)


def _get_int(fn, h):
    """An int getter of the queue (status + out-param)."""
    v = ctypes.c_int()
    getattr(C, fn)(h, ctypes.byref(v))
    return v.value


def _get_ptr(fn, h):
    """A buffer getter of the queue: the borrowed address."""
    v = ctypes.c_void_p()
    getattr(C, fn)(h, ctypes.byref(v))
    return v.value


class Queue(Handle):
    """Three ring buffers (keys, packed labels, distributions) of capacity K.

    ``Queue(capacity, feat_dim, n_labels)``. Filled entries are storage rows
    0 .. size-1. ``features``/``labels``/``dists`` return COPIES of the filled
    rows; ``features_view()`` etc. return read-only views of the whole K-row
    buffers (no copy; contents change on enqueue). A view keeps the queue (or
    the MoCo pair / Trainer it belongs to) alive: close() then frees the C
    object only when the last view is gone.
    """

    _free = "mlcl_queue_free"

    def __init__(self, capacity=None, feat_dim=None, n_labels=None, *, _borrow=None, _owner=None,
                 strict=True):
        self.strict = strict
        if _borrow is not None:
            super().__init__(_borrow, _owner)
            return
        kw = {}
        for k, v in (("capacity", capacity), ("feat_dim", feat_dim), ("n_labels", n_labels)):
            if v is not None:
                kw[k] = v
        opts = make_options(QueueOptions, "mlcl_queue_options_init", QUEUE_OPTIONS_VERSION, kw,
                            what="Queue")
        h = ctypes.c_void_p()
        C.mlcl_queue_create(ctypes.byref(h), ctypes.byref(opts))
        super().__init__(h.value)

    def _dims(self):
        """(size, capacity, feat_dim, n_labels, words) of the held queue."""
        h = self._ptr
        c = _get_int("mlcl_queue_n_labels", h)
        return (_get_int("mlcl_queue_size", h), _get_int("mlcl_queue_capacity", h),
                _get_int("mlcl_queue_feat_dim", h), c, int(C.mlcl_label_words(c)))

    @property
    @locked("size")
    def size(self):
        return _get_int("mlcl_queue_size", self._ptr)

    def __len__(self):
        return self.size

    @property
    @locked("capacity")
    def capacity(self):
        return _get_int("mlcl_queue_capacity", self._ptr)

    @property
    @locked("head")
    def head(self):
        return _get_int("mlcl_queue_head", self._ptr)

    @property
    @locked("feat_dim")
    def feat_dim(self):
        return _get_int("mlcl_queue_feat_dim", self._ptr)

    @property
    @locked("n_labels")
    def n_labels(self):
        return _get_int("mlcl_queue_n_labels", self._ptr)

    @property
    def words(self):
        return label_words(self.n_labels)

    @locked()
    def enqueue(self, feats, labels, dists=None, strict=None):
        """Appends n rows: feats (n, m) float32, labels packed uint64 (n, words)
        or 0/1 (n, c), dists (n, c) float32 or None (zeros)."""
        strict = self.strict if strict is None else strict
        _, _, m, c, _ = self._dims()
        f = hot_input("feats", feats, np.float32, ndim=2, strict=strict)
        n = to_int("feats rows", f.shape[0])
        if f.shape[1] != m:
            raise ValueError("feats has %d columns, the queue's feat_dim is %d" % (f.shape[1], m))
        y = labels_arg("labels", labels, n, c, strict)
        d = None if dists is None else hot_input("dists", dists, np.float32, (n, c), strict=strict)
        C.mlcl_queue_enqueue(self._ptr, n, ptr(f, np.float32), ptr(y, np.uint64),
                             ptr(d, np.float32))

    @locked()
    def reset(self):
        """Empties the queue (size 0, head 0, buffers zeroed)."""
        C.mlcl_queue_reset(self._ptr)

    def _buf(self, fn, dtype, cols, rows):
        return copy_from(_get_ptr(fn, self._ptr), dtype, (rows, cols))

    @property
    @locked("features")
    def features(self):
        """Copy of the filled keys, (size, m) float32."""
        size, _, m, _, _ = self._dims()
        return self._buf("mlcl_queue_features", np.float32, m, size)

    @property
    @locked("labels")
    def labels(self):
        """Copy of the filled packed labels, (size, words) uint64."""
        size, _, _, _, w = self._dims()
        return self._buf("mlcl_queue_labels", np.uint64, w, size)

    @property
    def labels01(self):
        """Copy of the filled labels as a (size, c) uint8 0/1 matrix."""
        lab, c = self.labels, self.n_labels
        if lab.shape[0] == 0:
            return np.zeros((0, c), np.uint8)
        return unpack_labels(lab, c)

    @property
    @locked("dists")
    def dists(self):
        """Copy of the filled distributions, (size, c) float32."""
        size, _, _, c, _ = self._dims()
        return self._buf("mlcl_queue_dists", np.float32, c, size)

    def _view(self, fn, dtype, col):
        with self._use(fn[len("mlcl_queue_"):] + "_view"):
            dims = self._dims()
            return view_of(_get_ptr(fn, self._ptr), dtype, (dims[1], dims[col]), self,
                           readonly=True)

    def features_view(self):
        """Read-only view of the whole K x m key buffer (no copy)."""
        return self._view("mlcl_queue_features", np.float32, 2)

    def labels_view(self):
        """Read-only view of the whole K x words label buffer (no copy)."""
        return self._view("mlcl_queue_labels", np.uint64, 4)

    def dists_view(self):
        """Read-only view of the whole K x c distribution buffer (no copy)."""
        return self._view("mlcl_queue_dists", np.float32, 3)

    @locked()
    def get_state(self):
        """(size, head, feats K x m, labels K x words, dists K x c), all copies."""
        size, K, m, c, w = self._dims()
        return (size, _get_int("mlcl_queue_head", self._ptr),
                self._buf("mlcl_queue_features", np.float32, m, K),
                self._buf("mlcl_queue_labels", np.uint64, w, K),
                self._buf("mlcl_queue_dists", np.float32, c, K))

    @locked()
    def set_state(self, size, head, feats, labels, dists=None):
        """Restores full K-row buffers plus size and head (see queue.h)."""
        _, K, m, c, w = self._dims()
        f = as_input("feats", feats, np.float32, (K, m))
        y = as_input("labels", labels, np.uint64, (K, w))
        d = None if dists is None else as_input("dists", dists, np.float32, (K, c))
        C.mlcl_queue_set_state(self._ptr, to_int("size", size), to_int("head", head),
                               ptr(f, np.float32), ptr(y, np.uint64), ptr(d, np.float32))
