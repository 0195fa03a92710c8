"""The communicator hook of data-parallel training (comm.h).

libmlcl never depends on MPI: a communicator is a struct of four collective
callbacks. ``Comm`` is that struct; ``set_comm(obj, comm)`` installs it on a
MoCo pair, a Trainer or an Encoder (``None`` = single process). A Python
implementation is slow but shows the contract; for real runs use the C
library libmlcl_mpi (docs/distributed.md). ``LocalComm()`` is the one-rank
communicator (every collective is the identity), handy for tests.
"""

import ctypes
from ctypes import c_double, c_float, c_int, c_size_t, c_uint, c_void_p

from ._lib import C

COMM_VERSION = 1

ALLREDUCE_F32 = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(c_float), c_size_t)
ALLREDUCE_F64 = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(c_double), c_size_t)
ALLGATHER = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_void_p)
BCAST = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_int)


class Comm(ctypes.Structure):
    """struct mlcl_comm. The handles copy the struct, not the Python
    callables: set_comm() keeps the object alive for them."""
    _fields_ = [("version", c_uint), ("rank", c_int), ("size", c_int), ("ctx", c_void_p),
                ("allreduce_f32", ALLREDUCE_F32), ("allreduce_f64", ALLREDUCE_F64),
                ("allgather", ALLGATHER), ("bcast", BCAST)]

    @classmethod
    def defaults(cls):
        """mlcl_comm_init(): rank 0 of 1, no callbacks."""
        c = cls()
        C.mlcl_comm_init(ctypes.addressof(c), COMM_VERSION)
        return c

    def validate(self):
        """mlcl_comm_validate(); raises InvalidArgument naming the bad field."""
        C.mlcl_comm_validate(ctypes.addressof(self))


def LocalComm():
    """A valid one-rank communicator: sums and broadcasts are no-ops, the
    gather copies. Results equal the single-process ones bit for bit."""
    c = Comm.defaults()
    c._keep = [ALLREDUCE_F32(lambda ctx, buf, n: 0), ALLREDUCE_F64(lambda ctx, buf, n: 0),
               ALLGATHER(lambda ctx, s, n, r: ctypes.memmove(r, s, n) and 0),
               BCAST(lambda ctx, b, n, root: 0)]
    c.allreduce_f32, c.allreduce_f64, c.allgather, c.bcast = c._keep
    return c


def set_comm(obj, comm):
    """Installs ``comm`` (a Comm, or None for single-process) on a MoCo,
    Trainer or Encoder (mlcl_moco_set_comm / mlcl_trainer_set_comm /
    mlcl_encoder_set_comm). ``comm`` (and its callbacks) are kept alive as
    long as the C object (also when ``obj`` is borrowed, e.g. trainer.moco).
    Refused (BusyError) while a call on ``obj`` runs."""
    from .moco import MoCo
    from .nn import Encoder
    from .trainer import Trainer
    if comm is not None and not isinstance(comm, Comm):
        raise TypeError("set_comm: comm must be an mlcl.comm.Comm or None")
    fn = {MoCo: C.mlcl_moco_set_comm, Trainer: C.mlcl_trainer_set_comm,
          Encoder: C.mlcl_encoder_set_comm}
    for cls, f in fn.items():
        if isinstance(obj, cls):
            with obj._use("set_comm", exclusive=True) as h:
                f(h, None if comm is None else ctypes.addressof(comm))
                obj._state.keep[("comm", h)] = comm
            obj._comm = comm
            return
    raise TypeError("set_comm: expected a MoCo, Trainer or Encoder, got %s" % type(obj).__name__)
