"""Sequential networks (encoders) and stand-alone kernels (nn.h).

Parameter access:
  * ``Encoder.params`` / ``Encoder.grads`` / ``Encoder.state`` return COPIES;
    assign ``enc.params = array`` (or ``set_params``) to replace them.
  * ``Encoder.params_view()`` / ``grads_view()`` return numpy VIEWS of the C
    buffers (no copy, writable): valid until a layer is added or the encoder is
    closed (a view keeps the Python object alive, but adding a layer
    re-allocates the buffers, so take views after building the network).

``forward``/``backward`` are hot paths: inputs must be C-contiguous float32
numpy arrays (TypeError otherwise) unless ``strict=False``.
"""

import ctypes

import numpy as np

from ._lib import (C, EncoderOptions, MlpSpec, ResnetSpec, ENCODER_OPTIONS_VERSION,
                   MLP_SPEC_VERSION, RESNET_SPEC_VERSION)
from ._util import Handle, as_input, hot_input, make_options, out_array, ptr, view_of

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

    _free = "mlcl_encoder_free"

    def __init__(self, in_dim=None, *, strict=True, _borrow=None, _owner=None, **options):
        self.strict = strict
        if _borrow is not None:
            super().__init__(_borrow, _owner)
            return
        opts = encoder_options(**options)
        h = ctypes.c_void_p()
        C.mlcl_encoder_create(ctypes.byref(h), int(in_dim), ctypes.byref(opts))
        super().__init__(h.value)

    @classmethod
    def mlp(cls, in_dim, *, max_batch=None, seed=None, strict=True, **spec):
        """An MLP (see mlp_spec for the keyword arguments; defaults from C)."""
        sp = mlp_spec(in_dim=int(in_dim), **spec)
        return cls._create(C.mlcl_encoder_create_mlp, sp, max_batch, seed, strict)

    @classmethod
    def resnet(cls, depth=18, *, max_batch=None, seed=None, strict=True, **spec):
        """A torchvision-layout ResNet without fc (mlcl_encoder_create_resnet):
        ``Encoder.resnet(18, stem="small", in_channels=3, height=32, width=32,
        base_width=64, bn_eps=1e-5, bn_momentum=0.1, zero_init_residual=False)``.
        Rows are images flattened as CHW (in_dim = channels * height * width);
        parameters and state follow torchvision's named_parameters() /
        buffers order (see nn.h). Unspecified fields take the C defaults."""
        sp = resnet_spec(depth=int(depth), **spec)
        return cls._create(C.mlcl_encoder_create_resnet, sp, max_batch, seed, strict)

    @classmethod
    def _create(cls, create, spec, max_batch, seed, strict):
        """An encoder from create(&h, &spec, &options) (MLP or ResNet)."""
        okw = {}
        if max_batch is not None:
            okw["max_batch"] = int(max_batch)
        if seed is not None:
            okw["seed"] = int(seed)
        opts = encoder_options(**okw)
        h = ctypes.c_void_p()
        create(ctypes.byref(h), ctypes.byref(spec), ctypes.byref(opts))
        self = cls.__new__(cls)
        self.strict = strict
        Handle.__init__(self, h.value)
        return self

    def clone(self):
        """An independent copy (mlcl_encoder_clone): layers, parameters, gradients,
        state, mode and generator states."""
        h = ctypes.c_void_p()
        C.mlcl_encoder_clone(ctypes.byref(h), self.handle)
        out = type(self).__new__(type(self))
        out.strict = self.strict
        Handle.__init__(out, h.value)
        return out

    # ---- building
    def add_linear(self, out_dim, bias=True):
        C.mlcl_encoder_add_linear(self.handle, int(out_dim), int(bool(bias)))
        return self

    def add_relu(self):
        C.mlcl_encoder_add_relu(self.handle)
        return self

    def add_dropout(self, p):
        C.mlcl_encoder_add_dropout(self.handle, float(p))
        return self

    def add_batchnorm(self, eps=1e-5, momentum=0.1):
        C.mlcl_encoder_add_batchnorm(self.handle, float(eps), float(momentum))
        return self

    def add_l2norm(self):
        C.mlcl_encoder_add_l2norm(self.handle)
        return self

    def add_softmax(self):
        C.mlcl_encoder_add_softmax(self.handle)
        return self

    # ---- shape
    def _int(self, fn):
        v = ctypes.c_int()
        getattr(C, fn)(self.handle, ctypes.byref(v))
        return v.value

    def _size(self, fn):
        v = ctypes.c_size_t()
        getattr(C, fn)(self.handle, ctypes.byref(v))
        return v.value

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
        C.mlcl_encoder_set_training(self.handle, int(bool(value)))

    def train(self, mode=True):
        """Training mode (dropout on, BatchNorm batch statistics)."""
        self.training = mode
        return self

    def eval(self):
        """Evaluation mode."""
        self.training = False
        return self

    # ---- compute
    def forward(self, x, out=None, strict=None):
        """Runs n rows: x (n, in_dim) float32 -> (n, out_dim) float32 (new, or ``out``)."""
        strict = self.strict if strict is None else strict
        x = hot_input("x", x, np.float32, ndim=2, strict=strict)
        n = x.shape[0]
        if x.shape[1] != self.in_dim:
            raise ValueError("x has %d columns, the encoder's in_dim is %d"
                             % (x.shape[1], self.in_dim))
        out = out_array("out", out, np.float32, (n, self.out_dim))
        C.mlcl_encoder_forward(self.handle, n, ptr(x, np.float32), ptr(out, np.float32))
        return out

    __call__ = forward

    def backward(self, grad_out, want_grad_in=True, strict=None):
        """Back-propagates grad_out (n, out_dim) through the last forward; the
        parameter gradients ACCUMULATE (zero_grad() first); returns the input
        gradient (n, in_dim) or None."""
        strict = self.strict if strict is None else strict
        g = hot_input("grad_out", grad_out, np.float32, ndim=2, strict=strict)
        if g.shape[1] != self.out_dim:
            raise ValueError("grad_out has %d columns, the encoder's out_dim is %d"
                             % (g.shape[1], self.out_dim))
        n = g.shape[0]
        gin = np.zeros((n, self.in_dim), np.float32) if want_grad_in else None
        C.mlcl_encoder_backward(self.handle, n, ptr(g, np.float32), ptr(gin, np.float32))
        return gin

    def zero_grad(self):
        C.mlcl_encoder_zero_grad(self.handle)

    # ---- parameters
    def _buffer(self, fn):
        p = pf()
        getattr(C, fn)(self.handle, ctypes.byref(p))
        return ctypes.cast(p, ctypes.c_void_p).value

    def params_view(self):
        """Writable numpy VIEW of the parameter buffer (see the module doc)."""
        return view_of(self._buffer("mlcl_encoder_params"), np.float32, (self.param_count,), self)

    def grads_view(self):
        """Writable numpy VIEW of the gradient buffer (see the module doc)."""
        return view_of(self._buffer("mlcl_encoder_grads"), np.float32, (self.param_count,), self)

    def get_params(self):
        """COPY of the parameters (mlcl_encoder_get_params)."""
        out = np.zeros(self.param_count, np.float32)
        C.mlcl_encoder_get_params(self.handle, ptr(out, np.float32), out.size)
        return out

    def set_params(self, values):
        """Replaces the parameters (converted to float32; size must match)."""
        v = as_input("params", values, np.float32).ravel()
        C.mlcl_encoder_set_params(self.handle, ptr(v, np.float32), v.size)

    params = property(get_params, set_params)

    @property
    def grads(self):
        """COPY of the parameter gradients."""
        return self.grads_view().copy()

    def get_state(self):
        """COPY of the BatchNorm running statistics."""
        out = np.zeros(self.state_count, np.float32)
        C.mlcl_encoder_get_state(self.handle, ptr(out, np.float32), out.size)
        return out

    def set_state(self, values):
        v = as_input("state", values, np.float32).ravel()
        C.mlcl_encoder_set_state(self.handle, ptr(v, np.float32), v.size)

    state = property(get_state, set_state)

    def copy_params_from(self, src):
        """Copies the parameters of encoder ``src`` (same architecture) into self."""
        C.mlcl_encoder_copy_params(self.handle, src.handle)

    def momentum_update(self, query, m=0.999):
        """self = m self + (1 - m) query, over the parameters (MoCo's key update)."""
        C.mlcl_encoder_momentum_update(self.handle, query.handle, float(m))

    def get_rng_state(self):
        st = (ctypes.c_uint64 * 2)()
        C.mlcl_encoder_get_rng_state(self.handle, st)
        return (int(st[0]), int(st[1]))

    def set_rng_state(self, state):
        st = (ctypes.c_uint64 * 2)(*[int(v) for v in state])
        C.mlcl_encoder_set_rng_state(self.handle, st)


