"""A scikit-learn-style multi-label classifier over the two-phase trainer.

``MulSupConClassifier(method="cld", preset=None, ...).fit(X, Y)`` builds a
Dataset from the arrays, trains with mlcl.Trainer (contrastive pretraining,
then fine-tuning), and keeps the exported mlcl.Model as ``model_``.

With scikit-learn installed the class derives from sklearn's BaseEstimator
and ClassifierMixin (clone, get_params/set_params, cross_val_score,
GridSearchCV work); without it this module still imports and the class keeps
the same get_params/set_params.
"""

import inspect

import numpy as np

from ._lib import TrainOptions
from .data import Dataset
from .trainer import Trainer

try:  # optional
    from sklearn.base import BaseEstimator, ClassifierMixin
    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised by a test in a subprocess
    HAVE_SKLEARN = False

    class BaseEstimator:
        """The parameter protocol of sklearn.base.BaseEstimator (get_params /
        set_params over the constructor's keyword arguments)."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True):
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params):
            valid = self.get_params(deep=True)
            for k, v in params.items():
                if k not in valid:
                    raise ValueError("Invalid parameter %r for estimator %s. Valid parameters "
                                     "are: %s." % (k, type(self).__name__, sorted(valid)))
                setattr(self, k, v)
            return self

        def __repr__(self):
            return "%s(%s)" % (type(self).__name__, ", ".join(
                "%s=%r" % kv for kv in sorted(self.get_params().items())))

    class ClassifierMixin:
        _estimator_type = "classifier"

        def score(self, X, y):
            """Subset accuracy (every label of a row right)."""
            y = np.asarray(y)
            return float(np.mean(np.all(self.predict(X) == y.reshape(len(y), -1), axis=1)))

__all__ = ["MulSupConClassifier", "HAVE_SKLEARN"]

# train_options fields that may be passed as extra keyword arguments (the
# other fields have their own constructor parameter)
_EXTRA_FIELDS = ("moco", "pretrain", "finetune", "standardize", "stop_on_nonfinite")


def _check_extra(name):
    if name not in _EXTRA_FIELDS:
        known = [f for f, _ in TrainOptions._fields_ if f != "version"]
        raise TypeError("MulSupConClassifier: unknown option %r (options: %s; the train "
                        "options %s)" % (name, ", ".join(MulSupConClassifier._get_param_names()),
                                         ", ".join(k for k in known if k in _EXTRA_FIELDS)))


def _as_2d_numbers(name, a):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError("%s must hold numbers (got dtype %s)" % (name, a.dtype))
    if a.ndim != 2:
        raise ValueError("%s must be 2-dimensional, got shape %s" % (name, a.shape))
    return a


class MulSupConClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label classifier: supervised contrastive pretraining (``method``:
    "cld", "rld", "mulsupcon", "supcon-all", "supcon-any" or "none") and
    fine-tuning with mlcl.Trainer.

    Parameters (None = the preset's value, else the library default):
    ``method``, ``preset`` ("yeast", "scene" or None), ``pretrain_epochs``,
    ``finetune_epochs``, ``pretrain_lr``, ``finetune_lr``, ``batch``,
    ``queue_size`` (MoCo queue), ``seed``, ``threads`` (0 = all cores),
    ``thresholds`` (one value or one per label, for predict(); default 0.5),
    ``label_names`` (recorded in the model). Further keyword arguments are
    train options (``moco=dict(...)``, ``pretrain=dict(...)``,
    ``finetune=dict(...)``, ``standardize=0/1``, ``stop_on_nonfinite``),
    applied before the parameters above.

    After fit(): ``model_`` (an mlcl.Model), ``n_features_in_``,
    ``n_labels_``, ``label_names_``, ``classes_`` (one [0, 1] per label).
    """

    def __init__(self, method="cld", preset=None, pretrain_epochs=None, finetune_epochs=None,
                 pretrain_lr=None, finetune_lr=None, batch=None, queue_size=None, seed=None,
                 threads=None, thresholds=None, label_names=None, **options):
        self.method = method
        self.preset = preset
        self.pretrain_epochs = pretrain_epochs
        self.finetune_epochs = finetune_epochs
        self.pretrain_lr = pretrain_lr
        self.finetune_lr = finetune_lr
        self.batch = batch
        self.queue_size = queue_size
        self.seed = seed
        self.threads = threads
        self.thresholds = thresholds
        self.label_names = label_names
        for k in options:
            _check_extra(k)
        self._extra = tuple(sorted(options))
        for k, v in options.items():
            setattr(self, k, v)

    # ---- parameters (the extra train options are parameters too)
    def get_params(self, deep=True):
        p = super().get_params(deep=deep)
        for k in getattr(self, "_extra", ()):
            p[k] = getattr(self, k)
        return p

    def set_params(self, **params):
        new = [k for k in params if k in _EXTRA_FIELDS and k not in self._extra]
        for k in new:  # a train option not given to the constructor
            setattr(self, k, None)
        self._extra = tuple(sorted(set(self._extra) | set(new)))
        return super().set_params(**params)

    def _train_kwargs(self):
        kw = {}
        for k in self._extra:
            v = getattr(self, k)
            if v is not None:
                kw[k] = dict(v) if isinstance(v, dict) else v
        kw["method"] = self.method
        for key, v in (("batch", self.batch), ("seed", self.seed), ("threads", self.threads)):
            if v is not None:
                kw[key] = v
        for phase, epochs, lr in (("pretrain", self.pretrain_epochs, self.pretrain_lr),
                                  ("finetune", self.finetune_epochs, self.finetune_lr)):
            d = kw.setdefault(phase, {})
            if not isinstance(d, dict):
                raise TypeError("%s must be a dict of phase options" % phase)
            if epochs is not None:
                d["epochs"] = epochs
            if lr is not None:
                d["lr"] = lr
        if self.queue_size is not None:
            moco = kw.setdefault("moco", {})
            if not isinstance(moco, dict):
                raise TypeError("moco must be a dict of MoCo options")
            moco["queue_size"] = self.queue_size
        return kw

    # ---- training
    def fit(self, X, Y):
        """Trains on features X (n, d) and a 0/1 label indicator matrix Y (n, c)."""
        X = _as_2d_numbers("X", X)
        Y = np.asarray(Y)
        if Y.ndim != 2:
            raise ValueError("Y must be an (n_samples, n_labels) 0/1 indicator matrix, got shape %s"
                             % (Y.shape,))
        if Y.shape[0] != X.shape[0]:
            raise ValueError("X has %d rows, Y %d" % (X.shape[0], Y.shape[0]))
        if Y.dtype.kind not in "biuf" or not np.isin(Y, (0, 1)).all():
            raise ValueError("Y must hold only 0 and 1 (a label indicator matrix)")
        Xf = np.ascontiguousarray(X, dtype=np.float32)
        if not np.isfinite(Xf).all():
            rows = np.flatnonzero(~np.isfinite(Xf).all(axis=1))
            raise ValueError("X has NaN or Inf in %d row(s), first %d" % (rows.size, rows[0]))
        kw = self._train_kwargs()
        data = Dataset.from_arrays(Xf, Y.astype(np.uint8))
        try:
            trainer = Trainer(data, preset=self.preset, **kw)
            try:
                trainer.run()
                model = trainer.export_model(label_names=self.label_names,
                                             thresholds=self.thresholds)
            finally:
                trainer.close()
        finally:
            data.close()
        self.model_ = model  # a previous model_ is left to its other holders (freed when unused)
        self.n_features_in_ = Xf.shape[1]
        self.n_labels_ = Y.shape[1]
        self.label_names_ = model.label_names
        self.classes_ = [np.array([0, 1]) for _ in range(Y.shape[1])]
        return self

    def _model(self):
        m = getattr(self, "model_", None)
        if m is None:
            try:
                from sklearn.exceptions import NotFittedError
            except ImportError:
                NotFittedError = AttributeError
            raise NotFittedError("This MulSupConClassifier instance is not fitted yet: call fit(X, Y) "
                                 "first")
        return m

    # ---- inference
    def predict_proba(self, X):
        """Per-label probabilities (sigmoid scores), (n, c) float32."""
        return self._model().predict(X)

    def predict(self, X):
        """0/1 decisions with the model's thresholds, (n, c) uint8."""
        return self._model().predict_labels(X)

    def transform(self, X):
        """The backbone's embedding of X, (n, embed_dim) float32."""
        return self._model().embed(X)

    def _more_tags(self):
        return {"multilabel": True, "requires_y": True}
