"""The MoCo key/query pair (moco.h): one call per pretraining step."""

import ctypes

import numpy as np

from ._lib import C, CMocoOptions, LossParts, MocoOptions, MOCO_OPTIONS_VERSION
from ._util import threads_property, Handle, apply_kwargs, hot_input, locked, ptr, struct_to_dict, to_int
from .loss import LOSS_ENUMS, LossResult
from .nn import Encoder
from .optim import OPTIM_ENUMS, Optimizer
from .queue import Queue, labels_arg

MOCO_ENUMS = {"loss": LOSS_ENUMS, "optim": OPTIM_ENUMS}

#: mlcl_moco_part values (mlcl_moco_encoder())
ENCODERS = {"query_backbone": 0, "query_proj": 1, "ld_head": 2, "key_backbone": 3, "key_proj": 4}

#: mlcl_moco_param values (mlcl_moco_set_param() / get_param() / param_bounds())
PARAMS = {"momentum": 1, "tau": 2, "lr": 3, "alpha": 4, "beta": 5, "sigma": 6}


def _param(name):
    if isinstance(name, str):
        if name not in PARAMS:
            raise ValueError("param: %r is not one of %s" % (name, ", ".join(PARAMS)))
        return PARAMS[name]
    return to_int("param", name)


def param_bounds(name):
    """(lo, hi): the inclusive range MoCo.set_param accepts for ``name``
    ('momentum', 'tau', 'lr', 'alpha', 'beta', 'sigma')."""
    lo, hi = ctypes.c_double(), ctypes.c_double()
    C.mlcl_moco_param_bounds(_param(name), ctypes.byref(lo), ctypes.byref(hi))
    return lo.value, hi.value


def moco_options(**kw):
    """mlcl_moco_options: C defaults then kwargs; ``loss=`` and ``optim=`` take
    dicts of their fields (e.g. loss=dict(variant="rld", sigma=0.5)),
    ``hidden=[...]`` also sets n_hidden."""
    c = CMocoOptions()
    C.mlcl_moco_options_init(ctypes.byref(c), MOCO_OPTIONS_VERSION)
    o = MocoOptions.from_c(c)
    apply_kwargs(o, kw, MOCO_ENUMS, "MoCo options")
    return o


class MoCo(Handle):
    """``MoCo(in_dim, n_labels, **options)``: query/key networks, queues, loss
    and optimiser. ``step`` is a hot path (float32 C-contiguous inputs required
    unless strict=False)."""

    threads = threads_property('moco')

    _free = "mlcl_moco_free"

    def __init__(self, in_dim=None, n_labels=None, *, options=None, backbone=None, strict=True,
                 _borrow=None, _owner=None, **kw):
        self.strict = strict
        if _borrow is not None:
            super().__init__(_borrow, _owner)
            self._in_dim = self._c = None
            return
        if options is None:
            if in_dim is not None:
                kw["in_dim"] = in_dim
            if n_labels is not None:
                kw["n_labels"] = n_labels
            options = moco_options(**kw)
        elif kw or in_dim is not None or n_labels is not None:
            raise TypeError("pass either options= or keyword options, not both")
        h = ctypes.c_void_p()
        if backbone is not None:
            # mlcl_moco_options.backbone: the pair copies the backbone at create
            if not isinstance(backbone, Encoder):
                raise TypeError("backbone must be an mlcl.Encoder")
            with backbone._use("MoCo(backbone=...)") as bb:
                c = options.to_c()
                c.backbone = bb
                C.mlcl_moco_create(ctypes.byref(h), ctypes.byref(c))
            if options.in_dim == 0:
                options.in_dim = backbone.in_dim
        else:
            C.mlcl_moco_create(ctypes.byref(h), ctypes.byref(options.to_c()))
        super().__init__(h.value)
        self.options = struct_to_dict(options)
        self._in_dim, self._c = options.in_dim, options.n_labels

    def _dims(self):
        """(in_dim, n_labels); call with the pair in use."""
        if self._in_dim is None:
            h = ctypes.c_void_p()
            C.mlcl_moco_encoder(self._ptr, 0, ctypes.byref(h))
            v = ctypes.c_int()
            C.mlcl_encoder_in_dim(h.value, ctypes.byref(v))
            q = ctypes.c_void_p()
            C.mlcl_moco_queue(self._ptr, ctypes.byref(q))
            c = ctypes.c_int()
            C.mlcl_queue_n_labels(q.value, ctypes.byref(c))
            self._in_dim, self._c = v.value, c.value
        return self._in_dim, self._c

    def step(self, x0, x1, y, strict=None):
        """One pretraining step on views x0, x1 (n, in_dim) float32 with labels y
        (packed uint64 (n, words) or 0/1 (n, c)). Returns a LossResult
        (no gradients)."""
        strict = self.strict if strict is None else strict
        x0 = hot_input("x0", x0, np.float32, ndim=2, strict=strict)
        n = to_int("rows of x0", x0.shape[0])
        # exclusive: a communicator's callbacks may run inside
        with self._use("step", exclusive=True) as h:
            in_dim, c = self._dims()
            if x0.shape[1] != in_dim:
                raise ValueError("x0 has %d columns, in_dim is %d" % (x0.shape[1], in_dim))
            x1 = hot_input("x1", x1, np.float32, (n, in_dim), strict=strict)
            yp = labels_arg("y", y, n, c, strict)
            parts = LossParts()
            C.mlcl_moco_step(h, n, ptr(x0, np.float32), ptr(x1, np.float32),
                             ptr(yp, np.uint64), ctypes.byref(parts))
        return LossResult(parts)

    @locked()
    def set_param(self, name, value):
        """Sets a run-time setting ('momentum', 'tau', 'lr', 'alpha', 'beta',
        'sigma'; see param_bounds); it applies from the next step."""
        C.mlcl_moco_set_param(self._ptr, _param(name), float(value))

    @locked()
    def get_param(self, name):
        """The current value of a run-time setting (lr: the first group's)."""
        v = ctypes.c_double()
        C.mlcl_moco_get_param(self._ptr, _param(name), ctypes.byref(v))
        return v.value

    param_bounds = staticmethod(param_bounds)

    def set_lr(self, lr):
        """set_param('lr', lr): the learning rate of every query-side group."""
        self.set_param("lr", lr)

    @locked()
    def encoder(self, which):
        """A borrowed Encoder: 0/'query_backbone', 1/'query_proj', 2/'ld_head',
        3/'key_backbone', 4/'key_proj'. Valid while the pair is open."""
        if isinstance(which, str):
            if which not in ENCODERS:
                raise ValueError("which: %r is not one of %s" % (which, ", ".join(ENCODERS)))
            which = ENCODERS[which]
        h = ctypes.c_void_p()
        C.mlcl_moco_encoder(self._ptr, to_int("which", which), ctypes.byref(h))
        return Encoder(_borrow=h.value, _owner=self, strict=self.strict)

    @property
    @locked("queue")
    def queue(self):
        """The borrowed Queue (keys, labels, distributions)."""
        h = ctypes.c_void_p()
        C.mlcl_moco_queue(self._ptr, ctypes.byref(h))
        return Queue(_borrow=h.value, _owner=self)

    @property
    @locked("optimizer")
    def optimizer(self):
        """The borrowed query-side Optimizer."""
        h = ctypes.c_void_p()
        C.mlcl_moco_optim(self._ptr, ctypes.byref(h))
        return Optimizer(_borrow=h.value, _owner=self)

    @property
    @locked("steps")
    def steps(self):
        v = ctypes.c_longlong()
        C.mlcl_moco_steps(self._ptr, ctypes.byref(v))
        return int(v.value)