# ------------------------------------------------------------------- kernels

def softmax(logits):
    """Row softmax of an (n, c) array -> new float32 array."""
    x = as_input("logits", logits, np.float32, ndim=2)
    out = np.empty_like(x)
    C.mlcl_softmax_forward(x.shape[0], x.shape[1], ptr(x, np.float32), ptr(out, np.float32))
    return out


def softmax_backward(prob, grad_prob):
    """Gradient w.r.t. the logits of a row softmax given its output ``prob``."""
    p = as_input("prob", prob, np.float32, ndim=2)
    g = as_input("grad_prob", grad_prob, np.float32, p.shape)
    out = np.zeros_like(p)
    C.mlcl_softmax_backward(p.shape[0], p.shape[1], ptr(p, np.float32), ptr(g, np.float32),
                            ptr(out, np.float32))
    return out


def bce_with_logits(logits, targets, grad=True):
    """Mean binary cross-entropy with logits -> (loss, grad_logits or None)."""
    x = as_input("logits", logits, np.float32, ndim=2)
    t = as_input("targets", targets, np.float32, x.shape)
    loss = ctypes.c_float()
    g = np.zeros_like(x) if grad else None
    C.mlcl_bce_with_logits(x.shape[0], x.shape[1], ptr(x, np.float32), ptr(t, np.float32),
                           ctypes.byref(loss), ptr(g, np.float32))
    return float(loss.value), g


