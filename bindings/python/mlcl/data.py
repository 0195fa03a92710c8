"""Multi-label datasets (dataset.h), their readers (readers.h), mini-batches (batch.h) and augmentation (augment.h).

``Dataset.features``/``labels``/``labels_packed`` return COPIES (numpy arrays
owned by Python); ``features_view()`` returns a read-only view that keeps the
dataset alive: close() with views alive frees the C dataset only when the
last view is gone (the dataset's methods raise ClosedError at once).
"""

import ctypes

import numpy as np

import os

from ._lib import (C, IDX_MAX_DIMS, LIBSVM_INDEX_AUTO, BATCHER_STATE_WORDS, NPY_MAX_DIMS,
                   CsvOptions, CSV_OPTIONS_VERSION, DATA_FORMATS, IMPUTE, ManifestOptions,
                   MANIFEST_OPTIONS_VERSION)
from ._util import (BusyError, Handle, as_input, copy_from, index_array, labels01, locked, ptr,
                    to_cstr, to_int, to_path, view_of)

__all__ = ["Dataset", "Batcher", "idx_load", "npy_load", "augment_mask", "guess_format",
           "LIBSVM_INDEX_AUTO"]


def _new(fn, *args):
    h = ctypes.c_void_p()
    getattr(C, fn)(ctypes.byref(h), *args)
    return Dataset(_handle=h.value)


def _key(name, k):
    return None if k is None else to_cstr(name, k)


