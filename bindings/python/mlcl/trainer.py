"""The two-phase trainer (train.h): pretraining, fine-tuning, evaluation,
checkpoints."""

import ctypes
import os

import numpy as np

from . import _lib
from ._lib import (C, Metrics, METRICS_VERSION, PROGRESS_FN, SimclrOptions, TrainOptions,
                   TRAIN_OPTIONS_VERSION, TrainerExOptions, TRAINER_EX_OPTIONS_VERSION, SELECT_NONE,
                   THRESHOLD_MODES, ValidationOptions, VALIDATION_OPTIONS_VERSION)
from ._util import threads_property, BusyError, Handle, apply_kwargs, as_input, locked, ptr, struct_to_dict, to_cstr, to_int, to_path
from .data import Dataset
from .metrics import metrics_dict
from .moco import MOCO_ENUMS, MoCo

METHODS = {"none": 0, "mulsupcon": 1, "rld": 2, "cld": 3, "supcon-all": 4, "supcon-any": 5}
METHOD_NAMES = {v: k for k, v in METHODS.items()}
_PHASE_ENUMS = {"optim": {"sgd": 0, "adam": 1, "adamw": 2},
                "sched": {"constant": 0, "step": 1, "cosine": 2, "cosine_warm_restarts": 3}}
TRAIN_ENUMS = {"method": METHODS, "moco": MOCO_ENUMS, "pretrain": _PHASE_ENUMS,
               "finetune": _PHASE_ENUMS}


def train_options(preset=None, **kw):
    """mlcl_train_options: C defaults (mlcl_train_options_init), then the preset
    ('yeast' or 'scene', mlcl_train_options_preset), then kwargs. Nested
    structs take dicts: moco=dict(queue_size=256, loss=dict(alpha=0.1)),
    pretrain=dict(epochs=2), finetune=dict(epochs=2, lr=4e-4). method takes
    'none', 'mulsupcon', 'rld', 'cld', 'supcon-all', 'supcon-any'."""
    c = _lib.CTrainOptions()
    C.mlcl_train_options_init(ctypes.byref(c), TRAIN_OPTIONS_VERSION)
    if preset is not None:
        C.mlcl_train_options_preset(ctypes.byref(c), to_cstr("preset", preset))
    o = TrainOptions.from_c(c)
    apply_kwargs(o, kw, TRAIN_ENUMS, "train options")
    return o


class ProgressInfo:
    """What the progress callback receives (a copy of mlcl_progress)."""

    __slots__ = tuple(f[0] for f in _lib.Progress._fields_)

    def __init__(self, p):
        for name in self.__slots__:
            setattr(self, name, getattr(p, name))

    def __repr__(self):
        return "ProgressInfo(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)


