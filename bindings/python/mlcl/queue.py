"""Bit-packed labels and the MoCo ring-buffer queue (queue.h)."""

import ctypes

import numpy as np

from ._lib import C, QueueOptions, QUEUE_OPTIONS_VERSION
from ._util import Handle, as_input, copy_from, hot_input, make_options, ptr, view_of


def label_words(c):
    """uint64 words per packed label row over ``c`` labels: (c + 63) // 64."""
    return int(C.mlcl_label_words(int(c)))


def pack_labels(y01):
    """Packs an n x c 0/1 matrix (any integer/bool dtype; copied to uint8) into an
    n x label_words(c) uint64 array (label j = bit j % 64 of word j // 64)."""
    y = as_input("y01", y01, np.uint8, ndim=2)
    n, c = y.shape
    out = np.zeros((n, label_words(c)), dtype=np.uint64)
    C.mlcl_labels_pack(ptr(out, np.uint64), ptr(y, np.uint8), n, c)
    return out


def unpack_labels(packed, c):
    """Unpacks n x label_words(c) uint64 words into an n x c uint8 0/1 matrix."""
    p = as_input("packed", packed, np.uint64, ndim=2)
    n = p.shape[0]
    if p.shape[1] != label_words(c):
        raise ValueError("packed has %d words per row, %d labels need %d"
                         % (p.shape[1], c, label_words(c)))
    out = np.zeros((n, int(c)), dtype=np.uint8)
    C.mlcl_labels_unpack(ptr(out, np.uint8), ptr(p, np.uint64), n, int(c))
    return out


def labels_arg(name, y, n, c, strict=True):
    """Labels for the hot paths: a packed uint64 (n, words) array used as is,
    or a uint8/bool (n, c) 0/1 matrix, which is packed (documented conversion)."""
    if isinstance(y, np.ndarray) and y.dtype in (np.uint8, np.bool_) and y.ndim == 2 \
            and y.shape[1] == c:
        if y.shape[0] != n:
            raise ValueError("%s has %d rows, expected %d" % (name, y.shape[0], n))
        return pack_labels(y.view(np.uint8) if y.dtype == np.bool_ else y)
    return hot_input(name, y, np.uint64, (n, label_words(c)), strict=strict)


class Queue(Handle):
    """Three ring buffers (keys, packed labels, distributions) of capacity K.

    ``Queue(capacity, feat_dim, n_labels)``. Filled entries are storage rows
    0 .. size-1. ``features``/``labels``/``dists`` return COPIES of the filled
    rows; ``features_view()`` etc. return read-only views of the whole K-row
    buffers (valid while the queue is open; contents change on enqueue).
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
                kw[k] = int(v)
        opts = make_options(QueueOptions, "mlcl_queue_options_init", QUEUE_OPTIONS_VERSION, kw,
                            what="Queue")
        h = ctypes.c_void_p()
        C.mlcl_queue_create(ctypes.byref(h), ctypes.byref(opts))
        super().__init__(h.value)

    @property
    def size(self):
        return int(C.mlcl_queue_size(self.handle))

    def __len__(self):
        return self.size

    @property
    def capacity(self):
        return int(C.mlcl_queue_capacity(self.handle))

    @property
    def head(self):
        return int(C.mlcl_queue_head(self.handle))

    @property
    def feat_dim(self):
        return int(C.mlcl_queue_feat_dim(self.handle))

    @property
    def n_labels(self):
        return int(C.mlcl_queue_n_labels(self.handle))

    @property
    def words(self):
        return label_words(self.n_labels)

    def enqueue(self, feats, labels, dists=None, strict=None):
        """Appends n rows: feats (n, m) float32, labels packed uint64 (n, words)
        or uint8 0/1 (n, c), dists (n, c) float32 or None (zeros)."""
        strict = self.strict if strict is None else strict
        m, c = self.feat_dim, self.n_labels
        f = hot_input("feats", feats, np.float32, ndim=2, strict=strict)
        n = f.shape[0]
        if f.shape[1] != m:
            raise ValueError("feats has %d columns, the queue's feat_dim is %d" % (f.shape[1], m))
        y = labels_arg("labels", labels, n, c, strict)
        d = None if dists is None else hot_input("dists", dists, np.float32, (n, c), strict=strict)
        C.mlcl_queue_enqueue(self.handle, n, ptr(f, np.float32), ptr(y, np.uint64),
                             ptr(d, np.float32))

    def reset(self):
        """Empties the queue (size 0, head 0, buffers zeroed)."""
        C.mlcl_queue_reset(self.handle)

    def _buf(self, fn, dtype, cols, rows):
        return copy_from(getattr(C, fn)(self.handle), dtype, (rows, cols))

    @property
    def features(self):
        """Copy of the filled keys, (size, m) float32."""
        return self._buf("mlcl_queue_features", np.float32, self.feat_dim, self.size)

    @property
    def labels(self):
        """Copy of the filled packed labels, (size, words) uint64."""
        return self._buf("mlcl_queue_labels", np.uint64, self.words, self.size)

    @property
    def labels01(self):
        """Copy of the filled labels as a (size, c) uint8 0/1 matrix."""
        if self.size == 0:
            return np.zeros((0, self.n_labels), np.uint8)
        return unpack_labels(self.labels, self.n_labels)

    @property
    def dists(self):
        """Copy of the filled distributions, (size, c) float32."""
        return self._buf("mlcl_queue_dists", np.float32, self.n_labels, self.size)

    def _view(self, fn, dtype, cols):
        v = view_of(getattr(C, fn)(self.handle), dtype, (self.capacity, cols), self)
        v.flags.writeable = False
        return v

    def features_view(self):
        """Read-only view of the whole K x m key buffer (no copy)."""
        return self._view("mlcl_queue_features", np.float32, self.feat_dim)

    def labels_view(self):
        """Read-only view of the whole K x words label buffer (no copy)."""
        return self._view("mlcl_queue_labels", np.uint64, self.words)

    def dists_view(self):
        """Read-only view of the whole K x c distribution buffer (no copy)."""
        return self._view("mlcl_queue_dists", np.float32, self.n_labels)

    def get_state(self):
        """(size, head, feats K x m, labels K x words, dists K x c), all copies."""
        K = self.capacity
        return (self.size, self.head,
                self._buf("mlcl_queue_features", np.float32, self.feat_dim, K),
                self._buf("mlcl_queue_labels", np.uint64, self.words, K),
                self._buf("mlcl_queue_dists", np.float32, self.n_labels, K))

    def set_state(self, size, head, feats, labels, dists=None):
        """Restores full K-row buffers plus size and head (see queue.h)."""
        K, m, c = self.capacity, self.feat_dim, self.n_labels
        f = as_input("feats", feats, np.float32, (K, m))
        y = as_input("labels", labels, np.uint64, (K, self.words))
        d = None if dists is None else as_input("dists", dists, np.float32, (K, c))
        C.mlcl_queue_set_state(self.handle, int(size), int(head), ptr(f, np.float32),
                               ptr(y, np.uint64), ptr(d, np.float32))
