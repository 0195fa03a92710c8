"""Multi-label datasets, readers, mini-batches and augmentation (data.h).

``Dataset.features``/``labels``/``labels_packed`` return COPIES (numpy arrays
owned by Python); ``features_view()`` etc. return read-only views valid while
the dataset is open.
"""

import ctypes
import os

import numpy as np

from ._lib import C, IDX_MAX_DIMS, LIBSVM_INDEX_AUTO, BATCHER_STATE_WORDS, NPY_MAX_DIMS
from ._util import Handle, as_input, copy_from, ptr, view_of

__all__ = ["Dataset", "Batcher", "idx_load", "npy_load", "augment_mask", "LIBSVM_INDEX_AUTO"]


def _path(p):
    return os.fsencode(p)


def _new(fn, *args):
    h = ctypes.c_void_p()
    getattr(C, fn)(ctypes.byref(h), *args)
    return Dataset(_handle=h.value)


class Dataset(Handle):
    """An in-memory multi-label dataset (n rows, d features, c labels).

    Create with the class methods load_arff, load_libsvm, load_idx,
    fashion_mosaic, from_arrays; derive with subset and split.
    """

    _free = "mlcl_dataset_free"

    def __init__(self, *, _handle):
        super().__init__(_handle)
        self._pins = 0  # trainers borrowing this dataset

    def close(self):
        if getattr(self, "_pins", 0) > 0 and self._ptr:
            raise RuntimeError("Dataset is borrowed by %d open Trainer(s); close them first"
                               % self._pins)
        super().close()

    @classmethod
    def load_arff(cls, path, n_labels=0, labels_first=False):
        """ARFF (plain or gzip); n_labels=0 reads the MEKA '-C' option of @relation."""
        return _new("mlcl_dataset_load_arff", _path(path), int(n_labels), int(bool(labels_first)))

    @classmethod
    def load_libsvm(cls, path, n_features=0, n_labels=0, index_base=LIBSVM_INDEX_AUTO):
        """Multi-label LIBSVM / XC repository format (plain or gzip)."""
        return _new("mlcl_dataset_load_libsvm", _path(path), int(n_features), int(n_labels),
                    int(index_base))

    @classmethod
    def load_idx(cls, images_path, labels_path, n_classes):
        """A single-label IDX image set (MNIST format) as one-hot multi-label data."""
        return _new("mlcl_dataset_load_idx", _path(images_path), _path(labels_path),
                    int(n_classes))

    @classmethod
    def load_npy(cls, images, labels, images_key=None, labels_key=None, scale_u8=True):
        """NumPy arrays: images (n, c, h, w), (n, h, w) or (n, d) and 0/1 labels
        (n, L), each from a .npy file (key None) or a .npz archive entry (key =
        the array name). uint8 images are divided by 255 when scale_u8."""
        return _new("mlcl_dataset_load_npy", _path(images),
                    None if images_key is None else images_key.encode(), _path(labels),
                    None if labels_key is None else labels_key.encode(), int(bool(scale_u8)))

    @classmethod
    def fashion_mosaic(cls, n_samples, seed=0, train=True, grid=2, dir=None):
        """Fashion-MNIST grid x grid mosaics (labels = classes present, c = 10).
        ``dir`` None = /usr/share/datasets/fashion-mnist."""
        return _new("mlcl_dataset_fashion_mosaic", None if dir is None else _path(dir),
                    int(bool(train)), int(n_samples), int(seed), int(grid))

    @classmethod
    def from_arrays(cls, x, y):
        """From features x (n, d) and 0/1 labels y (n, c); both are copied (x is
        converted to float32, y to uint8)."""
        xa = as_input("x", x, np.float32, ndim=2)
        ya = as_input("y", y, np.uint8, ndim=2)
        if ya.shape[0] != xa.shape[0]:
            raise ValueError("x has %d rows, y %d" % (xa.shape[0], ya.shape[0]))
        return _new("mlcl_dataset_create_from_arrays", xa.shape[0], xa.shape[1], ya.shape[1],
                    ptr(xa, np.float32), ptr(ya, np.uint8))

    def subset(self, rows):
        """A new dataset of the given rows (in order, repeats allowed)."""
        r = as_input("rows", rows, np.int32, ndim=1)
        return _new("mlcl_dataset_subset", self.handle, ptr(r, np.int32), r.size)

    def split(self, frac_b, seed=0):
        """Seeded split -> (a, b) with round(frac_b * n) rows in b."""
        a, b = ctypes.c_void_p(), ctypes.c_void_p()
        C.mlcl_dataset_split(ctypes.byref(a), ctypes.byref(b), self.handle, float(frac_b),
                             int(seed))
        return Dataset(_handle=a.value), Dataset(_handle=b.value)

    # ---- shape
    @property
    def dims(self):
        """(n, d, c)."""
        v = [ctypes.c_int() for _ in range(3)]
        C.mlcl_dataset_dims(self.handle, *[ctypes.byref(x) for x in v])
        return tuple(x.value for x in v)

    n = property(lambda self: self.dims[0])
    d = property(lambda self: self.dims[1])
    c = property(lambda self: self.dims[2])

    def __len__(self):
        return self.n

    @property
    def image_shape(self):
        """(channels, height, width), zeros for vector data."""
        v = [ctypes.c_int() for _ in range(3)]
        C.mlcl_dataset_image_shape(self.handle, *[ctypes.byref(x) for x in v])
        return tuple(x.value for x in v)

    @property
    def label_words(self):
        return int(C.mlcl_dataset_label_words(self.c))

    # ---- contents (copies)
    @property
    def features(self):
        """COPY of the features, (n, d) float32."""
        n, d, _ = self.dims
        return copy_from(C.mlcl_dataset_features(self.handle), np.float32, (n, d))

    @property
    def labels(self):
        """COPY of the labels, (n, c) uint8 0/1."""
        n, _, c = self.dims
        return copy_from(C.mlcl_dataset_labels(self.handle), np.uint8, (n, c))

    @property
    def labels_packed(self):
        """COPY of the packed labels, (n, words) uint64."""
        return copy_from(C.mlcl_dataset_labels_packed(self.handle), np.uint64,
                         (self.n, self.label_words))

    def features_view(self):
        """Read-only VIEW of the features (valid while the dataset is open and
        not standardised in place)."""
        n, d, _ = self.dims
        v = view_of(C.mlcl_dataset_features(self.handle), np.float32, (n, d), self)
        v.flags.writeable = False
        return v

    def feature_name(self, j):
        s = C.mlcl_dataset_feature_name(self.handle, int(j))
        return None if s is None else s.decode(errors="replace")

    def label_name(self, j):
        s = C.mlcl_dataset_label_name(self.handle, int(j))
        return None if s is None else s.decode(errors="replace")

    @property
    def feature_names(self):
        return [self.feature_name(j) for j in range(self.d)]

    @property
    def label_names(self):
        return [self.label_name(j) for j in range(self.c)]

    def gather(self, rows):
        """A mini-batch: (x (k, d) float32, y (k, c) uint8, y_packed (k, words) uint64)."""
        r = as_input("rows", rows, np.int32, ndim=1)
        _, d, c = self.dims
        k = r.size
        x = np.zeros((k, d), np.float32)
        y = np.zeros((k, c), np.uint8)
        yp = np.zeros((k, self.label_words), np.uint64)
        C.mlcl_dataset_gather(self.handle, ptr(r, np.int32), k, ptr(x, np.float32),
                              ptr(y, np.uint8), ptr(yp, np.uint64))
        return x, y, yp

    def standardize_stats(self):
        """(mean, std) per feature, float32 (population std; constant features get 1)."""
        d = self.d
        mean, std = np.zeros(d, np.float32), np.zeros(d, np.float32)
        C.mlcl_dataset_standardize_stats(self.handle, ptr(mean, np.float32), ptr(std, np.float32))
        return mean, std

    def standardize_apply(self, mean, std):
        """x = (x - mean) / std in place."""
        d = self.d
        m = as_input("mean", mean, np.float32, (d,))
        s = as_input("std", std, np.float32, (d,))
        C.mlcl_dataset_standardize_apply(self.handle, ptr(m, np.float32), ptr(s, np.float32))


