"""The MoCo key/query pair (moco.h): one call per pretraining step."""

import ctypes

import numpy as np

from ._lib import C, LossParts, MocoOptions, MOCO_OPTIONS_VERSION
from ._util import Handle, hot_input, make_options, ptr, struct_to_dict
from .loss import LOSS_ENUMS, LossResult
from .nn import Encoder
from .optim import OPTIM_ENUMS, Optimizer
from .queue import Queue, labels_arg

MOCO_ENUMS = {"loss": LOSS_ENUMS, "optim": OPTIM_ENUMS}

#: indices of mlcl_moco_encoder()
ENCODERS = {"query_backbone": 0, "query_proj": 1, "ld_head": 2, "key_backbone": 3, "key_proj": 4}


def moco_options(**kw):
    """mlcl_moco_options: C defaults then kwargs; ``loss=`` and ``optim=`` take
    dicts of their fields (e.g. loss=dict(variant="rld", sigma=0.5)),
    ``hidden=[...]`` also sets n_hidden."""
    return make_options(MocoOptions, "mlcl_moco_options_init", MOCO_OPTIONS_VERSION, kw,
                        MOCO_ENUMS, "MoCo options")


class MoCo(Handle):
    """``MoCo(in_dim, n_labels, **options)``: query/key networks, queues, loss
    and optimiser. ``step`` is a hot path (float32 C-contiguous inputs required
    unless strict=False)."""

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
                kw["in_dim"] = int(in_dim)
            if n_labels is not None:
                kw["n_labels"] = int(n_labels)
            options = moco_options(**kw)
        elif kw or in_dim is not None or n_labels is not None:
            raise TypeError("pass either options= or keyword options, not both")
        h = ctypes.c_void_p()
        if backbone is not None:
            # mlcl_moco_create_with_backbone: the pair copies the backbone
            if not isinstance(backbone, Encoder):
                raise TypeError("backbone must be an mlcl.Encoder")
            C.mlcl_moco_create_with_backbone(ctypes.byref(h), ctypes.byref(options), backbone.handle)
            if options.in_dim == 0:
                options.in_dim = backbone.in_dim
        else:
            C.mlcl_moco_create(ctypes.byref(h), ctypes.byref(options))
        super().__init__(h.value)
        self.options = struct_to_dict(options)
        self._in_dim, self._c = options.in_dim, options.n_labels

    def _dims(self):
        if self._in_dim is None:
            qb = self.encoder(0)
            self._in_dim = qb.in_dim
            self._c = self.queue.n_labels
        return self._in_dim, self._c

    def step(self, x0, x1, y, strict=None):
        """One pretraining step on views x0, x1 (n, in_dim) float32 with labels y
        (packed uint64 (n, words) or uint8 0/1 (n, c)). Returns a LossResult
        (no gradients)."""
        strict = self.strict if strict is None else strict
        in_dim, c = self._dims()
        x0 = hot_input("x0", x0, np.float32, ndim=2, strict=strict)
        n = x0.shape[0]
        if x0.shape[1] != in_dim:
            raise ValueError("x0 has %d columns, in_dim is %d" % (x0.shape[1], in_dim))
        x1 = hot_input("x1", x1, np.float32, (n, in_dim), strict=strict)
        yp = labels_arg("y", y, n, c, strict)
        parts = LossParts()
        C.mlcl_moco_step(self.handle, n, ptr(x0, np.float32), ptr(x1, np.float32),
                         ptr(yp, np.uint64), ctypes.byref(parts))
        return LossResult(parts)

    def set_lr(self, lr):
        C.mlcl_moco_set_lr(self.handle, float(lr))

    def encoder(self, which):
        """A borrowed Encoder: 0/'query_backbone', 1/'query_proj', 2/'ld_head',
        3/'key_backbone', 4/'key_proj'. Valid while the pair is open."""
        if isinstance(which, str):
            which = ENCODERS[which]
        h = ctypes.c_void_p()
        C.mlcl_moco_encoder(self.handle, int(which), ctypes.byref(h))
        return Encoder(_borrow=h.value, _owner=self, strict=self.strict)

    @property
    def queue(self):
        """The borrowed Queue (keys, labels, distributions)."""
        h = ctypes.c_void_p()
        C.mlcl_moco_queue(self.handle, ctypes.byref(h))
        return Queue(_borrow=h.value, _owner=self)

    @property
    def optimizer(self):
        """The borrowed query-side Optimizer."""
        h = ctypes.c_void_p()
        C.mlcl_moco_optim(self.handle, ctypes.byref(h))
        return Optimizer(_borrow=h.value, _owner=self)

    @property
    def steps(self):
        v = ctypes.c_longlong()
        C.mlcl_moco_steps(self.handle, ctypes.byref(v))
        return int(v.value)
