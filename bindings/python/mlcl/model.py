"""Trained, frozen models (model.h): load, predict, embed, save, export.

A Model holds what is needed to use a training run's result and nothing
needed to continue it: the backbone (its architecture is stored), the
label-distribution head, the input standardisation, the label names, one
decision threshold per label and provenance. Make one with
``Trainer.export_model()`` or ``Model.load(path)``, or from a backbone of
your own with ``Model.create(encoder, n_labels)`` and, for weights trained
elsewhere (PyTorch, torchvision), ``import_safetensors(path)``.

Threads: ``predict``, ``predict_labels``, ``embed``, ``distributions``,
``save``, ``export`` and the getters may run from many threads at once on one
Model (the C functions take a const model; each running call has its own
inference workspace, kept in a small pool for the next call). Setting
``thresholds``, ``label_names`` or a provenance entry waits until the running
calls are done and holds new ones back meanwhile. ``close()`` while calls run
marks the model closed at once (new calls raise) and frees the C model when
the last running call returns.

Every output is a new numpy array owned by Python.
"""

import contextlib
import ctypes
import os
import tempfile
import threading

import numpy as np

from . import _lib
from ._lib import C, MODEL_EXPORTERS, MODEL_OUTPUTS
from ._util import Handle, ptr, to_int, to_path

__all__ = ["Model"]

_INT_MAX = 2**31 - 1
# a closed model raises the package's ClosedError when it has one (a ValueError)
from . import _util  # noqa: E402
_Closed = getattr(_util, "ClosedError", ValueError)


def _s(b):
    return None if b is None else b.decode("utf-8", errors="replace")


# a path for C as bytes; a NUL byte (where C would stop reading) is refused
_path = to_path