class Batcher(Handle):
    """Epoch-wise seeded shuffler: iterate it for one epoch of row-index arrays.

    >>> for rows in Batcher(n, 32, seed=1): ...     # doctest: +SKIP
    """

    _free = "mlcl_batcher_free"

    def __init__(self, n_rows, batch_size, drop_last=False, seed=0):
        h = ctypes.c_void_p()
        C.mlcl_batcher_create(ctypes.byref(h), int(n_rows), int(batch_size), int(bool(drop_last)),
                              int(seed))
        super().__init__(h.value)

    def next(self):
        """The next batch's rows (int32 copy), or None at the end of an epoch."""
        rows = ctypes.POINTER(ctypes.c_int)()
        k = ctypes.c_int()
        C.mlcl_batcher_next(self.handle, ctypes.byref(rows), ctypes.byref(k))
        if k.value == 0:
            return None
        return copy_from(ctypes.cast(rows, ctypes.c_void_p).value, np.int32, (k.value,))

    def __iter__(self):
        while True:
            r = self.next()
            if r is None:
                return
            yield r

    @property
    def epoch(self):
        return int(C.mlcl_batcher_epoch(self.handle))

    @property
    def batches_per_epoch(self):
        return int(C.mlcl_batcher_batches_per_epoch(self.handle))

    def get_state(self):
        st = (ctypes.c_uint64 * BATCHER_STATE_WORDS)()
        C.mlcl_batcher_get_state(self.handle, st)
        return [int(v) for v in st]

    def set_state(self, state):
        st = (ctypes.c_uint64 * BATCHER_STATE_WORDS)(*[int(v) for v in state])
        C.mlcl_batcher_set_state(self.handle, st)


