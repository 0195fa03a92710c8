"""Internal helpers: handle base class, numpy <-> pointer conversion, option
structs from keyword arguments."""

import ctypes
import weakref

import numpy as np

from . import _lib

_PTR = {
    np.float32: ctypes.POINTER(ctypes.c_float),
    np.float64: ctypes.POINTER(ctypes.c_double),
    np.uint8: ctypes.POINTER(ctypes.c_uint8),
    np.uint64: ctypes.POINTER(ctypes.c_uint64),
    np.int32: ctypes.POINTER(ctypes.c_int),
}


def ptr(a, dtype):
    """ctypes pointer to the data of numpy array ``a`` (or None -> NULL)."""
    if a is None:
        return None
    return a.ctypes.data_as(_PTR[dtype])


def as_input(name, x, dtype, shape=None, ndim=None):
    """Non-hot path input: any array-like, converted (copied if needed) to a
    C-contiguous array of ``dtype``; shape checked (None entries are free)."""
    a = np.ascontiguousarray(x, dtype=dtype)
    check_shape(name, a, shape, ndim)
    return a


def hot_input(name, x, dtype, shape=None, ndim=None, strict=True):
    """Hot path input: with strict, ``x`` must already be a C-contiguous numpy
    array of ``dtype`` (TypeError otherwise, no silent copy)."""
    if strict:
        if not isinstance(x, np.ndarray):
            raise TypeError("%s must be a numpy.ndarray of dtype %s (got %s); convert it with "
                            "np.ascontiguousarray(x, dtype=np.%s) or pass strict=False"
                            % (name, np.dtype(dtype).name, type(x).__name__, np.dtype(dtype).name))
        if x.dtype != dtype:
            raise TypeError("%s must have dtype %s (got %s); convert it with "
                            "np.ascontiguousarray(x, dtype=np.%s) or pass strict=False"
                            % (name, np.dtype(dtype).name, x.dtype, np.dtype(dtype).name))
        if not x.flags.c_contiguous:
            raise TypeError("%s must be C-contiguous; use np.ascontiguousarray(%s) or pass "
                            "strict=False" % (name, name))
        a = x
    else:
        a = np.ascontiguousarray(x, dtype=dtype)
    check_shape(name, a, shape, ndim)
    return a


def check_shape(name, a, shape=None, ndim=None):
    if shape is not None:
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
            raise ValueError("%s has shape %s, expected %s" % (name, a.shape, want))
    elif ndim is not None and a.ndim != ndim:
        raise ValueError("%s must be %d-dimensional (got shape %s)" % (name, ndim, a.shape))