class Model(Handle):
    """A trained, frozen model (mlcl_model).

    ``Model.load(path)`` or ``Trainer.export_model()``; ``predict(X)`` gives
    the (n, c) float32 sigmoid scores for raw feature rows X (n, n_features) in
    the layout of the training data (standardised inside with the stored
    statistics).
    """

    _free = "mlcl_model_free"

    def __init__(self, *, _handle):
        super().__init__(_handle)
        self._cv = threading.Condition()
        self._busy = 0          # running read-only calls
        self._writing = False   # a setter runs
        self._writers = 0       # setters waiting: new calls wait behind them
        self._closing = False   # close() was called
        self._pool = []         # idle mlcl_model_workspace pointers
        self._pool_max = max(4, os.cpu_count() or 1)
        v = [ctypes.c_int() for _ in range(5)]
        C.mlcl_model_dims(_handle, *[ctypes.byref(x) for x in v[:3]])
        self._d, self._c, self._h = (x.value for x in v[:3])
        C.mlcl_model_image_shape(_handle, *[ctypes.byref(x) for x in v])
        self._image = tuple(x.value for x in v) if v[0].value else None

    # ------------------------------------------------------------ lifetime
    @classmethod
    def load(cls, path):
        """Reads a model file written by save() (or mlcl-train --save-model).
        A corrupted, truncated or foreign file raises an mlcl.MlclError
        (FormatError, ChecksumError, VersionError, IOFailure) naming the file."""
        h = ctypes.c_void_p()
        C.mlcl_model_load(ctypes.byref(h), _path("Model.load: path", path))
        return cls(_handle=h.value)

    @classmethod
    def create(cls, backbone, n_labels, seed=0):
        """A new model from a backbone Encoder (copied: the encoder stays
        yours) and a freshly initialised label head Linear(embed_dim, n_labels)
        seeded with ``seed``: no standardisation, thresholds 0.5, labels
        named label0 ... . Typically followed by import_safetensors() to run
        weights trained elsewhere (mlcl_model_create)."""
        from .nn import Encoder
        if not isinstance(backbone, Encoder):
            raise TypeError("Model.create: backbone must be an mlcl.Encoder (got %s)" % type(backbone).__name__)
        c = to_int("Model.create: n_labels", n_labels, lo=1)
        sd = to_int("Model.create: seed", seed, ctype=ctypes.c_uint64)
        h = ctypes.c_void_p()
        with backbone._use("Model.create") as eh:
            C.mlcl_model_create(ctypes.byref(h), eh, c, sd)
        return cls(_handle=h.value)

    def import_safetensors(self, path, *, backbone_prefix=None, head_prefix=None,
                           backbone_only=False, allow_unused=False):
        """Replaces the weights (the architecture stays) with the tensors of a
        safetensors file, found by their PyTorch names (those export() writes;
        mlcl_model_import_safetensors). ``backbone_prefix``: prefix of the
        backbone's tensor names (None: "backbone.", "" for a bare torchvision
        ResNet state_dict); ``head_prefix``: of the head's weight and bias
        (None: "head.", "fc." for a torchvision classifier); ``backbone_only``:
        read the backbone only; ``allow_unused``: ignore tensors of the file
        that are not read. A malformed file, a missing tensor or one of the
        wrong dtype or shape raises an mlcl.MlclError naming it, with the
        model unchanged. Waits for running calls, like the setters."""
        cpath = _path("Model.import_safetensors: path", path)
        o = _lib.ModelImportOptions()
        C.mlcl_model_import_options_init(ctypes.byref(o), _lib.MODEL_IMPORT_OPTIONS_VERSION)
        for name, v in (("backbone_prefix", backbone_prefix), ("head_prefix", head_prefix)):
            if v is not None:
                if not isinstance(v, str):
                    raise TypeError("Model.import_safetensors: %s must be a str (got %s)" % (name, type(v).__name__))
                b = v.encode("utf-8")
                if b"\0" in b:
                    raise ValueError("Model.import_safetensors: %s contains a NUL byte" % name)
                setattr(o, name, b)
        o.backbone_only = 1 if backbone_only else 0
        o.allow_unused = 1 if allow_unused else 0
        with self._writing_to() as p:
            C.mlcl_model_import_safetensors(p, cpath, ctypes.byref(o))

    @property
    def handle(self):
        """The raw C pointer (int); using it directly bypasses the thread rules."""
        if not self._ptr or self._closing:
            raise _Closed("Model is closed")
        return self._ptr

    @property
    def closed(self):
        return not self._ptr or self._closing

    def close(self):
        """Frees the C model (no-op when already closed). While calls run in
        other threads the model is closed at once for new calls and freed
        when the last running call returns."""
        with self._cv:
            if not self._ptr or self._closing:
                return
            self._closing = True
            self._cv.notify_all()  # waiting calls give up
            while self._writing:
                self._cv.wait()
            if self._busy:
                return  # the last running call frees it
        self._free_now()

    def _free_now(self):
        with self._cv:
            p, self._ptr = self._ptr, None
            pool, self._pool = self._pool, []
        for ws in pool:  # workspaces go before their model
            C.mlcl_model_workspace_free(ws)
        if p:
            C.mlcl_model_free(p)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    @contextlib.contextmanager
    def _reading(self):
        with self._cv:
            while (self._writing or self._writers) and self._ptr and not self._closing:
                self._cv.wait()
            if not self._ptr or self._closing:
                raise _Closed("Model is closed")
            self._busy += 1
            p = self._ptr
        try:
            yield p
        finally:
            with self._cv:
                self._busy -= 1
                last = self._busy == 0 and self._closing
                self._cv.notify_all()
            if last:
                self._free_now()

    @contextlib.contextmanager
    def _writing_to(self):
        with self._cv:
            self._writers += 1
            try:
                while (self._writing or self._busy) and self._ptr and not self._closing:
                    self._cv.wait()
            finally:
                self._writers -= 1
            if not self._ptr or self._closing:
                self._cv.notify_all()
                raise _Closed("Model is closed")
            self._writing = True
            p = self._ptr
        try:
            yield p
        finally:
            with self._cv:
                self._writing = False
                self._cv.notify_all()

    # ------------------------------------------------------------ pickling
    def to_bytes(self):
        """The model file's bytes (what save() writes)."""
        with tempfile.TemporaryDirectory(prefix="mlcl-model-") as d:
            path = os.path.join(d, "model.mlcl")
            self.save(path)
            with open(path, "rb") as f:
                return f.read()

    @classmethod
    def from_bytes(cls, data):
        """A Model from the bytes of a model file (validated as by load())."""
        with tempfile.TemporaryDirectory(prefix="mlcl-model-") as d:
            path = os.path.join(d, "model.mlcl")
            with open(path, "wb") as f:
                f.write(bytes(data))
            return cls.load(path)

    def __reduce__(self):
        return (Model.from_bytes, (self.to_bytes(),))

    # ------------------------------------------------------------ inference
    def _x(self, X, what):
        a = np.asarray(X)
        if a.dtype.kind not in "biuf":
            raise TypeError("%s: X must hold numbers (got dtype %s)" % (what, a.dtype))
        if self._image is not None and a.ndim == 4 and a.shape[1:] == self._image[:3]:
            a = a.reshape(a.shape[0], -1)  # (n, channels, height, width) images
        if a.ndim != 2:
            raise ValueError("%s: X must be 2-dimensional (n_samples, n_features), got shape %s"
                             % (what, a.shape))
        if a.shape[1] != self._d:
            raise ValueError("%s: X has %d features per row, the model takes %d"
                             % (what, a.shape[1], self._d))
        if a.shape[0] > _INT_MAX:
            raise ValueError("%s: X has %d rows, at most %d per call" % (what, a.shape[0], _INT_MAX))
        with np.errstate(over="ignore"):  # overflow to Inf is reported below
            a = np.ascontiguousarray(a, dtype=np.float32)  # a copy only when needed
        ok = np.isfinite(a)
        if not ok.all():
            rows = np.flatnonzero(~ok.all(axis=1))
            raise ValueError("%s: X has NaN or Inf (after conversion to float32) in %d row(s): %s%s"
                             % (what, rows.size, ", ".join(str(int(r)) for r in rows[:10]),
                                " ..." if rows.size > 10 else ""))
        return a

    def _infer(self, X, output, width, what):
        a = self._x(X, what)
        out = np.empty((a.shape[0], width), np.float32)
        if a.shape[0] == 0:
            return out
        with self._reading() as p:
            with self._cv:
                ws = self._pool.pop() if self._pool else None
            if ws is None:
                h = ctypes.c_void_p()
                C.mlcl_model_workspace_create(ctypes.byref(h), p)
                ws = h.value
            try:
                C.mlcl_model_infer(p, ws, MODEL_OUTPUTS[output], a.shape[0], ptr(a, np.float32),
                                   ptr(out, np.float32))
            finally:
                with self._cv:
                    keep = len(self._pool) < self._pool_max
                    if keep:
                        self._pool.append(ws)
                if not keep:
                    C.mlcl_model_workspace_free(ws)
        return out

    def predict(self, X):
        """Sigmoid scores of the label head: X (n, n_features) -> (n, n_labels)
        float32. Equal bit for bit to the exporting trainer's predict()."""
        return self._infer(X, "scores", self._c, "Model.predict")

    def predict_labels(self, X):
        """0/1 decisions, score >= the label's threshold (``thresholds``):
        X (n, n_features) -> (n, n_labels) uint8."""
        return self._infer(X, "labels", self._c, "Model.predict_labels").astype(np.uint8)

    def embed(self, X):
        """Backbone features (what the heads read): X -> (n, embed_dim) float32."""
        return self._infer(X, "embedding", self._h, "Model.embed")

    def distributions(self, X):
        """Label distributions, softmax of the label head (rows sum to 1):
        X -> (n, n_labels) float32."""
        return self._infer(X, "distributions", self._c, "Model.distributions")

    # ------------------------------------------------------------ files
    def save(self, path):
        """Writes the model file (atomically: a temporary file renamed)."""
        with self._reading() as p:
            C.mlcl_model_save(p, _path("Model.save: path", path))

    def export(self, path, format=None):
        """Writes the model for other runtimes, by the extension of ``path``
        (or ``format``): ``.safetensors`` (PyTorch state_dict names), ``.onnx``
        (the inference graph) or ``.npz``. NotImplementedError when the loaded
        library has no exporter for that format."""
        ext = format if format is not None else os.path.splitext(os.fspath(path))[1]
        ext = ext.lower() if isinstance(ext, str) else ext
        if isinstance(ext, str) and ext and not ext.startswith("."):
            ext = "." + ext
        cpath = _path("Model.export: path", path)
        name = MODEL_EXPORTERS.get(ext)
        if name is None:
            raise ValueError("Model.export: cannot tell the format of %r: use a file name ending "
                             "in %s, or format=" % (path, ", ".join(sorted(MODEL_EXPORTERS))))
        f = _lib.optional_function(name, [ctypes.c_void_p, ctypes.c_char_p])
        if f is None:
            raise NotImplementedError(
                "Model.export(%r): the loaded libmlcl (%s, %s) does not export %s(), which writes "
                "%s files; use a library built with the model exporters" % (
                    os.fspath(path), _lib.version_string, _lib.path, name, ext))
        with self._reading() as p:
            f(p, cpath)

    # ------------------------------------------------------------ description
    n_features = property(lambda self: self._d, doc="Input row width.")
    n_labels = property(lambda self: self._c, doc="Number of labels c.")
    embed_dim = property(lambda self: self._h, doc="Width of the backbone features (embed()).")

    @property
    def image_shape(self):
        """(channels, height, width, net_height, net_width) of a convolutional
        model (rows are CHW images, resized to the network's input size), or
        None for a model over feature vectors."""
        return self._image

    @property
    def label_names(self):
        """The c label names (list of str); assign a list of c names to replace them."""
        out = []
        with self._reading() as p:
            s = ctypes.c_char_p()
            for j in range(self._c):
                C.mlcl_model_label_name(p, j, ctypes.byref(s))
                out.append(_s(s.value))
        return out

    @label_names.setter
    def label_names(self, names):
        if isinstance(names, (str, bytes)):
            raise TypeError("label_names must be a sequence of %d strings" % self._c)
        names = list(names)
        if len(names) != self._c:
            raise ValueError("label_names: %d names for %d labels" % (len(names), self._c))
        enc = []
        for j, n in enumerate(names):
            if not isinstance(n, str):
                raise TypeError("label_names[%d] must be a str (got %s)" % (j, type(n).__name__))
            b = n.encode("utf-8")
            if b"\0" in b:
                raise ValueError("label_names[%d] contains a NUL byte" % j)
            enc.append(b)
        arr = (ctypes.c_char_p * self._c)(*enc)
        with self._writing_to() as p:
            C.mlcl_model_set_label_names(p, self._c, arr)

    @property
    def thresholds(self):
        """The per-label decision thresholds used by predict_labels(), (c,)
        float32 (a copy); assign one value or c values in [0, 1]."""
        out = np.empty(self._c, np.float32)
        with self._reading() as p:
            C.mlcl_model_thresholds(p, self._c, ptr(out, np.float32))
        return out

    @thresholds.setter
    def thresholds(self, t):
        a = np.asarray(t, dtype=np.float64)
        if a.ndim == 0:
            a = np.full(self._c, float(a))
        if a.shape != (self._c,):
            raise ValueError("thresholds: one value or %d values (got shape %s)"
                             % (self._c, a.shape))
        bad = np.flatnonzero(~((a >= 0) & (a <= 1)))
        if bad.size:
            raise ValueError("thresholds[%d] = %r is outside [0, 1]" % (bad[0], float(a[bad[0]])))
        a = np.ascontiguousarray(a, dtype=np.float32)
        with self._writing_to() as p:
            C.mlcl_model_set_thresholds(p, self._c, ptr(a, np.float32))

    @property
    def standardization(self):
        """(mean, std) float32 arrays of the input standardisation
        x' = (x - mean) / std, or None when inputs are used as given."""
        flag = ctypes.c_int()
        mean = np.empty(self._d, np.float32)
        std = np.empty(self._d, np.float32)
        with self._reading() as p:
            C.mlcl_model_standardization(p, ctypes.byref(flag), ptr(mean, np.float32),
                                         ptr(std, np.float32), self._d)
        return (mean, std) if flag.value else None

    @property
    def architecture(self):
        """A one-line description of the networks."""
        s = ctypes.c_char_p()
        with self._reading() as p:
            C.mlcl_model_architecture(p, ctypes.byref(s))
            return _s(s.value)

    @property
    def provenance(self):
        """The provenance entries (library, method, seed, data files, training
        set hash, metrics at the end of training ...) as an ordered dict of str."""
        out = {}
        with self._reading() as p:
            n = ctypes.c_int()
            C.mlcl_model_provenance_count(p, ctypes.byref(n))
            k, v = ctypes.c_char_p(), ctypes.c_char_p()
            for i in range(n.value):
                C.mlcl_model_provenance(p, i, ctypes.byref(k), ctypes.byref(v))
                out[_s(k.value)] = _s(v.value)
        return out

    def get_provenance(self, key, default=None):
        """One provenance value (str), or ``default`` when the model has no such entry."""
        k = str(key).encode("utf-8")
        if b"\0" in k:
            raise ValueError("get_provenance: NUL byte in the key")
        v = ctypes.c_char_p()
        with self._reading() as p:
            C.mlcl_model_provenance_get(p, k, ctypes.byref(v))
            return default if v.value is None else _s(v.value)

    def set_provenance(self, key, value):
        """Adds or replaces a provenance entry (key: letters, digits, '_', '.',
        '-'; value: one line), e.g. metrics computed after the export."""
        k, v = str(key).encode("utf-8"), str(value).encode("utf-8")
        if b"\0" in k or b"\0" in v:
            raise ValueError("set_provenance: NUL byte in the key or value")
        with self._writing_to() as p:
            C.mlcl_model_set_provenance(p, k, v)

    def info(self):
        """Shapes, label names, thresholds, standardisation, architecture and
        provenance as a plain dict."""
        return {
            "n_features": self._d, "n_labels": self._c, "embed_dim": self._h,
            "image_shape": self._image,
            "label_names": self.label_names,
            "thresholds": [float(t) for t in self.thresholds],
            "standardized": self.standardization is not None,
            "architecture": self.architecture,
            "provenance": self.provenance,
        }

    def __repr__(self):
        if self.closed:
            return "<mlcl.Model (closed)>"
        return "<mlcl.Model %d features -> %d labels, embedding %d, method %s>" % (
            self._d, self._c, self._h, self.get_provenance("method", "?"))


