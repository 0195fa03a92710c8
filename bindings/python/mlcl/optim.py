"""Optimisers (SGD, Adam, AdamW as PyTorch 1.13) and learning-rate schedules (optim.h)."""

import ctypes

import numpy as np

from ._lib import C, OptimOptions, SchedOptions, OPTIM_OPTIONS_VERSION, SCHED_OPTIONS_VERSION
from ._util import Handle, as_input, locked, make_options, ptr, struct_to_dict, to_int

OPTIM_ENUMS = {"type": {"sgd": 0, "adam": 1, "adamw": 2}}
SCHED_ENUMS = {"type": {"constant": 0, "step": 1, "cosine": 2, "cosine_warm_restarts": 3}}


def optim_options(**kw):
    """mlcl_optim_options: C defaults, then kwargs (type 'sgd'|'adam'|'adamw', lr,
    momentum, dampening, nesterov, beta1, beta2, eps, weight_decay)."""
    return make_options(OptimOptions, "mlcl_optim_options_init", OPTIM_OPTIONS_VERSION, kw,
                        OPTIM_ENUMS, "optimiser options")


def sched_options(**kw):
    """mlcl_sched_options: C defaults, then kwargs (type 'constant'|'step'|'cosine'|
    'cosine_warm_restarts', base_lr, step_size, gamma, T_max, T_0, T_mult, eta_min)."""
    return make_options(SchedOptions, "mlcl_sched_options_init", SCHED_OPTIONS_VERSION, kw,
                        SCHED_ENUMS, "schedule options")


def schedule_lr(epoch, **kw):
    """The learning rate at (fractional) ``epoch`` of the schedule given by kwargs."""
    return Schedule(**kw).lr(epoch)


class Schedule:
    """A learning-rate schedule: ``Schedule(type="cosine", base_lr=0.1, T_max=10).lr(3.5)``."""

    def __init__(self, **kw):
        self._opts = sched_options(**kw)

    @property
    def options(self):
        return struct_to_dict(self._opts)

    def lr(self, epoch):
        out = ctypes.c_float()
        C.mlcl_sched_lr(ctypes.byref(self._opts), float(epoch), ctypes.byref(out))
        return float(out.value)

    __call__ = lr


class Optimizer(Handle):
    """``Optimizer(type="adamw", lr=..., weight_decay=...)`` over parameter groups.

    The C optimiser keeps POINTERS to the group buffers: ``add_group(params,
    grads)`` needs writable C-contiguous float32 numpy arrays (no copy is made,
    TypeError otherwise) and the arrays are kept alive as long as the C
    optimiser (also for the optimiser borrowed from a MoCo pair);
    ``add_encoder(enc)`` uses views of the encoder's own parameter/gradient
    buffers, so the encoder stays alive (and refuses to add layers) while the
    optimiser exists.
    """

    _free = "mlcl_optim_free"

    def __init__(self, *, _borrow=None, _owner=None, **kw):
        if _borrow is not None:
            super().__init__(_borrow, _owner)
            return
        self._opts = optim_options(**kw)
        h = ctypes.c_void_p()
        C.mlcl_optim_create(ctypes.byref(h), ctypes.byref(self._opts))
        super().__init__(h.value)

    def _defaults(self, lr, weight_decay):
        o = getattr(self, "_opts", None)
        lr = (o.lr if o is not None else 1e-3) if lr is None else lr
        weight_decay = (o.weight_decay if o is not None else 0.0) if weight_decay is None \
            else weight_decay
        return float(lr), float(weight_decay)

    @locked()
    def add_group(self, params, grads, lr=None, weight_decay=None):
        """Adds a group over two same-size float32 arrays; returns the group id."""
        for name, a in (("params", params), ("grads", grads)):
            if not isinstance(a, np.ndarray) or a.dtype != np.float32 or \
                    not a.flags.c_contiguous or not a.flags.writeable:
                raise TypeError("%s must be a writable C-contiguous float32 numpy array "
                                "(the optimiser works in place on it)" % name)
        if params.size != grads.size:
            raise ValueError("params has %d elements, grads %d" % (params.size, grads.size))
        lr, wd = self._defaults(lr, weight_decay)
        gid = ctypes.c_int()
        C.mlcl_optim_add_group(self._ptr, ptr(params, np.float32), ptr(grads, np.float32),
                               params.size, lr, wd, ctypes.byref(gid))
        # the C optimiser points into them: alive as long as the C object
        self._state.keep.setdefault(("optim groups", self._ptr), []).append((params, grads))
        return gid.value

    def add_encoder(self, encoder, lr=None, weight_decay=None):
        """Adds the parameters of an mlcl Encoder as one group."""
        return self.add_group(encoder.params_view(), encoder.grads_view(), lr, weight_decay)

    @property
    @locked("num_groups")
    def num_groups(self):
        v = ctypes.c_int()
        C.mlcl_optim_num_groups(self._ptr, ctypes.byref(v))
        return v.value

    @locked()
    def set_lr(self, lr, group=-1):
        C.mlcl_optim_set_lr(self._ptr, to_int("group", group), float(lr))

    @locked()
    def get_lr(self, group=0):
        v = ctypes.c_float()
        C.mlcl_optim_get_lr(self._ptr, to_int("group", group), ctypes.byref(v))
        return float(v.value)

    @locked()
    def step(self):
        """One update of every group."""
        C.mlcl_optim_step(self._ptr)

    @locked()
    def zero_state(self):
        C.mlcl_optim_zero_state(self._ptr)

    def _count(self):
        v = ctypes.c_size_t()
        C.mlcl_optim_state_count(self._ptr, ctypes.byref(v))
        return v.value

    @property
    @locked("state_count")
    def state_count(self):
        return self._count()

    @locked()
    def get_state(self):
        """COPY of the moment buffers."""
        out = np.zeros(self._count(), np.float32)
        C.mlcl_optim_get_state(self._ptr, ptr(out, np.float32), out.size)
        return out

    @locked()
    def set_state(self, values):
        v = as_input("state", values, np.float32).ravel()
        C.mlcl_optim_set_state(self._ptr, ptr(v, np.float32), v.size)

    @locked()
    def get_step(self, group=0):
        v = ctypes.c_int64()
        C.mlcl_optim_get_step(self._ptr, to_int("group", group), ctypes.byref(v))
        return int(v.value)

    @locked()
    def set_step(self, step, group=-1):
        C.mlcl_optim_set_step(self._ptr, to_int("group", group),
                              to_int("step", step, ctype=ctypes.c_int64))
