"""Multi-label datasets, readers, mini-batches and augmentation (data.h).

``Dataset.features``/``labels``/``labels_packed`` return COPIES (numpy arrays
owned by Python); ``features_view()`` returns a read-only view that keeps the
dataset alive: close() with views alive frees the C dataset only when the
last view is gone (the dataset's methods raise ClosedError at once).
"""

import ctypes

import numpy as np

from ._lib import C, IDX_MAX_DIMS, LIBSVM_INDEX_AUTO, BATCHER_STATE_WORDS, NPY_MAX_DIMS
from ._util import (BusyError, Handle, as_input, copy_from, index_array, labels01, locked, ptr,
                    to_cstr, to_int, to_path, view_of)

__all__ = ["Dataset", "Batcher", "idx_load", "npy_load", "augment_mask", "LIBSVM_INDEX_AUTO"]


def _new(fn, *args):
    h = ctypes.c_void_p()
    getattr(C, fn)(ctypes.byref(h), *args)
    return Dataset(_handle=h.value)


def _key(name, k):
    return None if k is None else to_cstr(name, k)


class Dataset(Handle):
    """An in-memory multi-label dataset (n rows, d features, c labels).

    Create with the class methods load_arff, load_libsvm, load_idx,
    fashion_mosaic, from_arrays; derive with subset and split.
    """

    _free = "mlcl_dataset_free"

    def __init__(self, *, _handle):
        super().__init__(_handle)
        self._pins = 0  # trainers borrowing this dataset

    def _close_check(self):
        if getattr(self, "_pins", 0) > 0:
            raise BusyError("Dataset is borrowed by %d open Trainer(s); close them first"
                            % self._pins)

    @classmethod
    def load_arff(cls, path, n_labels=0, labels_first=False):
        """ARFF (plain or gzip); n_labels=0 reads the MEKA '-C' option of @relation."""
        return _new("mlcl_dataset_load_arff", to_path("path", path),
                    to_int("n_labels", n_labels), int(bool(labels_first)))

    @classmethod
    def load_libsvm(cls, path, n_features=0, n_labels=0, index_base=LIBSVM_INDEX_AUTO):
        """Multi-label LIBSVM / XC repository format (plain or gzip)."""
        return _new("mlcl_dataset_load_libsvm", to_path("path", path),
                    to_int("n_features", n_features), to_int("n_labels", n_labels),
                    to_int("index_base", index_base))

    @classmethod
    def load_libsvm_sparse(cls, path, n_features=0, n_labels=0, index_base=LIBSVM_INDEX_AUTO):
        """As load_libsvm, but the features stay in CSR (memory follows the
        non-zeros): read them with csr(), densify rows with gather()."""
        return _new("mlcl_dataset_load_libsvm_sparse", to_path("path", path),
                    to_int("n_features", n_features), to_int("n_labels", n_labels),
                    to_int("index_base", index_base))

    @classmethod
    def load_arff_sparse(cls, path, n_labels=0, labels_first=False):
        """As load_arff, but the features stay in CSR (sparse ARFF files)."""
        return _new("mlcl_dataset_load_arff_sparse", to_path("path", path),
                    to_int("n_labels", n_labels), int(bool(labels_first)))

    @classmethod
    def from_csr(cls, indptr, indices, data, d, y):
        """A sparse dataset from CSR arrays (scipy.sparse.csr_matrix layout:
        indptr (n+1,), indices and data (nnz,), columns strictly increasing
        within a row), width d and labels y (n, c); all copied."""
        p = as_input("indptr", indptr, np.int64, ndim=1)
        i = as_input("indices", indices, np.int32, ndim=1)
        v = as_input("data", data, np.float32, ndim=1)
        ya = labels01("y", y)
        n = p.size - 1
        if n < 1 or ya.shape[0] != n:
            raise ValueError("indptr has %d rows, y %d" % (n, ya.shape[0]))
        if i.size != v.size or i.size < int(p[-1]):
            raise ValueError("indices (%d) and data (%d) must hold indptr[-1] = %d entries"
                             % (i.size, v.size, int(p[-1])))
        return _new("mlcl_dataset_create_csr", to_int("rows", n), to_int("d", d),
                    to_int("y columns", ya.shape[1]), ptr(p, np.int64), ptr(i, np.int32),
                    ptr(v, np.float32), ptr(ya, np.uint8))

    @property
    @locked("is_sparse")
    def is_sparse(self):
        """True when the features are kept in CSR (load_libsvm_sparse, from_csr)."""
        v = ctypes.c_int()
        C.mlcl_dataset_is_sparse(self._ptr, ctypes.byref(v))
        return bool(v.value)

    @locked()
    def csr(self):
        """COPIES of the CSR arrays of a sparse dataset: (indptr int64 (n+1,),
        indices int32 (nnz,), data float32 (nnz,)); ValueError for a dense one."""
        p, i, v = ctypes.POINTER(ctypes.c_int64)(), ctypes.POINTER(ctypes.c_int)(), ctypes.POINTER(ctypes.c_float)()
        nnz = ctypes.c_int64()
        C.mlcl_dataset_csr(self._ptr, ctypes.byref(p), ctypes.byref(i), ctypes.byref(v), ctypes.byref(nnz))
        n = self._dims()[0]
        addr = lambda a: ctypes.cast(a, ctypes.c_void_p).value
        return (copy_from(addr(p), np.int64, (n + 1,)), copy_from(addr(i), np.int32, (nnz.value,)),
                copy_from(addr(v), np.float32, (nnz.value,)))

    @classmethod
    def load_idx(cls, images_path, labels_path, n_classes):
        """A single-label IDX image set (MNIST format) as one-hot multi-label data."""
        return _new("mlcl_dataset_load_idx", to_path("images_path", images_path),
                    to_path("labels_path", labels_path), to_int("n_classes", n_classes))

    @classmethod
    def load_npy(cls, images, labels, images_key=None, labels_key=None, scale_u8=True):
        """NumPy arrays: images (n, c, h, w), (n, h, w) or (n, d) and 0/1 labels
        (n, L), each from a .npy file (key None) or a .npz archive entry (key =
        the array name). uint8 images are divided by 255 when scale_u8."""
        return _new("mlcl_dataset_load_npy", to_path("images", images),
                    _key("images_key", images_key), to_path("labels", labels),
                    _key("labels_key", labels_key), int(bool(scale_u8)))

    @classmethod
    def fashion_mosaic(cls, n_samples, seed=0, train=True, grid=2, dir=None):
        """Fashion-MNIST grid x grid mosaics (labels = classes present, c = 10).
        ``dir`` None = /usr/share/datasets/fashion-mnist."""
        return _new("mlcl_dataset_fashion_mosaic", None if dir is None else to_path("dir", dir),
                    int(bool(train)), to_int("n_samples", n_samples),
                    to_int("seed", seed, ctype=ctypes.c_uint64), to_int("grid", grid))

    @classmethod
    def from_arrays(cls, x, y):
        """From features x (n, d) and labels y (n, c); both are copied (x is
        converted to float32). y must hold bools or numbers that are exactly 0
        or 1 (ValueError naming the first other value)."""
        xa = as_input("x", x, np.float32, ndim=2)
        ya = labels01("y", y)
        if ya.shape[0] != xa.shape[0]:
            raise ValueError("x has %d rows, y %d" % (xa.shape[0], ya.shape[0]))
        for name, v in (("rows", xa.shape[0]), ("x columns", xa.shape[1]),
                        ("y columns", ya.shape[1])):
            to_int(name, v)
        return _new("mlcl_dataset_create_from_arrays", xa.shape[0], xa.shape[1], ya.shape[1],
                    ptr(xa, np.float32), ptr(ya, np.uint8))

    def _need_dense(self):
        v = ctypes.c_int()
        C.mlcl_dataset_is_sparse(self._ptr, ctypes.byref(v))
        if v.value:
            raise ValueError("the dataset is sparse (CSR): use csr(), or gather() rows densified")

    def _dims(self):
        v = [ctypes.c_int() for _ in range(3)]
        C.mlcl_dataset_dims(self._ptr, *[ctypes.byref(x) for x in v])
        return tuple(x.value for x in v)

    @locked()
    def subset(self, rows):
        """A new dataset of the given rows (in order, repeats allowed); every
        index is checked 0 <= i < n (ValueError), non-integers are a TypeError."""
        r = index_array("rows", rows, self._dims()[0])
        return _new("mlcl_dataset_subset", self._ptr, ptr(r, np.int32), r.size)

    @locked()
    def split(self, frac_b, seed=0):
        """Seeded split -> (a, b) with round(frac_b * n) rows in b."""
        a, b = ctypes.c_void_p(), ctypes.c_void_p()
        C.mlcl_dataset_split(ctypes.byref(a), ctypes.byref(b), self._ptr, float(frac_b),
                             to_int("seed", seed, ctype=ctypes.c_uint64))
        return Dataset(_handle=a.value), Dataset(_handle=b.value)

    # ---- shape
    @property
    @locked("dims")
    def dims(self):
        """(n, d, c)."""
        return self._dims()

    n = property(lambda self: self.dims[0])
    d = property(lambda self: self.dims[1])
    c = property(lambda self: self.dims[2])

    def __len__(self):
        return self.n

    @property
    @locked("image_shape")
    def image_shape(self):
        """(channels, height, width), zeros for vector data."""
        v = [ctypes.c_int() for _ in range(3)]
        C.mlcl_dataset_image_shape(self._ptr, *[ctypes.byref(x) for x in v])
        return tuple(x.value for x in v)

    @property
    def label_words(self):
        return int(C.mlcl_dataset_label_words(self.c))

    # ---- contents (copies)
    @property
    @locked("features")
    def features(self):
        """COPY of the features, (n, d) float32."""
        n, d, _ = self._dims()
        self._need_dense()
        return copy_from(C.mlcl_dataset_features(self._ptr), np.float32, (n, d))

    @property
    @locked("labels")
    def labels(self):
        """COPY of the labels, (n, c) uint8 0/1."""
        n, _, c = self._dims()
        return copy_from(C.mlcl_dataset_labels(self._ptr), np.uint8, (n, c))

    @property
    @locked("labels_packed")
    def labels_packed(self):
        """COPY of the packed labels, (n, words) uint64."""
        n, _, c = self._dims()
        return copy_from(C.mlcl_dataset_labels_packed(self._ptr), np.uint64,
                         (n, int(C.mlcl_dataset_label_words(c))))

    @locked()
    def features_view(self):
        """Read-only VIEW of the features (no copy). It keeps the dataset
        alive and defers freeing it past close(); standardize_apply() changes
        what it shows (in place)."""
        n, d, _ = self._dims()
        self._need_dense()
        return view_of(C.mlcl_dataset_features(self._ptr), np.float32, (n, d), self,
                       readonly=True)

    @locked()
    def feature_name(self, j):
        s = C.mlcl_dataset_feature_name(self._ptr, to_int("j", j))
        return None if s is None else s.decode(errors="replace")

    @locked()
    def label_name(self, j):
        s = C.mlcl_dataset_label_name(self._ptr, to_int("j", j))
        return None if s is None else s.decode(errors="replace")

    @property
    def feature_names(self):
        return [self.feature_name(j) for j in range(self.d)]

    @property
    def label_names(self):
        return [self.label_name(j) for j in range(self.c)]

    @locked()
    def gather(self, rows):
        """A mini-batch: (x (k, d) float32, y (k, c) uint8, y_packed (k, words) uint64);
        rows are checked as in subset()."""
        n, d, c = self._dims()
        r = index_array("rows", rows, n)
        k = r.size
        x = np.zeros((k, d), np.float32)
        y = np.zeros((k, c), np.uint8)
        yp = np.zeros((k, int(C.mlcl_dataset_label_words(c))), np.uint64)
        C.mlcl_dataset_gather(self._ptr, ptr(r, np.int32), k, ptr(x, np.float32),
                              ptr(y, np.uint8), ptr(yp, np.uint64))
        return x, y, yp

    @locked()
    def standardize_stats(self):
        """(mean, std) per feature, float32 (population std; constant features get 1)."""
        d = self._dims()[1]
        mean, std = np.zeros(d, np.float32), np.zeros(d, np.float32)
        C.mlcl_dataset_standardize_stats(self._ptr, ptr(mean, np.float32), ptr(std, np.float32))
        return mean, std

    @locked()
    def standardize_apply(self, mean, std):
        """x = (x - mean) / std in place."""
        d = self._dims()[1]
        m = as_input("mean", mean, np.float32, (d,))
        s = as_input("std", std, np.float32, (d,))
        C.mlcl_dataset_standardize_apply(self._ptr, ptr(m, np.float32), ptr(s, np.float32))


