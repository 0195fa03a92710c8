"""Versions, errors, threads and the seeded random number generator (core.h)."""

import ctypes

import numpy as np

from . import _lib
from ._lib import C
from ._util import Handle, locked, out_array, ptr, to_int, to_path


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


def set_num_threads(n, force=False):
    """The library-wide default thread count (handles without their own count
    use it); it also makes OpenBLAS single-threaded, process-wide (the library
    parallelises itself; docs/abi.md "Thread counts"). More than the CPUs this
    process may run on (its affinity mask) is lowered to that count unless
    ``force`` (mlcl_set_num_threads / _forced); 1..1024."""
    n = to_int("n", n)
    if force:
        C.mlcl_set_num_threads_forced(n)
    else:
        C.mlcl_set_num_threads(n)


def get_num_threads():
    """The library-wide default thread count (mlcl_get_num_threads; 2, at most
    the CPUs, until set_num_threads is called)."""
    n = ctypes.c_int()
    C.mlcl_get_num_threads(ctypes.byref(n))
    return n.value


def check_output_path(path):
    """Checks, before a long run, that the library's writers (checkpoints,
    model files, exports) could write ``path``: a regular file (a symbolic
    link is followed) or a new one in an existing, writable directory.
    Creates nothing; raises InvalidArgument for a device, FIFO, socket or
    directory and IOFailure for a missing or read-only directory
    (mlcl_check_output_path)."""
    C.mlcl_check_output_path(to_path("check_output_path: path", path))


class Rng(Handle):
    """The library's seeded PCG generator: the same stream on every machine.

    >>> r = Rng(42); r.uniform(3)            # doctest: +SKIP
    """

    _free = "mlcl_rng_free"

    def __init__(self, seed=0):
        h = ctypes.c_void_p()
        C.mlcl_rng_create(ctypes.byref(h), to_int("seed", seed, ctype=ctypes.c_uint64))
        super().__init__(h.value)

    @locked()
    def seed(self, seed):
        """Re-seeds the generator, restarting its stream."""
        C.mlcl_rng_seed(self._ptr, to_int("seed", seed, ctype=ctypes.c_uint64))

    @locked()
    def u32(self, n, out=None):
        """n uniform 32-bit integers (numpy uint32)."""
        out = out_array("out", out, np.uint32, (to_int("n", n, 0, ctype=ctypes.c_size_t),))
        C.mlcl_rng_u32(self._ptr, out.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)), out.size)
        return out

    @locked()
    def uniform(self, n, out=None):
        """n float32 uniform in [0, 1)."""
        out = out_array("out", out, np.float32, (to_int("n", n, 0, ctype=ctypes.c_size_t),))
        C.mlcl_rng_uniform(self._ptr, ptr(out, np.float32), out.size)
        return out

    @locked()
    def normal(self, n, stddev=1.0, out=None):
        """n float32 normal values with standard deviation ``stddev``."""
        out = out_array("out", out, np.float32, (to_int("n", n, 0, ctype=ctypes.c_size_t),))
        C.mlcl_rng_normal(self._ptr, ptr(out, np.float32), out.size, float(stddev))
        return out

    @locked()
    def get_state(self):
        """The state as a tuple of two ints (state, increment)."""
        st = (ctypes.c_uint64 * 2)()
        C.mlcl_rng_get_state(self._ptr, st)
        return (int(st[0]), int(st[1]))

    @locked()
    def set_state(self, state):
        """Restores a state from get_state() (the increment must be odd)."""
        st = (ctypes.c_uint64 * 2)(*[to_int("state[%d]" % i, v, ctype=ctypes.c_uint64)
                                     for i, v in enumerate(state)])
        C.mlcl_rng_set_state(self._ptr, st)