def sigmoid(x):
    """Elementwise logistic sigmoid -> new float32 array of the same shape."""
    a = as_input("x", x, np.float32)
    out = np.empty_like(a)
    C.mlcl_sigmoid(a.size, ptr(a, np.float32), ptr(out, np.float32))
    return out


def l2norm(x):
    """Row L2 normalisation -> (out, norms)."""
    a = as_input("x", x, np.float32, ndim=2)
    out = np.empty_like(a)
    norms = np.empty(a.shape[0], np.float32)
    C.mlcl_l2norm_forward(a.shape[0], a.shape[1], ptr(a, np.float32), ptr(out, np.float32),
                          ptr(norms, np.float32))
    return out, norms


def l2norm_backward(out, norms, grad_out):
    """Gradient w.r.t. x of the row L2 normalisation (given forward's out, norms)."""
    o = as_input("out", out, np.float32, ndim=2)
    nr = as_input("norms", norms, np.float32, (o.shape[0],))
    g = as_input("grad_out", grad_out, np.float32, o.shape)
    gx = np.zeros_like(o)
    C.mlcl_l2norm_backward(o.shape[0], o.shape[1], ptr(o, np.float32), ptr(nr, np.float32),
                           ptr(g, np.float32), ptr(gx, np.float32))
    return gx