class Batcher(Handle):
    """Epoch-wise seeded shuffler: iterate it for one epoch of row-index arrays.

    >>> for rows in Batcher(n, 32, seed=1): ...     # doctest: +SKIP
    """

    _free = "mlcl_batcher_free"

    def __init__(self, n_rows, batch_size, drop_last=False, seed=0):
        h = ctypes.c_void_p()
        C.mlcl_batcher_create(ctypes.byref(h), to_int("n_rows", n_rows),
                              to_int("batch_size", batch_size), int(bool(drop_last)),
                              to_int("seed", seed, ctype=ctypes.c_uint64))
        super().__init__(h.value)

    @locked()
    def next(self):
        """The next batch's rows (int32 copy), or None at the end of an epoch."""
        rows = ctypes.POINTER(ctypes.c_int)()
        k = ctypes.c_int()
        C.mlcl_batcher_next(self._ptr, ctypes.byref(rows), ctypes.byref(k))
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
    @locked("epoch")
    def epoch(self):
        return int(C.mlcl_batcher_epoch(self._ptr))

    @property
    @locked("batches_per_epoch")
    def batches_per_epoch(self):
        return int(C.mlcl_batcher_batches_per_epoch(self._ptr))

    @locked()
    def get_state(self):
        st = (ctypes.c_uint64 * BATCHER_STATE_WORDS)()
        C.mlcl_batcher_get_state(self._ptr, st)
        return [int(v) for v in st]

    @locked()
    def set_state(self, state):
        st = (ctypes.c_uint64 * BATCHER_STATE_WORDS)(
            *[to_int("state[%d]" % i, v, ctype=ctypes.c_uint64) for i, v in enumerate(state)])
        C.mlcl_batcher_set_state(self._ptr, st)


def idx_load(path):
    """Reads an IDX (MNIST-format) file of unsigned bytes -> uint8 array (a copy)."""
    data = ctypes.POINTER(ctypes.c_uint8)()
    ndim = ctypes.c_int()
    dims = (ctypes.c_int * IDX_MAX_DIMS)()
    C.mlcl_idx_load(ctypes.byref(data), ctypes.byref(ndim), dims, to_path("path", path))
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
    C.mlcl_npy_read(ctypes.byref(data), ctypes.byref(ndim), shape, to_path("path", path),
                    _key("key", key), int(bool(scale_u8)))
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
              and out.flags.writeable and out.shape == xa.shape):
        raise TypeError("out must be a writable C-contiguous float32 array of shape %s"
                        % (xa.shape,))
    n, d = (to_int("rows of x", v) for v in xa.shape)
    with rng._use("augment_mask") as h:
        C.mlcl_augment_mask(h, n, d, float(p), ptr(xa, np.float32), ptr(out, np.float32))
    return out