def _metrics_struct(name, m):
    if m is None:
        return None
    if isinstance(m, _lib.Metrics):
        return m
    s = _lib.Metrics()
    C.mlcl_metrics_init(ctypes.byref(s), _lib.METRICS_VERSION)
    if not isinstance(m, dict):
        raise TypeError("%s must be a metrics dict (as from Trainer.evaluate())" % name)
    fields = {f for f, _ in _lib.Metrics._fields_} - {"version"}
    for k, v in m.items():
        if k not in fields:
            raise ValueError("%s: unknown metric %r (known: %s)" % (name, k, ", ".join(sorted(fields))))
        setattr(s, k, v)
    return s


def export_from_trainer(trainer, label_names=None, thresholds=None, train_path=None,
                        test_path=None, metrics=None):
    """Trainer.export_model(): see there."""
    c = trainer._c
    opts = _lib.ModelExportOptions()
    C.mlcl_model_export_options_init(ctypes.byref(opts), _lib.MODEL_EXPORT_OPTIONS_VERSION)
    keep = []
    train = getattr(trainer, "_train", None)
    if train is not None and not train.closed:
        opts.train = train.handle  # label names and the training-set hash
    if label_names is not None:
        if isinstance(label_names, (str, bytes)):
            raise TypeError("label_names must be a sequence of %d strings" % c)
        names = [str(n).encode("utf-8") for n in label_names]
        if len(names) != c:
            raise ValueError("label_names: %d names for %d labels" % (len(names), c))
        arr = (ctypes.c_char_p * c)(*names)
        keep.append(arr)
        opts.label_names = arr
    if thresholds is not None:
        t = np.asarray(thresholds, dtype=np.float32)
        if t.ndim == 0:
            t = np.full(c, t, np.float32)
        if t.shape != (c,):
            raise ValueError("thresholds: one value or %d values (got shape %s)" % (c, t.shape))
        t = np.ascontiguousarray(t)
        keep.append(t)
        opts.thresholds = ptr(t, np.float32)
    if train_path is not None:
        opts.train_path = _path("train_path", train_path)
    if test_path is not None:
        opts.test_path = _path("test_path", test_path)
    if metrics is not None:
        if not isinstance(metrics, dict) or not set(metrics) <= {"paper", "t05"}:
            raise TypeError("metrics must be Trainer.evaluate()'s dict {'paper': ..., 't05': ...}")
        for key, field in (("paper", "test_paper"), ("t05", "test_t05")):
            s = _metrics_struct("metrics[%r]" % key, metrics.get(key))
            if s is not None:
                keep.append(s)
                setattr(opts, field, ctypes.pointer(s))
    h = ctypes.c_void_p()
    use = getattr(trainer, "_use", None)  # the package's busy protocol, where it has one
    with (use("export_model") if use is not None else contextlib.nullcontext(trainer.handle)) as th:
        C.mlcl_trainer_export_model_ex(th, ctypes.byref(h), ctypes.byref(opts))
    return Model(_handle=h.value)
