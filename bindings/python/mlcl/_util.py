"""Internal helpers: handle base class, numpy <-> pointer conversion, option
structs from keyword arguments."""

import contextlib
import ctypes
import functools
import operator
import os
import threading
import weakref

import numpy as np

from . import _lib

_PTR = {
    np.float32: ctypes.POINTER(ctypes.c_float),
    np.float64: ctypes.POINTER(ctypes.c_double),
    np.uint8: ctypes.POINTER(ctypes.c_uint8),
    np.uint64: ctypes.POINTER(ctypes.c_uint64),
    np.int32: ctypes.POINTER(ctypes.c_int),
    np.int64: ctypes.POINTER(ctypes.c_int64),
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


class _ViewBase:
    """The numpy ``base`` of a view into C memory.

    It holds a strong reference to the handle that owns the memory and counts
    as a live view of that handle's root owner: while any view (or any array
    derived from it) is alive, ``close()`` of the owner only marks it closed
    and the C object is freed when the last view goes away; re-allocating
    operations (Encoder.add_*) are refused.
    """

    __slots__ = ("__array_interface__", "_handle", "_state", "__weakref__")

    def __init__(self, handle, address, dtype, shape, readonly):
        self._handle = handle
        self._state = handle._state
        self.__array_interface__ = {"shape": tuple(int(s) for s in shape),
                                    "typestr": np.dtype(dtype).str,
                                    "data": (int(address), bool(readonly)), "version": 3}
        with self._state.mutex:
            self._state.views += 1

    def __del__(self):
        st = self._state
        with st.mutex:
            st.views -= 1
            fin = st.pending if st.views == 0 else None
            if fin is not None:
                st.pending = None
        if fin is not None:
            fin()


def view_of(address, dtype, shape, owner, readonly=False):
    """A numpy array over C memory (no copy) whose base keeps ``owner`` alive
    and defers freeing it (see _ViewBase). Only call it while ``owner`` is in
    use (inside ``owner._use(...)``), so the address cannot be freed meanwhile."""
    count = int(np.prod(shape))
    if count == 0:
        a = np.zeros(shape, dtype=dtype)
        a.flags.writeable = not readonly
        return a
    if not address:
        raise ValueError("mlcl: NULL buffer")
    return np.asarray(_ViewBase(owner, address, dtype, shape, readonly))


# ------------------------------------------------------- integers and strings

_C_INT_RANGES = {
    ctypes.c_int: (-2**31, 2**31 - 1), ctypes.c_uint: (0, 2**32 - 1),
    ctypes.c_int64: (-2**63, 2**63 - 1), ctypes.c_longlong: (-2**63, 2**63 - 1),
    ctypes.c_uint64: (0, 2**64 - 1), ctypes.c_size_t: (0, 2**(8 * ctypes.sizeof(ctypes.c_size_t)) - 1),
    ctypes.c_uint8: (0, 255), ctypes.c_uint32: (0, 2**32 - 1),
}
INT_MAX = 2**31 - 1


def to_int(name, v, lo=None, hi=None, ctype=ctypes.c_int):
    """``v`` as a Python int for a C integer of type ``ctype``: integers only
    (a float, even 2.0, is a TypeError: nothing is truncated), then the range
    [lo, hi] and the range of ``ctype`` are checked (ctypes would wrap silently)."""
    if isinstance(v, (float, np.floating)) or not hasattr(v, "__index__"):
        raise TypeError("%s must be an integer (got %r)" % (name, v))
    v = operator.index(v)
    clo, chi = _C_INT_RANGES[ctype]
    lo = clo if lo is None else max(lo, clo)
    hi = chi if hi is None else min(hi, chi)
    if not lo <= v <= hi:
        raise ValueError("%s must be in [%d, %d] (got %d)" % (name, lo, hi, v))
    return v


def to_cstr(name, s, encoding="utf-8"):
    """A str/bytes/path-like as bytes for a C string: ValueError when it holds a
    NUL byte (C would silently stop reading there)."""
    if isinstance(s, str):
        b = s.encode(encoding)
    elif isinstance(s, (bytes, bytearray)):
        b = bytes(s)
    else:
        raise TypeError("%s must be a string (got %s)" % (name, type(s).__name__))
    if b"\0" in b:
        raise ValueError("%s contains a NUL byte at offset %d (%r): C strings end there"
                         % (name, b.index(b"\0"), b))
    return b


def to_path(name, p):
    """A path (str, bytes or os.PathLike) as bytes for C; NUL bytes refused."""
    try:
        b = os.fsencode(p)
    except TypeError:
        raise TypeError("%s must be a path (str, bytes or os.PathLike), got %s"
                        % (name, type(p).__name__)) from None
    if b"\0" in b:
        raise ValueError("%s contains a NUL byte at offset %d (%r): C would open %r instead"
                         % (name, b.index(b"\0"), b, b[:b.index(b"\0")]))
    return b


def index_array(name, rows, n):
    """Row indices for C (int32): integers only, each checked 0 <= i < n on the
    original values (no wrap-around through a narrower type)."""
    a = np.asarray(rows)
    if a.ndim != 1:
        raise ValueError("%s must be 1-dimensional (got shape %s)" % (name, a.shape))
    if a.size > INT_MAX:
        raise ValueError("%s has %d entries, at most %d" % (name, a.size, INT_MAX))
    if a.dtype == object:
        vals = [to_int("%s[%d]" % (name, i), v, ctype=ctypes.c_int64) for i, v in enumerate(a)]
        a = np.array(vals, dtype=np.int64)
    elif a.dtype.kind not in "iu":
        if a.size == 0:
            return np.zeros(0, np.int32)
        raise TypeError("%s must hold integers (got dtype %s)" % (name, a.dtype))
    if a.size:
        bad = np.flatnonzero((a < 0) | (a >= n))
        if bad.size:
            i = int(bad[0])
            raise ValueError("%s[%d] = %d is out of range: the dataset has %d rows (0..%d)"
                             % (name, i, int(a[i]), n, n - 1))
    return np.ascontiguousarray(a, dtype=np.int32)


def labels01(name, y, shape=None, ndim=2):
    """A 0/1 label matrix as C-contiguous uint8, checked on the original values:
    bools, or numbers that are exactly 0 or 1 (256, 0.7, -1, NaN are refused,
    nothing is wrapped or truncated)."""
    a = np.asarray(y)
    if a.dtype == np.bool_:
        out = np.ascontiguousarray(a, dtype=np.uint8)
    else:
        if a.dtype.kind not in "iuf" and not (a.dtype == object and a.size == 0):
            raise TypeError("%s must hold 0/1 numbers or bools (got dtype %s)" % (name, a.dtype))
        if a.size:
            bad = np.flatnonzero(~((a == 0) | (a == 1)).ravel())
            if bad.size:
                idx = np.unravel_index(int(bad[0]), a.shape)
                raise ValueError("%s%s = %r is not 0 or 1 (labels must be exactly 0/1 or bools)"
                                 % (name, list(int(i) for i in idx), a[idx].item()))
        out = np.ascontiguousarray(a, dtype=np.uint8)
    check_shape(name, out, shape, ndim)
    return out


# -------------------------------------------------------------------- handles

class BusyError(RuntimeError):
    """A call on a handle that is in use: by a call running in another thread,
    by the call whose progress callback is running, or (close(), re-allocating
    calls) by live numpy views of its memory."""


class ClosedError(ValueError):
    """A method of a closed handle (or of a handle borrowed from a closed one)."""


class _State:
    """Shared by a handle and every handle borrowed from it (one C object tree):
    who is using it, its live views, a deferred free, objects C points into."""

    def __init__(self, name):
        self.mutex = threading.RLock()  # RLock: a view's __del__ may run inside
        self.name = name
        self.owner = None     # thread ident of the running call
        self.ops = []         # stack of (description, exclusive) of that thread
        self.callback = 0     # > 0 while a progress callback of the running call executes
        self.views = 0        # live _ViewBase objects
        self.pending = None   # the deferred free (close() with views alive)
        self.keep = {}        # Python objects the C side points into
        self.closed = False   # the root owner was closed (every borrowed handle too)


def _who(handle):
    name = type(handle).__name__
    if handle._owner is not None:
        return "%s (borrowed from a %s)" % (name, handle._state.name)
    return name


class Handle:
    """Base of every wrapped handle: ``close()``, context manager, finaliser,
    and the rules every handle type shares:

    * one call at a time: a method called while another call on the same
      handle (or on a handle borrowed from the same owner) runs in another
      thread raises BusyError instead of racing; so does a re-entrant call
      from a progress callback, except the read-only/evaluation calls a
      callback may make (Trainer.position, evaluate, predict, save ...);
    * ``close()`` while a call runs is refused (BusyError); ``close()`` while
      numpy views of the handle's memory exist marks the handle closed at once
      and frees the C object when the last view is gone;
    * every method of a closed handle raises ClosedError (a ValueError).

    A handle borrowed from another (an encoder of a MoCo pair, the queue of a
    MoCo pair ...) is never freed by Python; it keeps its owner alive, shares
    its owner's rules, and becomes unusable when the owner is closed.
    """

    _free = None  # name of the C free function

    def __init__(self, ptr_value, owner=None):
        self._ptr = ptr_value
        self._owner = owner
        self._children = []
        if owner is not None:
            self._state = owner._state
            owner._children = [r for r in owner._children if r() is not None]
            owner._children.append(weakref.ref(self))
        else:
            self._state = _State(type(self).__name__)

    # ---- the use protocol
    @contextlib.contextmanager
    def _use(self, op, exclusive=False):
        """``with self._use("forward") as h:`` the C pointer, the handle marked
        busy for this thread for the duration. ``exclusive``: may not run
        inside another call on the same handle, not even from a callback
        (close, run, re-allocating or callback-invoking calls)."""
        st = self._state
        me = threading.get_ident()
        with st.mutex:
            if not self._ptr or st.closed:
                raise ClosedError(self._closed_msg())
            if st.owner is None:
                st.owner = me
            elif st.owner != me:
                raise BusyError("%s.%s(): the handle is busy: %s() is running in another thread "
                                "(one call at a time per handle)"
                                % (_who(self), op, st.ops[0][0]))
            else:
                running = st.ops[0][0]
                if st.callback:
                    if exclusive:
                        raise BusyError("%s.%s() called from the progress callback of %s(): "
                                        "refused (return True from the callback to stop the run, "
                                        "then call it)" % (_who(self), op, running))
                elif exclusive or any(e for _, e in st.ops):
                    raise BusyError("%s.%s() called while %s() is running on this thread "
                                    "(from a callback?): re-entrant calls are refused"
                                    % (_who(self), op, running))
            st.ops.append((op, exclusive))
        try:
            yield self._ptr
        finally:
            with st.mutex:
                st.ops.pop()
                if not st.ops:
                    st.owner = None

    def _use_all(self, op, *others, exclusive=False):
        """An ExitStack holding ``self._use(op)`` and every other handle (None
        skipped) in use for the call; returns (stack, [pointers])."""
        stack = contextlib.ExitStack()
        try:
            ptrs = [stack.enter_context(self._use(op, exclusive))]
            for o in others:
                ptrs.append(None if o is None else stack.enter_context(o._use(op)))
        except BaseException:
            stack.close()
            raise
        return stack, ptrs

    def _keep(self, key, obj):
        """Keeps ``obj`` alive as long as the owning C object (C points into it)."""
        self._state.keep[key] = obj

    @property
    def handle(self):
        """The raw C pointer (int); ClosedError when closed. Using it directly
        bypasses the busy/closed rules."""
        if not self._ptr or self._state.closed:
            raise ClosedError(self._closed_msg())
        return self._ptr

    def _closed_msg(self):
        if self._owner is not None and self._state.closed:
            return "%s is closed (its owner, a %s, was closed)" % (type(self).__name__,
                                                                  self._state.name)
        return "%s is closed" % type(self).__name__

    @property
    def closed(self):
        return not self._ptr or self._state.closed

    @property
    def borrowed(self):
        """True when the handle belongs to another object (not freed by close())."""
        return self._owner is not None

    @property
    def views_alive(self):
        """Numpy views of this handle's (owner's) C memory that are still alive."""
        return self._state.views

    def _close_check(self):
        """Subclasses: raise to refuse close() (called under the state mutex)."""

    def _freed(self):
        """Subclasses: what to do after the C object was freed."""

    def close(self):
        """Frees the C object (no-op when already closed or borrowed). Refused
        (BusyError) while a call on the handle runs, in another thread or
        from a callback. With numpy views alive the handle is closed at once
        and the C object is freed when the last view is gone. Handles borrowed
        from this one become unusable."""
        st = self._state
        fin = keep = None
        with st.mutex:
            if not self._ptr or st.closed:
                self._ptr = None
                return
            if self._owner is None:
                if st.owner is not None:
                    where = ("from the progress callback of" if st.callback else "while") \
                        if st.owner == threading.get_ident() else "while another thread runs"
                    raise BusyError("%s.close() refused %s %s(): close it after the call returns"
                                    % (type(self).__name__, where, st.ops[0][0]))
                self._close_check()
            for ref in self._children:
                child = ref()
                if child is not None:
                    child._ptr = None
            self._children = []
            p, self._ptr = self._ptr, None
            if self._owner is None:
                st.closed = True
                # nothing can call into the C object any more: what it points
                # into may go (freeing it does not read them)
                keep, st.keep = st.keep, {}
                free = getattr(_lib.C, self._free) if self._free is not None else None

                def fin(p=p, free=free, after=self._freed):
                    if free is not None and p:
                        free(p)
                    after()
                if st.views > 0:
                    st.pending, fin = fin, None
        if keep:
            keep.clear()  # may drop the last view and run the deferred free
        if fin is not None:
            fin()

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


def locked(op=None, exclusive=False):
    """Method decorator: runs the method inside ``self._use(name)``; the method
    reads the pointer as ``self._ptr``."""
    def deco(fn):
        name = op or fn.__name__

        @functools.wraps(fn)
        def wrapper(self, *a, **k):
            with self._use(name, exclusive):
                return fn(self, *a, **k)
        return wrapper
    return deco


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
                arr[i] = to_int("%s.%s[%d]" % (what, key, i), vals[i], ctype=ftype._type_) \
                    if i < len(vals) else 0
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
        if ftype in _C_INT_RANGES:
            value = to_int("%s.%s" % (what, key), value, ctype=ftype)
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


def threads_property(kind):
    """The ``threads`` property of a handle: mlcl_<kind>_get_threads /
    mlcl_<kind>_set_threads (0: the library default, mlcl.set_num_threads;
    n > 0: this handle's own count for its calls)."""
    from ._lib import C

    def fget(self):
        v = ctypes.c_int()
        with self._use("threads"):
            getattr(C, "mlcl_%s_get_threads" % kind)(self._ptr, ctypes.byref(v))
        return int(v.value)

    def fset(self, n):
        with self._use("threads"):
            getattr(C, "mlcl_%s_set_threads" % kind)(self._ptr, to_int("threads", n))

    return property(fget, fset, doc=fget.__doc__ or "this handle's thread count (0: the library default)")