class Trainer(Handle):
    """``Trainer(train_dataset, preset=None, options=None, progress=None, **kw)``.

    The C trainer copies what it keeps of the training Dataset; this object
    still keeps a reference and the Dataset refuses close() while the trainer
    is open (a Python-side rule, unchanged).
    ``progress`` is called with a ProgressInfo after every step; returning a
    true value stops the run (run() then raises mlcl.Interrupted); an exception
    raised by it stops the run and is re-raised from run()/run_epochs().

    While run()/run_epochs() runs, the trainer is busy: calls from other
    threads raise BusyError (a second run() too); the progress callback may
    call the read-only and evaluation methods (position, timing, predict,
    distributions, evaluate, save, moco for reading) but not run(),
    run_epochs(), load(), set_progress() or close() (BusyError, re-raised from
    run()).
    """

    threads = threads_property('trainer')

    _free = "mlcl_trainer_free"

    def __init__(self, train, preset=None, options=None, progress=None, *, backbone=None,
                 pretrain_views=None, finetune_views=None, **kw):
        if not isinstance(train, Dataset):
            raise TypeError("train must be an mlcl.Dataset")
        if options is None:
            options = train_options(preset, **kw)
        elif kw or preset is not None:
            raise TypeError("pass either options= or preset/keyword options, not both")
        self._options = options
        h = ctypes.c_void_p()
        if backbone is None and pretrain_views is None and finetune_views is None:
            with train._use("Trainer(train)") as th:
                C.mlcl_trainer_create(ctypes.byref(h), options.c_ref(), th)
                d, c = train._dims()[1:]
                train._pins += 1
        else:
            # mlcl_trainer_create_ex: a caller's backbone (copied) and/or SimCLR
            # views (mlcl.simclr_options(...) or a dict of its fields)
            ex = TrainerExOptions()
            C.mlcl_trainer_ex_options_init(ctypes.byref(ex), TRAINER_EX_OPTIONS_VERSION)
            keep = []
            if backbone is not None:
                from .nn import Encoder
                if not isinstance(backbone, Encoder):
                    raise TypeError("backbone must be an mlcl.Encoder")
            for name, v in (("pretrain_views", pretrain_views), ("finetune_views", finetune_views)):
                if v is None:
                    continue
                if isinstance(v, dict):
                    from .image import simclr_options
                    v = simclr_options(**v)
                if not isinstance(v, SimclrOptions):
                    raise TypeError("%s must be mlcl.simclr_options(...) or a dict" % name)
                keep.append(v)
                setattr(ex, name, ctypes.pointer(v))
            stack, (th, bb) = train._use_all("Trainer(train)", backbone)
            with stack:
                ex.backbone = bb
                C.mlcl_trainer_create_ex(ctypes.byref(h), options.c_ref(), th,
                                         ctypes.byref(ex))
                d, c = train._dims()[1:]
                train._pins += 1
        super().__init__(h.value)
        self._train = train
        self._cb = None
        self._cb_user = None
        self._cb_exc = None
        self._d, self._c = d, c
        self._val = None
        if progress is not None:
            self.set_progress(progress)

    @classmethod
    def from_loaders(cls, pretrain_loader=None, finetune_loader=None, preset=None, options=None,
                     progress=None, *, backbone=None, **kw):
        """A trainer that takes its batches from mlcl.Loader objects
        (mlcl_trainer_create_stream): ``pretrain_loader`` (views=2) feeds the
        pretraining phase, ``finetune_loader`` (views 0 or 1) the fine-tuning;
        either may be None when its phase does not run. Both must be over the
        same ImageList, give images of the same size and have
        batch = options.batch. ``backbone``: an mlcl.Encoder (copied), e.g.
        a resnet_spec() encoder for images; None = the MLP of the options.

        The trainer BORROWS the loaders: it keeps them alive, and while it is
        open every call on them (and their close()) raises BusyError. Inputs
        of predict()/distributions() are images (n, C, H, W) or (n, C*H*W)
        with values in [0, 1]: the loaders' normalisation is applied by the
        trainer."""
        from .loader import Loader
        pretrain, finetune = pretrain_loader, finetune_loader
        if pretrain is None and finetune is None:
            raise ValueError("give at least one loader (pretrain_loader or finetune_loader)")
        for name, ld in (("pretrain", pretrain), ("finetune", finetune)):
            if ld is not None and not isinstance(ld, Loader):
                raise TypeError("%s_loader must be an mlcl.Loader or None" % name)
            if ld is not None and ld._pins:
                raise BusyError("%s_loader is already borrowed by an open Trainer" % name)
        if pretrain is not None and pretrain is finetune:
            raise ValueError("pretrain_loader and finetune_loader must be two loaders (views 2 and 0/1)")
        if options is None:
            options = train_options(preset, **kw)
        elif kw or preset is not None:
            raise TypeError("pass either options= or preset/keyword options, not both")
        if backbone is not None:
            from .nn import Encoder
            if not isinstance(backbone, Encoder):
                raise TypeError("backbone must be an mlcl.Encoder")
        h = ctypes.c_void_p()
        first = pretrain if pretrain is not None else finetune
        stack, (_, fh, bb) = first._use_all("Trainer.from_loaders",
                                             finetune if pretrain is not None else None, backbone)
        with stack:
            ph = pretrain._ptr if pretrain is not None else None
            fh = finetune._ptr if finetune is not None else None
            C.mlcl_trainer_create_stream(ctypes.byref(h), options.c_ref(), ph, fh, bb)
            c, hh, w = first.shape
            for ld in (pretrain, finetune):
                if ld is not None:
                    ld._pins += 1
        self = cls.__new__(cls)
        Handle.__init__(self, h.value)
        self._options = options
        self._train = None
        self._loaders = [ld for ld in (pretrain, finetune) if ld is not None]
        self._cb = None
        self._cb_user = None
        self._cb_exc = None
        self._d, self._c = c * hh * w, first.n_labels
        self._val = None
        if progress is not None:
            self.set_progress(progress)
        return self

    def _freed(self):
        train, self._train = getattr(self, "_train", None), None
        if train is not None:
            train._pins -= 1
        loaders, self._loaders = getattr(self, "_loaders", None), None
        for ld in loaders or ():
            ld._pins -= 1
        val, self._val = getattr(self, "_val", None), None
        if val is not None:
            val._pins -= 1

    @property
    def options(self):
        """The options the trainer was created with, as a dict."""
        return struct_to_dict(self._options)

    @property
    def method_name(self):
        return METHOD_NAMES.get(self._options.method, str(self._options.method))

    # ---- progress
    def set_progress(self, fn):
        """Installs (or with None removes) the progress callback. Refused while
        the trainer runs (the running callback would be freed under it)."""
        with self._use("set_progress", exclusive=True) as h:
            if fn is None:
                C.mlcl_trainer_set_callback(h, PROGRESS_FN(), None)
                self._cb = self._cb_user = None
                return
            st = self._state

            def tramp(p, ctx):
                with st.mutex:
                    st.callback += 1
                try:
                    return 1 if fn(ProgressInfo(p.contents)) else 0
                except BaseException as e:  # noqa: BLE001 - re-raised from run()
                    self._cb_exc = e
                    return 1
                finally:
                    with st.mutex:
                        st.callback -= 1
            cb = PROGRESS_FN(tramp)
            C.mlcl_trainer_set_callback(h, cb, None)
            self._cb, self._cb_user = cb, fn  # kept alive as long as the trainer

    def _run(self, op, fn, *args):
        with self._use(op, exclusive=True) as h:
            self._cb_exc = None
            try:
                fn(h, *args)
            except _lib.Interrupted:
                if self._cb_exc is not None:
                    e, self._cb_exc = self._cb_exc, None
                    raise e
                raise

    # ---- running
    def run(self):
        """Runs (or continues) both phases to the end."""
        self._run("run", C.mlcl_trainer_run)

    def run_epochs(self, epochs):
        """At most ``epochs`` more epochs; returns True when both phases are done."""
        done = ctypes.c_int()
        self._run("run_epochs", C.mlcl_trainer_run_epochs, to_int("epochs", epochs),
                  ctypes.byref(done))
        return bool(done.value)

    # ---- run-time settings (mlcl_trainer_set_param)
    PARAMS = ("pretrain_lr", "pretrain_weight_decay", "pretrain_head_lr_scale", "pretrain_mask_p",
              "finetune_lr", "finetune_weight_decay", "finetune_head_lr_scale", "finetune_mask_p",
              "momentum", "tau", "alpha", "beta")

    @classmethod
    def _param(cls, name):
        if name not in cls.PARAMS:
            raise ValueError("unknown parameter %r (one of %s)" % (name, ", ".join(cls.PARAMS)))
        return cls.PARAMS.index(name)

    @classmethod
    def param_bounds(cls, name):
        """(lo, hi): the inclusive range of a run-time setting."""
        lo, hi = ctypes.c_double(), ctypes.c_double()
        C.mlcl_train_param_bounds(cls._param(name), ctypes.byref(lo), ctypes.byref(hi))
        return lo.value, hi.value

    @locked("set_param")
    def set_param(self, name, value):
        """Changes a setting from the next step on (names: Trainer.PARAMS)."""
        C.mlcl_trainer_set_param(self._ptr, self._param(name), float(value))

    @locked("get_param")
    def get_param(self, name):
        """The current value of a setting (names: Trainer.PARAMS)."""
        v = ctypes.c_double()
        C.mlcl_trainer_get_param(self._ptr, self._param(name), ctypes.byref(v))
        return v.value

    @property
    @locked("position")
    def position(self):
        """(phase, epoch): phase 1 pretraining, 2 fine-tuning, 3 finished."""
        ph, ep = ctypes.c_int(), ctypes.c_int()
        C.mlcl_trainer_position(self._ptr, ctypes.byref(ph), ctypes.byref(ep))
        return ph.value, ep.value

    @property
    @locked("timing")
    def timing(self):
        """(pretrain seconds, finetune seconds)."""
        a, b = ctypes.c_double(), ctypes.c_double()
        C.mlcl_trainer_timing(self._ptr, ctypes.byref(a), ctypes.byref(b))
        return a.value, b.value

    # ---- inference
    def _x(self, x):
        if getattr(self, "_loaders", None) and np.ndim(x) == 4:
            x = np.reshape(np.asarray(x, dtype=np.float32), (np.shape(x)[0], -1))  # images
        xa = as_input("x", x, np.float32, ndim=2)  # not a hot path: converted if needed
        if xa.shape[1] != self._d:
            raise ValueError("x has %d columns, the training set %d features"
                             % (xa.shape[1], self._d))
        to_int("rows of x", xa.shape[0])
        return xa

    @locked()
    def predict(self, x):
        """Scores sigmoid(head) for raw features x (n, d) -> (n, c) float32."""
        xa = self._x(x)
        out = np.zeros((xa.shape[0], self._c), np.float32)
        C.mlcl_trainer_predict(self._ptr, xa.shape[0], ptr(xa, np.float32), ptr(out, np.float32))
        return out

    @locked()
    def predict_csr(self, indptr, indices, data):
        """Scores for n sparse rows in CSR (the scipy.sparse.csr_matrix
        layout) -> (n, c) float32; the trainer must not standardise."""
        p = as_input("indptr", indptr, np.int64, ndim=1)
        i = as_input("indices", indices, np.int32, ndim=1)
        v = as_input("data", data, np.float32, ndim=1)
        n = p.size - 1
        if n < 1:
            raise ValueError("indptr must hold at least 2 offsets")
        if i.size < int(p[-1]) or v.size < int(p[-1]):
            raise ValueError("indices (%d) and data (%d) must hold indptr[-1] = %d entries"
                             % (i.size, v.size, int(p[-1])))
        out = np.zeros((n, self._c), np.float32)
        C.mlcl_trainer_predict_csr(self._ptr, n, ptr(p, np.int64), ptr(i, np.int32), ptr(v, np.float32),
                                   ptr(out, np.float32))
        return out

    @locked()
    def distributions(self, x):
        """Label distributions softmax(LD head) for x (n, d) -> (n, c) float32."""
        xa = self._x(x)
        out = np.zeros((xa.shape[0], self._c), np.float32)
        C.mlcl_trainer_distributions(self._ptr, xa.shape[0], ptr(xa, np.float32),
                                     ptr(out, np.float32))
        return out

    def evaluate(self, test):
        """-> {"paper": metrics dict (best over t = 0.1..0.9), "t05": metrics at 0.5}."""
        if not isinstance(test, Dataset):
            raise TypeError("test must be an mlcl.Dataset")
        paper, t05 = Metrics(), Metrics()
        C.mlcl_metrics_init(ctypes.byref(paper), METRICS_VERSION)
        C.mlcl_metrics_init(ctypes.byref(t05), METRICS_VERSION)
        stack, (h, th) = self._use_all("evaluate", test)
        with stack:
            C.mlcl_trainer_evaluate(h, th, ctypes.byref(paper), ctypes.byref(t05))
        return {"paper": metrics_dict(paper), "t05": metrics_dict(t05)}

    # ---- checkpoints
    @locked()
    def save(self, path):
        C.mlcl_trainer_save(self._ptr, to_path("path", path))

    @locked("load", exclusive=True)
    def load(self, path):
        C.mlcl_trainer_load(self._ptr, to_path("path", path))

    @property
    @locked("moco")
    def moco(self):
        """The borrowed MoCo pair inside the trainer."""
        h = ctypes.c_void_p()
        C.mlcl_trainer_moco(self._ptr, ctypes.byref(h))
        return MoCo(_borrow=h.value, _owner=self)

    # ---- the trained model
    def export_model(self, label_names=None, thresholds=None, train_path=None, test_path=None,
                     metrics=None):
        """A frozen mlcl.Model of the trainer's current networks (usually after
        run()), independent of the trainer and its data; it predicts bit for
        bit as predict() does now. Recorded with it: ``label_names`` (c
        strings; default the training set's names, else "label0", ...),
        ``thresholds`` (one value or c values in [0, 1]; default the ones
        chosen on validation (set_validation), else 0.5), the
        data file names ``train_path``/``test_path``, ``metrics`` (the dict
        evaluate() returned) and a hash of the training set."""
        from .model import export_from_trainer
        return export_from_trainer(self, label_names=label_names, thresholds=thresholds,
                                   train_path=train_path, test_path=test_path, metrics=metrics)

    # ---- validation: epoch selection and decision thresholds
    def set_validation(self, val, select_metric=None, patience=0, thresholds="per-label"):
        """Gives the trainer validation rows (held out from the training set,
        never the test set; mlcl_trainer_set_validation). After every
        fine-tuning epoch they are scored; with ``select_metric`` (one of
        METRIC_NAMES: "HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP"; None = keep
        the last epoch) the best epoch's networks are restored at the end, and
        ``patience`` > 0 stops fine-tuning after that many epochs without a new
        best. ``thresholds`` ("per-label", "global" or "none") are chosen on
        ``val`` when fine-tuning ends; export_model() then records them.
        ``val`` None removes the validation set. The C trainer copies ``val``;
        this object keeps a reference (it refuses close() while the trainer is open). Call it before
        fine-tuning starts, and before load() to resume such a run."""
        from .metrics import METRIC_NAMES
        if val is not None and not isinstance(val, Dataset):
            raise TypeError("val must be an mlcl.Dataset or None")
        o = ValidationOptions()
        C.mlcl_validation_options_init(ctypes.byref(o), VALIDATION_OPTIONS_VERSION)
        if select_metric is None:
            o.select_metric = SELECT_NONE
        else:
            if select_metric not in METRIC_NAMES:
                raise ValueError("select_metric: %r is not one of %s (or None)"
                                 % (select_metric, ", ".join(METRIC_NAMES)))
            o.select_metric = METRIC_NAMES.index(select_metric)
        o.patience = to_int("patience", patience, lo=0)
        if o.patience and select_metric is None:
            raise ValueError("patience needs select_metric (early stopping watches that metric)")
        mode = thresholds.lower().replace("_", "-") if isinstance(thresholds, str) else thresholds
        if mode not in THRESHOLD_MODES:
            raise ValueError("thresholds: %r is not one of %s" % (thresholds, ", ".join(THRESHOLD_MODES)))
        o.thresholds = THRESHOLD_MODES[mode]
        if val is not None:
            vd = val.dims  # ClosedError for a closed dataset
            if vd[1:] != (self._d, self._c):
                raise ValueError("val has %d features and %d labels, the training set %d and %d"
                                 % (vd[1], vd[2], self._d, self._c))
        stack, (h, vh) = self._use_all("set_validation", val, exclusive=True)
        with stack:
            C.mlcl_trainer_set_validation(h, vh, ctypes.byref(o))
            old, self._val = self._val, val
            if val is not None:
                val._pins += 1
            if old is not None:
                old._pins -= 1

    @property
    def validation(self):
        """The validation Dataset given to set_validation() (None without one)."""
        return self._val

    @locked("selection")
    def selection(self):
        """The epoch selection so far -> dict(best_epoch (fine-tuning epoch from
        0; -1 before the first or without select_metric), best_value,
        last_value (NaN before the first epoch), epochs_run). InvalidArgument
        without a validation set."""
        be, er = ctypes.c_int(), ctypes.c_int()
        bv, lv = ctypes.c_double(), ctypes.c_double()
        C.mlcl_trainer_selection(self._ptr, ctypes.byref(be), ctypes.byref(bv), ctypes.byref(lv),
                                 ctypes.byref(er))
        return {"best_epoch": be.value, "best_value": bv.value, "last_value": lv.value,
                "epochs_run": er.value}

    @locked("thresholds")
    def thresholds(self):
        """The thresholds chosen on validation when fine-tuning ended ->
        (per_label float32 (c,), global float). InvalidArgument before they
        are chosen (no validation set, thresholds="none", unfinished)."""
        out = np.zeros(self._c, np.float32)
        g = ctypes.c_float()
        C.mlcl_trainer_thresholds(self._ptr, self._c, ptr(out, np.float32), ctypes.byref(g))
        return out, float(g.value)

    def evaluate_thresholds(self, test):
        """Metrics on ``test`` with the thresholds chosen on validation (nothing
        tuned on ``test``) -> {"per_label": metrics dict (label j predicted at
        threshold j, as the exported model predicts), "global": metrics dict
        (the global threshold for every label)}."""
        if not isinstance(test, Dataset):
            raise TypeError("test must be an mlcl.Dataset")
        pl, gl = Metrics(), Metrics()
        C.mlcl_metrics_init(ctypes.byref(pl), METRICS_VERSION)
        C.mlcl_metrics_init(ctypes.byref(gl), METRICS_VERSION)
        stack, (h, th) = self._use_all("evaluate_thresholds", test)
        with stack:
            C.mlcl_trainer_evaluate_thresholds(h, th, ctypes.byref(pl), ctypes.byref(gl))
        return {"per_label": metrics_dict(pl), "global": metrics_dict(gl)}
