"""The contrastive / label-distribution losses with exact gradients (loss.h)."""

import ctypes

import numpy as np

from ._lib import C, LossInputs, LossOptions, LossParts, LOSS_INPUTS_VERSION, LOSS_OPTIONS_VERSION
from ._util import threads_property, Handle, apply_kwargs, hot_input, locked, make_options, ptr, struct_to_dict, to_int
from .queue import Queue, labels_arg, label_words

#: string values accepted for the enum-valued options
LOSS_ENUMS = {
    "method": {"ld": 0, "mulsupcon": 1, "supcon": 2},
    "variant": {"cld": 0, "rld": 1},
    "mask": {"any": 0, "all": 1},
    "reduction": {"mean": 0, "sum": 1},
    "cld_weight": {"prob": 0, "logprob": 1},
    "con_norm": {"none": 0, "per_label": 1},
    "h_target": {"normalised": 0, "normalized": 0, "raw": 1},
}


def loss_options(**kw):
    """An mlcl_loss_options struct: C defaults (mlcl_loss_options_init), then the
    keyword arguments (enum fields take strings such as method="mulsupcon",
    variant="rld", mask="all", reduction="sum", cld_weight="logprob",
    con_norm="per_label", h_target="raw"; booleans for weight_grad/dweight_grad)."""
    return make_options(LossOptions, "mlcl_loss_options_init", LOSS_OPTIONS_VERSION, kw,
                        LOSS_ENUMS, "loss options")


def _addr(a):
    """The address of a C-contiguous array's data (None -> NULL); the array
    must stay referenced for the call (the caller's locals keep it)."""
    return None if a is None else a.ctypes.data


class LossResult:
    """The loss parts (floats) and the gradients (numpy float32 or None)."""

    __slots__ = ("total", "con", "G", "H", "wreg", "n_anchors_used", "grad_q", "grad_d",
                 "grad_W")

    def __init__(self, parts, grad_q=None, grad_d=None, grad_W=None):
        self.total = parts.total
        self.con = parts.con
        self.G = parts.G
        self.H = parts.H
        self.wreg = parts.wreg
        self.n_anchors_used = parts.n_anchors_used
        self.grad_q, self.grad_d, self.grad_W = grad_q, grad_d, grad_W

    @property
    def parts(self):
        return {k: getattr(self, k) for k in ("total", "con", "G", "H", "wreg", "n_anchors_used")}

    def __float__(self):
        return float(self.total)

    def __repr__(self):
        return "LossResult(total=%.6g, con=%.6g, G=%.6g, H=%.6g, wreg=%.6g, n_anchors_used=%d)" % (
            self.total, self.con, self.G, self.H, self.wreg, self.n_anchors_used)