def out_array(name, out, dtype, shape):
    """An output buffer: a new zeroed array, or the caller's ``out`` checked
    (dtype, C-contiguity, writability, shape)."""
    if out is None:
        return np.zeros(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype or not out.flags.c_contiguous \
            or not out.flags.writeable:
        raise TypeError("%s must be a writable C-contiguous numpy array of dtype %s"
                        % (name, np.dtype(dtype).name))
    check_shape(name, out, shape)
    return out


def copy_from(address, dtype, shape):
    """Copies ``prod(shape)`` elements at a C address into a new numpy array."""
    count = int(np.prod(shape)) if len(shape) else 1
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    if not address:
        raise ValueError("mlcl: NULL buffer")
    ctype = np.ctypeslib.as_ctypes_type(np.dtype(dtype))
    buf = (ctype * count).from_address(address)
    return np.array(np.frombuffer(buf, dtype=dtype), copy=True).reshape(shape)


def view_of(address, dtype, shape, owner):
    """A numpy array over C memory that keeps ``owner`` alive (no copy)."""
    count = int(np.prod(shape))
    if count == 0 or not address:
        return np.zeros(shape, dtype=dtype)
    ctype = np.ctypeslib.as_ctypes_type(np.dtype(dtype))
    buf = (ctype * count).from_address(address)
    buf._mlcl_owner = owner  # ctypes arrays accept attributes: keeps the handle alive
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


# -------------------------------------------------------------------- handles

class Handle:
    """Base of every wrapped handle: ``close()``, context manager, finaliser.

    A handle borrowed from another (an encoder of a MoCo pair, the queue of a
    MoCo pair ...) is never freed by Python; it keeps its owner alive, and
    becomes unusable when the owner is closed.
    """

    _free = None  # name of the C free function

    def __init__(self, ptr_value, owner=None):
        self._ptr = ptr_value
        self._owner = owner
        self._children = []
        if owner is not None:
            owner._children.append(weakref.ref(self))

    @property
    def handle(self):
        """The raw C pointer (int); ValueError when closed."""
        if not self._ptr:
            raise ValueError("%s is closed" % type(self).__name__)
        return self._ptr

    @property
    def closed(self):
        return not self._ptr

    @property
    def borrowed(self):
        """True when the handle belongs to another object (not freed by close())."""
        return self._owner is not None

    def close(self):
        """Frees the C object (no-op when already closed or borrowed). Handles
        borrowed from this one become unusable."""
        for ref in self._children:
            child = ref()
            if child is not None:
                child._ptr = None
        self._children = []
        p, self._ptr = self._ptr, None
        if p and self._owner is None and self._free is not None:
            getattr(_lib.C, self._free)(p)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# ------------------------------------------------------------ option structs

def make_options(struct_cls, init_name, version, kwargs, enums=None, what="options"):
    """A struct filled by the C ``init`` function, then updated from kwargs."""
    s = struct_cls()
    getattr(_lib.C, init_name)(ctypes.byref(s), version)
    apply_kwargs(s, kwargs, enums or {}, what)
    return s


def apply_kwargs(s, kwargs, enums, what):
    fields = {f[0]: f[1] for f in type(s)._fields_}
    for key, value in kwargs.items():
        if key not in fields or key == "version":
            raise TypeError("%s: unknown option %r (known: %s)" % (
                what, key, ", ".join(k for k in fields if k != "version")))
        ftype = fields[key]
        if isinstance(ftype, type) and issubclass(ftype, ctypes.Structure):
            if isinstance(value, ftype):
                setattr(s, key, value)
            elif isinstance(value, dict):
                apply_kwargs(getattr(s, key), value, enums.get(key, {}), "%s.%s" % (what, key))
            else:
                raise TypeError("%s.%s must be a dict or a %s" % (what, key, ftype.__name__))
            continue
        if isinstance(ftype, type) and issubclass(ftype, ctypes.Array):
            vals = list(value)
            if len(vals) > ftype._length_:
                raise ValueError("%s.%s: at most %d values" % (what, key, ftype._length_))
            arr = getattr(s, key)
            for i in range(ftype._length_):
                arr[i] = int(vals[i]) if i < len(vals) else 0
            if key == "hidden" and "n_hidden" in fields and "n_hidden" not in kwargs:
                s.n_hidden = len(vals)
            continue
        if key in enums and isinstance(value, str):
            table = enums[key]
            v = value.lower().replace("_", "-")
            norm = {k.replace("_", "-"): n for k, n in table.items()}
            if v not in norm:
                raise ValueError("%s.%s: %r is not one of %s" % (what, key, value, ", ".join(table)))
            value = norm[v]
        if isinstance(value, bool):
            value = int(value)
        try:
            setattr(s, key, value)
        except TypeError:
            raise TypeError("%s.%s: bad value %r" % (what, key, value)) from None


def struct_to_dict(s, enums=None):
    """A plain dict of a struct (nested structs as dicts, arrays as lists)."""
    out = {}
    for name, ftype in type(s)._fields_:
        v = getattr(s, name)
        if isinstance(v, ctypes.Structure):
            v = struct_to_dict(v)
        elif isinstance(v, ctypes.Array):
            v = list(v)
        out[name] = v
    return out