def idx_load(path):
    """Reads an IDX (MNIST-format) file of unsigned bytes -> uint8 array (a copy)."""
    data = ctypes.POINTER(ctypes.c_uint8)()
    ndim = ctypes.c_int()
    dims = (ctypes.c_int * IDX_MAX_DIMS)()
    C.mlcl_idx_load(ctypes.byref(data), ctypes.byref(ndim), dims, _path(path))
    try:
        shape = tuple(dims[i] for i in range(ndim.value))
        return copy_from(ctypes.cast(data, ctypes.c_void_p).value, np.uint8, shape)
    finally:
        C.mlcl_idx_free(data)


def npy_load(path, key=None, scale_u8=False):
    """Reads a .npy file (key None) or the entry ``key`` of a .npz archive with
    the library's reader -> float32 array (a copy). uint8 data is divided by
    255 when scale_u8."""
    data = ctypes.POINTER(ctypes.c_float)()
    ndim = ctypes.c_int()
    shape = (ctypes.c_int64 * NPY_MAX_DIMS)()
    C.mlcl_npy_read(ctypes.byref(data), ctypes.byref(ndim), shape, _path(path),
                    None if key is None else key.encode(), int(bool(scale_u8)))
    try:
        shp = tuple(int(shape[i]) for i in range(ndim.value))
        return copy_from(ctypes.cast(data, ctypes.c_void_p).value, np.float32, shp)
    finally:
        C.mlcl_npy_free(data)


def augment_mask(rng, x, p, out=None):
    """Feature masking: each element set to 0 with probability p (no rescaling),
    drawn from ``rng`` (an mlcl.Rng). x is converted to float32 if needed;
    returns a new array (or fills ``out``, which may be x itself)."""
    xa = as_input("x", x, np.float32, ndim=2)
    if out is None:
        out = np.empty_like(xa)
    elif not (isinstance(out, np.ndarray) and out.dtype == np.float32 and out.flags.c_contiguous
              and out.shape == xa.shape):
        raise TypeError("out must be a C-contiguous float32 array of shape %s" % (xa.shape,))
    C.mlcl_augment_mask(rng.handle, xa.shape[0], xa.shape[1], float(p), ptr(xa, np.float32),
                        ptr(out, np.float32))
    return out