class Loss(Handle):
    """A loss workspace: ``Loss(max_n, max_queue, m, c, **options)``.

    Options are those of :func:`loss_options` (C defaults otherwise), or
    ``options=`` an existing struct.

    ``compute`` is a hot path: with ``strict=True`` (the default) every float
    input must already be a C-contiguous float32 numpy array, else TypeError
    (no silent copy); ``strict=False`` converts with np.ascontiguousarray.
    """

    threads = threads_property('loss')

    _free = "mlcl_loss_free"

    def __init__(self, max_n, max_queue, m, c, options=None, strict=True, **kw):
        opts = options if options is not None else loss_options(**kw)
        if options is not None and kw:
            raise TypeError("pass either options= or keyword options, not both")
        h = ctypes.c_void_p()
        C.mlcl_loss_create(ctypes.byref(h), to_int("max_n", max_n), to_int("max_queue", max_queue),
                           to_int("m", m), to_int("c", c), ctypes.byref(opts))
        super().__init__(h.value)
        self.strict = strict
        self.max_n, self.max_queue, self.m, self.c = self.dims

    @property
    @locked("dims")
    def dims(self):
        """(max_n, max_queue, m, c) as reported by mlcl_loss_get_dims()."""
        v = [ctypes.c_int() for _ in range(4)]
        C.mlcl_loss_get_dims(self._ptr, *[ctypes.byref(x) for x in v])
        return tuple(x.value for x in v)

    @property
    @locked("workspace_size")
    def workspace_size(self):
        """Bytes of workspace held by the C object."""
        v = ctypes.c_size_t()
        C.mlcl_loss_workspace_size(self._ptr, ctypes.byref(v))
        return v.value

    @property
    def options(self):
        """The current options as a dict (copy)."""
        return struct_to_dict(self.get_options())

    def _get_options(self):
        o = LossOptions()
        C.mlcl_loss_get_options(self._ptr, ctypes.byref(o))
        return o

    @locked()
    def get_options(self):
        """The current options as an mlcl_loss_options struct (copy)."""
        return self._get_options()

    @locked()
    def set_options(self, options=None, **kw):
        """Replaces options: an struct, or keyword updates of the current ones."""
        o = options if options is not None else self._get_options()
        if kw:
            apply_kwargs(o, kw, LOSS_ENUMS, "loss options")
        C.mlcl_loss_set_options(self._ptr, ctypes.byref(o))

    def compute(self, q, k, y, d=None, kq=None, yq=None, dq=None, W=None, queue=None,
                grads=True, strict=None):
        """The loss of the batch against its keys and the queue part.

        q, k: (n, m) float32; y: (n, words) packed uint64 or (n, c) uint8 0/1
        (packed here); d: (n, c) float32 (LD); the queue part either as arrays
        kq (F, m), yq (F, words or c), dq (F, c) or as ``queue=`` a Queue (read
        in place, mlcl_loss_inputs.queue); W: (c, h) float32 LD-head weight.

        The C side ACCUMULATES gradients; this method passes freshly zeroed
        buffers, so the returned grad_q (n, m), grad_d (n, c; LD with d) and
        grad_W (c, h; with W) are the gradients themselves. grads=False skips them.
        """
        if queue is not None and not isinstance(queue, Queue):
            raise TypeError("queue must be an mlcl.Queue")
        stack, _ = self._use_all("compute", queue)
        with stack:
            return self._compute(q, k, y, d, kq, yq, dq, W, queue, grads, strict)

    def _compute(self, q, k, y, d, kq, yq, dq, W, queue, grads, strict):
        strict = self.strict if strict is None else strict
        m, c = self.m, self.c
        q = hot_input("q", q, np.float32, ndim=2, strict=strict)
        n = q.shape[0]
        if q.shape[1] != m:
            raise ValueError("q has %d columns, the loss was created for m = %d" % (q.shape[1], m))
        if not 1 <= n <= self.max_n:
            raise ValueError("q has %d rows, must be 1..max_n = %d" % (n, self.max_n))
        k = hot_input("k", k, np.float32, (n, m), strict=strict)
        yp = labels_arg("y", y, n, c, strict)
        method = self._get_options().method
        if d is not None:
            d = hot_input("d", d, np.float32, (n, c), strict=strict)
        elif method == 0:
            raise ValueError("d (n x c distributions) is required by the LD loss")
        h = 0
        if W is not None:
            W = hot_input("W", W, np.float32, ndim=2, strict=strict)
            if W.shape[0] != c:
                raise ValueError("W has %d rows, expected c = %d" % (W.shape[0], c))
            h = to_int("W columns", W.shape[1])
        want_d = grads and d is not None and method == 0
        gq = np.zeros((n, m), np.float32) if grads else None
        gd = np.zeros((n, c), np.float32) if want_d else None
        gW = np.zeros(W.shape, np.float32) if (grads and W is not None and method == 0) else None
        parts = LossParts()
        inp = LossInputs()
        C.mlcl_loss_inputs_init(ctypes.byref(inp), LOSS_INPUTS_VERSION)
        if queue is not None:
            if kq is not None or yq is not None or dq is not None:
                raise ValueError("pass either queue= or kq/yq/dq, not both")
            qsize, _, qm, qc, _ = queue._dims()
            if qm != m or qc != c:
                raise ValueError("queue has feat_dim %d and n_labels %d, the loss m %d and c %d"
                                 % (qm, qc, m, c))
            if qsize > self.max_queue:
                raise ValueError("queue holds %d entries, the loss was created for max_queue = %d"
                                 % (qsize, self.max_queue))
            inp.queue = queue._ptr
        else:
            F = 0
            if kq is not None:
                kq = hot_input("kq", kq, np.float32, ndim=2, strict=strict)
                F = kq.shape[0]
                if kq.shape[1] != m:
                    raise ValueError("kq has %d columns, expected m = %d" % (kq.shape[1], m))
                if F > self.max_queue:
                    raise ValueError("kq has %d rows, the loss was created for max_queue = %d"
                                     % (F, self.max_queue))
                if yq is None:
                    raise ValueError("yq (queue labels) is required with kq")
                if F == 0:
                    kq = None
            elif yq is not None or dq is not None:
                raise ValueError("kq (queue keys) is required with yq/dq")
            if F > 0:
                yq = labels_arg("yq", yq, F, c, strict)
                if dq is not None:
                    dq = hot_input("dq", dq, np.float32, (F, c), strict=strict)
                elif method == 0:
                    raise ValueError("dq (F x c queue distributions) is required by the LD loss")
            else:
                yq = dq = None
            inp.F = F
            inp.kq, inp.yq, inp.dq = _addr(kq), _addr(yq), _addr(dq)
        inp.n, inp.q, inp.k, inp.y, inp.d = n, _addr(q), _addr(k), _addr(yp), _addr(d)
        inp.W, inp.h = _addr(W), h
        C.mlcl_loss_compute(self._ptr, ctypes.byref(parts), ptr(gq, np.float32), ptr(gd, np.float32),
                            ptr(gW, np.float32), ctypes.byref(inp))
        return LossResult(parts, gq, gd, gW)

    __call__ = compute
