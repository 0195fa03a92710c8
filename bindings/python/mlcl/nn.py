"""Sequential networks (encoders, encoder.h; builders, models.h) and stand-alone
kernels (ops.h; binary cross-entropy, loss.h).

Parameter access:
  * ``Encoder.params`` / ``Encoder.grads`` / ``Encoder.state`` return COPIES;
    assign ``enc.params = array`` (or ``set_params``) to replace them.
  * ``Encoder.params_view()`` / ``grads_view()`` return numpy VIEWS of the C
    buffers (no copy, writable). A view keeps the encoder (or the MoCo pair /
    Trainer it belongs to) alive: close() then frees the C object only when
    the last view is gone; adding a layer (which re-allocates the buffers) is
    refused with BusyError while views exist, so take views after building
    the network.

``forward``/``backward`` are hot paths: inputs must be C-contiguous float32
numpy arrays (TypeError otherwise) unless ``strict=False``.
"""

import ctypes

import numpy as np

from ._lib import (C, EncoderOptions, MlpSpec, ResnetSpec, ENCODER_OPTIONS_VERSION,
                   MLP_SPEC_VERSION, RESNET_SPEC_VERSION)
from ._util import (threads_property, BusyError, Handle, as_input, copy_from, hot_input, locked, make_options,
                    out_array, ptr, to_int, view_of)

MLP_ENUMS = {"out_act": {"none": 0, "l2norm": 1, "softmax": 2}}
RESNET_ENUMS = {"stem": {"imagenet": 0, "small": 1}}

pf = ctypes.POINTER(ctypes.c_float)


def encoder_options(**kw):
    """mlcl_encoder_options: C defaults then kwargs (max_batch, seed)."""
    return make_options(EncoderOptions, "mlcl_encoder_options_init", ENCODER_OPTIONS_VERSION, kw,
                        what="encoder options")


def mlp_spec(**kw):
    """mlcl_mlp_spec: C defaults then kwargs (in_dim, hidden=[...] (sets n_hidden),
    n_hidden, dropout, batchnorm, out_dim, out_act 'none'|'l2norm'|'softmax')."""
    return make_options(MlpSpec, "mlcl_mlp_spec_init", MLP_SPEC_VERSION, kw, MLP_ENUMS, "MLP spec")


def resnet_spec(**kw):
    """mlcl_resnet_spec: C defaults then kwargs (depth 18|34|50, stem 'small'|'imagenet',
    in_channels, height, width, base_width, bn_eps, bn_momentum, zero_init_residual)."""
    return make_options(ResnetSpec, "mlcl_resnet_spec_init", RESNET_SPEC_VERSION, kw, RESNET_ENUMS,
                        "ResNet spec")


