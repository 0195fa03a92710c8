"""Versions, errors, threads and the seeded random number generator (core.h)."""

import ctypes

import numpy as np

from . import _lib
from ._lib import C
from ._util import Handle, out_array, ptr


def version():
    """The loaded library's version string "MAJOR.MINOR.PATCH"."""
    return C.mlcl_version_string().decode()


def version_number():
    """MLCL_VERSION_NUMBER of the loaded library (major*10000 + minor*100 + patch)."""
    return int(C.mlcl_version_number())


def status_str(status):
    """mlcl_status_str(): a short description of a status code."""
    return C.mlcl_status_str(int(status)).decode()


def last_error():
    """The message of the last error recorded on this thread ("" if none)."""
    return C.mlcl_last_error().decode(errors="replace")


def clear_error():
    """Clears this thread's last error message."""
    C.mlcl_clear_error()


def set_num_threads(n):
    """Threads the numerical kernels (OpenBLAS) may use; process-wide."""
    C.mlcl_set_num_threads(int(n))


class Rng(Handle):
    """The library's seeded PCG generator: the same stream on every machine.

    >>> r = Rng(42); r.uniform(3)            # doctest: +SKIP
    """

    _free = "mlcl_rng_free"

    def __init__(self, seed=0):
        h = ctypes.c_void_p()
        C.mlcl_rng_create(ctypes.byref(h), int(seed))
        super().__init__(h.value)

    def seed(self, seed):
        """Re-seeds the generator, restarting its stream."""
        C.mlcl_rng_seed(self.handle, int(seed))

    def u32(self, n, out=None):
        """n uniform 32-bit integers (numpy uint32)."""
        out = out_array("out", out, np.uint32, (int(n),))
        C.mlcl_rng_u32(self.handle, out.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)), out.size)
        return out

    def uniform(self, n, out=None):
        """n float32 uniform in [0, 1)."""
        out = out_array("out", out, np.float32, (int(n),))
        C.mlcl_rng_uniform(self.handle, ptr(out, np.float32), out.size)
        return out

    def normal(self, n, stddev=1.0, out=None):
        """n float32 normal values with standard deviation ``stddev``."""
        out = out_array("out", out, np.float32, (int(n),))
        C.mlcl_rng_normal(self.handle, ptr(out, np.float32), out.size, float(stddev))
        return out

    def get_state(self):
        """The state as a tuple of two ints (state, increment)."""
        st = (ctypes.c_uint64 * 2)()
        C.mlcl_rng_get_state(self.handle, st)
        return (int(st[0]), int(st[1]))

    def set_state(self, state):
        """Restores a state from get_state() (the increment must be odd)."""
        st = (ctypes.c_uint64 * 2)(*[int(v) for v in state])
        C.mlcl_rng_set_state(self.handle, st)