class Dataset(Handle):
    """An in-memory multi-label dataset (n rows, d features, c labels).

    Create with the class methods load_arff, load_libsvm, load_csv, load_images, load_idx,
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
    def load_csv(cls, path, n_labels=None, label_columns=None, label_prefix=None, impute=None,
                 labels_first=False, delimiter=None, header=True):
        """A CSV/TSV table (plain or gzip) with a header line as a vector
        dataset. Choose the label columns in exactly one way: ``n_labels``
        (the last n_labels columns, or the first with labels_first),
        ``label_columns`` (a list of header names, or one comma-separated
        string) or ``label_prefix`` (every column whose name starts with it).
        ``impute`` None/"none" (a missing value is an error), "mean" or "zero";
        ``delimiter`` None (guessed), ",", ";" or "\\t"; ``header`` False: the
        first line is data (columns named c1, c2, ...). Errors name the file,
        line and column (mlcl.FormatError, mlcl.IOFailure)."""
        o = CsvOptions()
        C.mlcl_csv_options_init(ctypes.byref(o), CSV_OPTIONS_VERSION)
        given = [k for k, v in (("n_labels", n_labels), ("label_columns", label_columns),
                                ("label_prefix", label_prefix)) if v is not None]
        if len(given) != 1:
            raise ValueError("load_csv: give exactly one of n_labels, label_columns, label_prefix "
                             "(got %s)" % (", ".join(given) or "none"))
        if n_labels is not None:
            o.n_labels = to_int("n_labels", n_labels, lo=1)
        if label_columns is not None:
            if isinstance(label_columns, (str, bytes)):
                cols = label_columns
            else:
                names = [to_cstr("label_columns[%d]" % i, v).decode("utf-8")
                         for i, v in enumerate(label_columns)]
                if not names:
                    raise ValueError("label_columns is empty")
                for nm in names:
                    if "," in nm or not nm:
                        raise ValueError("label_columns: %r cannot be named (empty or has a comma)"
                                         % nm)
                cols = ",".join(names)
            o.label_columns = to_cstr("label_columns", cols)
        if label_prefix is not None:
            o.label_prefix = to_cstr("label_prefix", label_prefix)
            if not o.label_prefix:
                raise ValueError("label_prefix is empty")
        mode = "none" if impute is None else impute
        if mode not in IMPUTE:
            raise ValueError("impute: %r is not one of None, %s" % (impute, ", ".join(IMPUTE)))
        o.impute = IMPUTE[mode]
        if delimiter is not None:
            if delimiter not in (",", ";", "\t"):
                raise ValueError("delimiter: %r is not one of ',', ';', '\\t' (or None)"
                                 % (delimiter,))
            o.delimiter = ord(delimiter)
        o.labels_first = int(bool(labels_first))
        o.no_header = int(not header)
        return _new("mlcl_dataset_load_csv", to_path("path", path), ctypes.byref(o))

    @classmethod
    def load_images(cls, manifest, size=224, channels=3, format=None, split=None,
                    image_root=None, skip_bad_images=False, label_names=None,
                    voc_difficult="negative", threads=0, return_skipped=False):
        """An image dataset from a manifest: a CSV/TSV list of files ("path"
        column, plus a "labels" column of ';'-separated names or one 0/1
        column per label), a COCO instances JSON, or a PASCAL VOC folder (give
        ``split``, e.g. "trainval"). ``format`` None guesses it
        (guess_format); else "image-csv", "coco" or "voc". Every image is
        decoded, resized to cover ``size`` (an int or (height, width)) and
        centre-cropped, stored as ``channels`` (1 or 3) planes in [0, 1].
        ``label_names``: the label names to use, in order (e.g. the training
        set's when loading its test set). With ``skip_bad_images`` unreadable
        images are left out; ``return_skipped`` then returns (dataset, count)."""
        mpath = to_path("manifest", manifest)
        if format is None:
            format = guess_format(manifest)
            if format not in ("image-csv", "coco", "voc"):
                raise ValueError("load_images: %s is not an image manifest (guessed format %r); "
                                 "pass format='image-csv', 'coco' or 'voc'"
                                 % (os.fsdecode(mpath), format))
        elif format not in ("image-csv", "coco", "voc"):
            raise ValueError("format: %r is not one of None, 'image-csv', 'coco', 'voc'" % (format,))
        if format == "voc":
            if split is None:
                raise ValueError("load_images: a VOC folder needs split= ('trainval', 'test', ...)")
            split_b = to_cstr("split", split)
        elif split is not None:
            raise ValueError("split is only for a VOC folder (format %r)" % format)
        if isinstance(size, (tuple, list)):
            if len(size) != 2:
                raise ValueError("size must be an int or (height, width) (got %r)" % (size,))
            h, w = size
        else:
            h = w = size
        o = ManifestOptions()
        C.mlcl_manifest_options_init(ctypes.byref(o), MANIFEST_OPTIONS_VERSION)
        o.height = to_int("height", h, lo=1)
        o.width = to_int("width", w, lo=1)
        o.channels = to_int("channels", channels)
        if o.channels not in (1, 3):
            raise ValueError("channels must be 1 or 3 (got %d)" % o.channels)
        if image_root is not None:
            o.image_root = to_path("image_root", image_root)
        o.skip_bad_images = int(bool(skip_bad_images))
        if voc_difficult not in ("negative", "positive"):
            raise ValueError("voc_difficult: %r is not 'negative' or 'positive'" % (voc_difficult,))
        o.voc_difficult = 1 if voc_difficult == "positive" else 0
        o.threads = to_int("threads", threads, lo=0)
        keep = None
        if label_names is not None:
            if isinstance(label_names, (str, bytes)):
                raise TypeError("label_names must be a sequence of strings")
            names = [to_cstr("label_names[%d]" % i, v) for i, v in enumerate(label_names)]
            keep = (ctypes.c_char_p * max(len(names), 1))(*names)
            o.label_names = ctypes.cast(keep, ctypes.POINTER(ctypes.c_char_p))
            o.n_label_names = len(names)
        h_ = ctypes.c_void_p()
        skipped = ctypes.c_int()
        if format == "image-csv":
            C.mlcl_dataset_load_image_csv(ctypes.byref(h_), ctypes.byref(skipped), mpath,
                                          ctypes.byref(o))
        elif format == "coco":
            C.mlcl_dataset_load_coco(ctypes.byref(h_), ctypes.byref(skipped), mpath, ctypes.byref(o))
        else:
            C.mlcl_dataset_load_voc(ctypes.byref(h_), ctypes.byref(skipped), mpath, split_b,
                                    ctypes.byref(o))
        del keep
        ds = Dataset(_handle=h_.value)
        return (ds, skipped.value) if return_skipped else ds

    @classmethod
    def fashion_mosaic(cls, n_samples, seed=0, train=True, grid=2, dir=None):
        """Fashion-MNIST grid x grid mosaics (labels = classes present, c = 10).
        ``dir`` None = /usr/share/datasets/fashion-mnist. The generator is not
        part of libmlcl: this calls the pure-Python mlcl.mosaic.fashion_mosaic()."""
        from .mosaic import fashion_mosaic
        return fashion_mosaic(n_samples, seed=seed, train=train, grid=grid, dir=dir)

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

    @locked()
    def set_image_shape(self, channels, height, width):
        """Sets the image geometry (channels x height x width must equal d),
        or clears it with (0, 0, 0)."""
        C.mlcl_dataset_set_image_shape(self._ptr, to_int("channels", channels),
                                       to_int("height", height), to_int("width", width))

    @locked()
    def set_label_names(self, names):
        """Sets the label names (one str per label), or removes them (None)."""
        if names is None:
            C.mlcl_dataset_set_label_names(self._ptr, 0, None)
            return
        if isinstance(names, (str, bytes)):
            raise TypeError("names must be a sequence of strings")
        enc = [to_cstr("names[%d]" % i, v) for i, v in enumerate(names)]
        arr = (ctypes.c_char_p * max(1, len(enc)))(*enc)
        C.mlcl_dataset_set_label_names(self._ptr, len(enc), arr)

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
        return int(C.mlcl_label_words(self.c))

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
                         (n, int(C.mlcl_label_words(c))))

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
        """The name of feature j (None when unnamed); InvalidArgument out of range."""
        s = ctypes.c_char_p()
        C.mlcl_dataset_feature_name(self._ptr, to_int("j", j), ctypes.byref(s))
        return None if s.value is None else s.value.decode(errors="replace")

    @locked()
    def label_name(self, j):
        """The name of label j (None when unnamed); InvalidArgument out of range."""
        s = ctypes.c_char_p()
        C.mlcl_dataset_label_name(self._ptr, to_int("j", j), ctypes.byref(s))
        return None if s.value is None else s.value.decode(errors="replace")

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
        yp = np.zeros((k, int(C.mlcl_label_words(c))), np.uint64)
        C.mlcl_dataset_gather(ptr(x, np.float32), ptr(y, np.uint8), ptr(yp, np.uint64), self._ptr, ptr(r, np.int32), k)
        return x, y, yp

    @locked()
    def standardize_stats(self):
        """(mean, std) per feature, float32 (population std; constant features get 1)."""
        d = self._dims()[1]
        mean, std = np.zeros(d, np.float32), np.zeros(d, np.float32)
        C.mlcl_dataset_standardize_stats(ptr(mean, np.float32), ptr(std, np.float32), self._ptr)
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
        v = ctypes.c_int()
        C.mlcl_batcher_epoch(self._ptr, ctypes.byref(v))
        return v.value

    @property
    @locked("batches_per_epoch")
    def batches_per_epoch(self):
        v = ctypes.c_int()
        C.mlcl_batcher_batches_per_epoch(self._ptr, ctypes.byref(v))
        return v.value

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
        C.mlcl_augment_mask(ptr(out, np.float32), ptr(xa, np.float32), n, d, float(p), h)
    return out


def guess_format(path):
    """The format of a data file or folder, from its name and (for tables) its
    first line: "arff", "csv", "csv-noheader", "npy", "image-csv", "coco",
    "voc" or "unknown" (e.g. LIBSVM). mlcl.IOFailure when it cannot be opened."""
    f = ctypes.c_int()
    C.mlcl_data_guess_format(ctypes.byref(f), to_path("path", path))
    return DATA_FORMATS.get(f.value, "unknown")