class Encoder(Handle):
    """A sequential network. ``Encoder(in_dim, max_batch=..., seed=...)`` is the
    identity; add layers with add_linear/add_relu/... . ``Encoder.mlp(in_dim, ...)``
    builds an MLP from an mlcl_mlp_spec."""

    threads = threads_property('encoder')

    _free = "mlcl_encoder_free"

    def __init__(self, in_dim=None, *, strict=True, _borrow=None, _owner=None, **options):
        self.strict = strict
        if _borrow is not None:
            super().__init__(_borrow, _owner)
            return
        opts = encoder_options(**options)
        h = ctypes.c_void_p()
        C.mlcl_encoder_create(ctypes.byref(h), to_int("in_dim", in_dim), ctypes.byref(opts))
        super().__init__(h.value)

    @classmethod
    def mlp(cls, in_dim, *, max_batch=None, seed=None, strict=True, **spec):
        """An MLP (see mlp_spec for the keyword arguments; defaults from C)."""
        sp = mlp_spec(in_dim=in_dim, **spec)
        return cls._create(C.mlcl_encoder_create_mlp, sp, max_batch, seed, strict)

    @classmethod
    def resnet(cls, depth=18, *, max_batch=None, seed=None, strict=True, **spec):
        """A torchvision-layout ResNet without fc (mlcl_encoder_create_resnet):
        ``Encoder.resnet(18, stem="small", in_channels=3, height=32, width=32,
        base_width=64, bn_eps=1e-5, bn_momentum=0.1, zero_init_residual=False)``.
        Rows are images flattened as CHW (in_dim = channels * height * width);
        parameters and state follow torchvision's named_parameters() /
        buffers order (see models.h). Unspecified fields take the C defaults."""
        sp = resnet_spec(depth=depth, **spec)
        return cls._create(C.mlcl_encoder_create_resnet, sp, max_batch, seed, strict)

    @classmethod
    def _create(cls, create, spec, max_batch, seed, strict):
        """An encoder from create(&h, &spec, &options) (MLP or ResNet)."""
        okw = {}
        if max_batch is not None:
            okw["max_batch"] = max_batch
        if seed is not None:
            okw["seed"] = seed
        opts = encoder_options(**okw)
        h = ctypes.c_void_p()
        create(ctypes.byref(h), ctypes.byref(spec), ctypes.byref(opts))
        self = cls.__new__(cls)
        self.strict = strict
        Handle.__init__(self, h.value)
        return self

    @locked()
    def clone(self):
        """An independent copy (mlcl_encoder_clone): layers, parameters, gradients,
        state, mode and generator states."""
        h = ctypes.c_void_p()
        C.mlcl_encoder_clone(ctypes.byref(h), self._ptr)
        out = type(self).__new__(type(self))
        out.strict = self.strict
        Handle.__init__(out, h.value)
        return out

    # ---- building
    def _add(self, op, fn, *args):
        """Adding a layer re-allocates the parameter and gradient buffers:
        refused while numpy views of them (or an Optimizer using them) exist."""
        with self._use(op, exclusive=True) as h:
            if self._state.views:
                raise BusyError("Encoder.%s(): %d numpy view(s) of this %s's buffers are alive "
                                "(params_view/grads_view, an Optimizer using it): adding a layer "
                                "re-allocates them; build the network first, then take views"
                                % (op, self._state.views, self._state.name))
            fn(h, *args)
        return self

    def add_linear(self, out_dim, bias=True):
        return self._add("add_linear", C.mlcl_encoder_add_linear, to_int("out_dim", out_dim),
                         int(bool(bias)))

    def add_relu(self):
        return self._add("add_relu", C.mlcl_encoder_add_relu)

    def add_dropout(self, p):
        return self._add("add_dropout", C.mlcl_encoder_add_dropout, float(p))

    def add_batchnorm(self, eps=1e-5, momentum=0.1):
        return self._add("add_batchnorm", C.mlcl_encoder_add_batchnorm, float(eps),
                         float(momentum))

    def add_l2norm(self):
        return self._add("add_l2norm", C.mlcl_encoder_add_l2norm)

    def add_softmax(self):
        return self._add("add_softmax", C.mlcl_encoder_add_softmax)

    # ---- shape
    def _geti(self, fn):
        v = ctypes.c_int()
        getattr(C, fn)(self._ptr, ctypes.byref(v))
        return v.value

    def _gets(self, fn):
        v = ctypes.c_size_t()
        getattr(C, fn)(self._ptr, ctypes.byref(v))
        return v.value

    def _int(self, fn):
        with self._use(fn[len("mlcl_encoder_"):]):
            return self._geti(fn)

    def _size(self, fn):
        with self._use(fn[len("mlcl_encoder_"):]):
            return self._gets(fn)

    @property
    def in_dim(self):
        return self._int("mlcl_encoder_in_dim")

    @property
    def out_dim(self):
        return self._int("mlcl_encoder_out_dim")

    @property
    def num_layers(self):
        return self._int("mlcl_encoder_num_layers")

    @property
    def param_count(self):
        return self._size("mlcl_encoder_param_count")

    @property
    def state_count(self):
        return self._size("mlcl_encoder_state_count")

    # ---- mode
    @property
    def training(self):
        return bool(self._int("mlcl_encoder_get_training"))

    @training.setter
    def training(self, value):
        with self._use("set_training") as h:
            C.mlcl_encoder_set_training(h, int(bool(value)))

    def train(self, mode=True):
        """Training mode (dropout on, BatchNorm batch statistics)."""
        self.training = mode
        return self

    def eval(self):
        """Evaluation mode."""
        self.training = False
        return self

    # ---- compute (exclusive: a communicator's callbacks may run inside)
    def forward(self, x, out=None, strict=None):
        """Runs n rows: x (n, in_dim) float32 -> (n, out_dim) float32 (new, or ``out``)."""
        strict = self.strict if strict is None else strict
        x = hot_input("x", x, np.float32, ndim=2, strict=strict)
        n = to_int("rows of x", x.shape[0])
        with self._use("forward", exclusive=True) as h:
            in_dim, out_dim = self._geti("mlcl_encoder_in_dim"), self._geti("mlcl_encoder_out_dim")
            if x.shape[1] != in_dim:
                raise ValueError("x has %d columns, the encoder's in_dim is %d"
                                 % (x.shape[1], in_dim))
            out = out_array("out", out, np.float32, (n, out_dim))
            C.mlcl_encoder_forward(h, n, ptr(x, np.float32), ptr(out, np.float32))
        return out

    def forward_csr(self, indptr, indices, data, out=None):
        """Runs n sparse rows given in CSR (indptr (n+1,), indices, data; the
        scipy.sparse.csr_matrix layout, columns increasing within a row): the
        first layer (a Linear) multiplies only the stored entries. The next
        backward() takes no input gradient (want_grad_in must be False)."""
        p = as_input("indptr", indptr, np.int64, ndim=1)
        i = as_input("indices", indices, np.int32, ndim=1)
        v = as_input("data", data, np.float32, ndim=1)
        n = to_int("rows of indptr", p.size - 1)
        if n < 1:
            raise ValueError("indptr must hold at least 2 offsets")
        if i.size < int(p[-1]) or v.size < int(p[-1]):
            raise ValueError("indices (%d) and data (%d) must hold indptr[-1] = %d entries"
                             % (i.size, v.size, int(p[-1])))
        with self._use("forward", exclusive=True) as h:
            out_dim = self._geti("mlcl_encoder_out_dim")
            out = out_array("out", out, np.float32, (n, out_dim))
            C.mlcl_encoder_forward_csr(h, n, ptr(p, np.int64), ptr(i, np.int32), ptr(v, np.float32),
                                       ptr(out, np.float32))
        return out

    __call__ = forward

    def backward(self, grad_out, want_grad_in=True, strict=None):
        """Back-propagates grad_out (n, out_dim) through the last forward; the
        parameter gradients ACCUMULATE (zero_grad() first); returns the input
        gradient (n, in_dim) or None."""
        strict = self.strict if strict is None else strict
        g = hot_input("grad_out", grad_out, np.float32, ndim=2, strict=strict)
        n = to_int("rows of grad_out", g.shape[0])
        with self._use("backward", exclusive=True) as h:
            in_dim, out_dim = self._geti("mlcl_encoder_in_dim"), self._geti("mlcl_encoder_out_dim")
            if g.shape[1] != out_dim:
                raise ValueError("grad_out has %d columns, the encoder's out_dim is %d"
                                 % (g.shape[1], out_dim))
            gin = np.zeros((n, in_dim), np.float32) if want_grad_in else None
            C.mlcl_encoder_backward(h, n, ptr(g, np.float32), ptr(gin, np.float32))
        return gin

    @locked()
    def zero_grad(self):
        C.mlcl_encoder_zero_grad(self._ptr)

    # ---- parameters
    def _buffer(self, fn):
        p = pf()
        getattr(C, fn)(self._ptr, ctypes.byref(p))
        return ctypes.cast(p, ctypes.c_void_p).value

    @locked()
    def params_view(self):
        """Writable numpy VIEW of the parameter buffer (see the module doc)."""
        return view_of(self._buffer("mlcl_encoder_params_ptr"), np.float32,
                       (self._gets("mlcl_encoder_param_count"),), self)

    @locked()
    def grads_view(self):
        """Writable numpy VIEW of the gradient buffer (see the module doc)."""
        return view_of(self._buffer("mlcl_encoder_grads_ptr"), np.float32,
                       (self._gets("mlcl_encoder_param_count"),), self)

    @locked()
    def get_params(self):
        """COPY of the parameters (mlcl_encoder_get_params)."""
        out = np.zeros(self._gets("mlcl_encoder_param_count"), np.float32)
        C.mlcl_encoder_get_params(self._ptr, ptr(out, np.float32), out.size)
        return out

    @locked()
    def set_params(self, values):
        """Replaces the parameters (converted to float32; size must match)."""
        v = as_input("params", values, np.float32).ravel()
        C.mlcl_encoder_set_params(self._ptr, ptr(v, np.float32), v.size)

    params = property(get_params, set_params)

    @property
    @locked("grads")
    def grads(self):
        """COPY of the parameter gradients."""
        return copy_from(self._buffer("mlcl_encoder_grads_ptr"), np.float32,
                         (self._gets("mlcl_encoder_param_count"),))

    @locked()
    def get_state(self):
        """COPY of the BatchNorm running statistics."""
        out = np.zeros(self._gets("mlcl_encoder_state_count"), np.float32)
        C.mlcl_encoder_get_state(self._ptr, ptr(out, np.float32), out.size)
        return out

    @locked()
    def set_state(self, values):
        v = as_input("state", values, np.float32).ravel()
        C.mlcl_encoder_set_state(self._ptr, ptr(v, np.float32), v.size)

    state = property(get_state, set_state)

    def copy_params_from(self, src):
        """Copies the parameters of encoder ``src`` (same architecture) into self."""
        if not isinstance(src, Encoder):
            raise TypeError("src must be an mlcl.Encoder")
        stack, (h, s) = self._use_all("copy_params_from", src)
        with stack:
            C.mlcl_encoder_copy_params(h, s)

    def momentum_update(self, query, m=0.999):
        """self = m self + (1 - m) query, over the parameters (MoCo's key update)."""
        if not isinstance(query, Encoder):
            raise TypeError("query must be an mlcl.Encoder")
        stack, (h, q) = self._use_all("momentum_update", query)
        with stack:
            C.mlcl_encoder_momentum_update(h, q, float(m))

    @locked()
    def get_rng_state(self):
        st = (ctypes.c_uint64 * 2)()
        C.mlcl_encoder_get_rng_state(self._ptr, st)
        return (int(st[0]), int(st[1]))

    @locked()
    def set_rng_state(self, state):
        st = (ctypes.c_uint64 * 2)(*[to_int("state[%d]" % i, v, ctype=ctypes.c_uint64)
                                     for i, v in enumerate(state)])
        C.mlcl_encoder_set_rng_state(self._ptr, st)


# ------------------------------------------------------------------- kernels

def _nc(name, a):
    """(rows, columns) of a 2-D array as C ints (ValueError beyond INT_MAX)."""
    return to_int("rows of " + name, a.shape[0]), to_int("columns of " + name, a.shape[1])


def softmax(logits):
    """Row softmax of an (n, c) array -> new float32 array."""
    x = as_input("logits", logits, np.float32, ndim=2)
    out = np.empty_like(x)
    C.mlcl_softmax_forward(ptr(out, np.float32), ptr(x, np.float32), *_nc("x", x))
    return out


def softmax_backward(prob, grad_prob):
    """Gradient w.r.t. the logits of a row softmax given its output ``prob``."""
    p = as_input("prob", prob, np.float32, ndim=2)
    g = as_input("grad_prob", grad_prob, np.float32, p.shape)
    out = np.zeros_like(p)
    C.mlcl_softmax_backward(ptr(out, np.float32), ptr(p, np.float32), ptr(g, np.float32),
                            *_nc("p", p))
    return out


def bce_with_logits(logits, targets, grad=True):
    """Mean binary cross-entropy with logits -> (loss, grad_logits or None)."""
    x = as_input("logits", logits, np.float32, ndim=2)
    t = as_input("targets", targets, np.float32, x.shape)
    loss = ctypes.c_float()
    g = np.zeros_like(x) if grad else None
    C.mlcl_bce_with_logits(ctypes.byref(loss), ptr(g, np.float32), ptr(x, np.float32),
                           ptr(t, np.float32), *_nc("x", x))
    return float(loss.value), g


def sigmoid(x):
    """Elementwise logistic sigmoid -> new float32 array of the same shape."""
    a = as_input("x", x, np.float32)
    out = np.empty_like(a)
    C.mlcl_sigmoid(ptr(out, np.float32), ptr(a, np.float32), a.size)
    return out


def l2norm(x):
    """Row L2 normalisation -> (out, norms)."""
    a = as_input("x", x, np.float32, ndim=2)
    out = np.empty_like(a)
    norms = np.empty(a.shape[0], np.float32)
    C.mlcl_l2norm_forward(ptr(out, np.float32), ptr(norms, np.float32), ptr(a, np.float32),
                          *_nc("a", a))
    return out, norms


def l2norm_backward(out, norms, grad_out):
    """Gradient w.r.t. x of the row L2 normalisation (given forward's out, norms)."""
    o = as_input("out", out, np.float32, ndim=2)
    nr = as_input("norms", norms, np.float32, (o.shape[0],))
    g = as_input("grad_out", grad_out, np.float32, o.shape)
    gx = np.zeros_like(o)
    C.mlcl_l2norm_backward(ptr(gx, np.float32), ptr(o, np.float32), ptr(nr, np.float32),
                           ptr(g, np.float32), *_nc("o", o))
    return gx
