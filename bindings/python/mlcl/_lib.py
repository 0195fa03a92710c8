"""Loading libmlcl.so.1, the ctypes prototypes, the option structs and the
exceptions.

Where the library is looked for, in order:

1. the environment variable ``MLCL_LIBRARY`` (a path to the .so);
2. next to the package: ``../../lib/libmlcl.so.1`` (the source tree after
   ``make``), the package directory itself, and ``$(PREFIX)/lib/libmlcl.so.1``
   for a package installed by ``make install`` in
   ``$(PREFIX)/lib/python3/dist-packages/mlcl`` (no ldconfig needed), and
   the LIBDIR ``make install`` recorded in ``_install.py``; a package
   installed with pip from a built source tree carries its own copy of the
   library in the package directory;
3. the system loader, ``ctypes.CDLL("libmlcl.so.1")`` (after ``make install``,
   ``ldconfig`` or with ``LD_LIBRARY_PATH``), then the name
   ``ctypes.util.find_library("mlcl")`` reports.

The loaded library must have major version 1 and be at least the version
these bindings were written for (``WRITTEN_FOR`` = 1.0.0), else ImportError.

Every function used by the package is declared here with its argtypes and
restype; nothing is called through an undeclared prototype.
"""

import ctypes
import os
from ctypes import (POINTER, c_char_p, c_double, c_float, c_int, c_int64, c_longlong,
                    c_size_t, c_uint, c_uint8, c_uint64, c_void_p)

#: MLCL_VERSION_NUMBER these bindings were written against.
WRITTEN_FOR = 10000

_SONAME = "libmlcl.so.1"


def _candidates():
    env = os.environ.get("MLCL_LIBRARY")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.normpath(os.path.join(here, "..", "..", "..", "lib", _SONAME)),
            os.path.join(here, _SONAME),
            # `make install`: $(PREFIX)/lib/python3/dist-packages/mlcl -> $(PREFIX)/lib
            os.path.normpath(os.path.join(here, "..", "..", "..", _SONAME))] \
        + _installed_libdir() + [_SONAME] + _found_by_ldconfig(), False


def _installed_libdir():
    # `make install` writes _install.py with its LIBDIR (any LIBDIR, not only $(PREFIX)/lib)
    try:
        from ._install import LIBDIR
    except ImportError:
        return []
    return [os.path.join(LIBDIR, _SONAME)]


def _found_by_ldconfig():
    import ctypes.util
    name = ctypes.util.find_library("mlcl")
    return [name] if name and name != _SONAME else []


def _load():
    paths, from_env = _candidates()
    errors = []
    for p in paths:
        if os.sep in p and not os.path.exists(p):
            errors.append("%s: no such file" % p)
            if from_env:
                break
            continue
        try:
            return ctypes.CDLL(p), p
        except OSError as e:
            errors.append("%s: %s" % (p, e))
            if from_env:
                break
    raise ImportError("mlcl: cannot load %s (%s). Build it with `make` in the libmlcl "
                      "source tree, install it with `make install`, or set MLCL_LIBRARY "
                      "to its path." % (_SONAME, "; ".join(errors)))


lib, path = _load()

lib.mlcl_version_number.argtypes = []
lib.mlcl_version_number.restype = c_uint
lib.mlcl_version_string.argtypes = []
lib.mlcl_version_string.restype = c_char_p

version_number = lib.mlcl_version_number()
version_string = lib.mlcl_version_string().decode()
if version_number // 10000 != WRITTEN_FOR // 10000 or version_number < WRITTEN_FOR:
    raise ImportError("mlcl: %s is libmlcl %s (version number %d); these bindings need "
                      "major version %d and at least %d.%d.%d" % (
                          path, version_string, version_number, WRITTEN_FOR // 10000,
                          WRITTEN_FOR // 10000, WRITTEN_FOR // 100 % 100, WRITTEN_FOR % 100))

# --------------------------------------------------------------------- errors

#: status code -> symbolic name (core.h)
STATUS_NAMES = {
    0: "MLCL_OK", -1: "MLCL_EINVAL", -2: "MLCL_ENOMEM", -3: "MLCL_EIO", -4: "MLCL_EFORMAT",
    -5: "MLCL_EVERSION", -6: "MLCL_ESTATE", -7: "MLCL_ENUMERIC", -8: "MLCL_EBACKEND",
    -9: "MLCL_EOVERFLOW", -10: "MLCL_EUNSUPPORTED", -11: "MLCL_ECHECKSUM",
    -12: "MLCL_EINTERRUPTED", -13: "MLCL_EBUSY",
}


class MlclError(Exception):
    """A libmlcl call returned a negative status.

    Attributes: ``status`` (the int code), ``status_name`` ("MLCL_EINVAL", ...),
    ``message`` (mlcl_last_error() at the time of the failure) and
    ``function`` (the C function called).
    """

    def __init__(self, status, message="", function=""):
        self.status = int(status)
        self.status_name = STATUS_NAMES.get(self.status, "MLCL_E?%d" % self.status)
        self.message = message
        self.function = function
        super().__init__("%s (%s): %s" % (self.status_name, _status_str(self.status), message))


class InvalidArgument(MlclError, ValueError):
    """MLCL_EINVAL."""


class OutOfMemory(MlclError, MemoryError):
    """MLCL_ENOMEM."""


class IOFailure(MlclError, OSError):
    """MLCL_EIO: a file could not be opened, read or written."""


class FormatError(MlclError):
    """MLCL_EFORMAT: malformed file contents (file and line in the message)."""


class VersionError(MlclError):
    """MLCL_EVERSION."""


class StateError(MlclError):
    """MLCL_ESTATE: the call is not valid in the handle's current state."""


class NumericError(MlclError, ArithmeticError):
    """MLCL_ENUMERIC: a NaN/Inf appeared."""


class BackendError(MlclError):
    """MLCL_EBACKEND."""


class OverflowFailure(MlclError, OverflowError):
    """MLCL_EOVERFLOW: sizes whose product overflows."""


class Unsupported(MlclError):
    """MLCL_EUNSUPPORTED."""


class ChecksumError(MlclError):
    """MLCL_ECHECKSUM: a file's checksum does not match (corrupted)."""


class Interrupted(MlclError):
    """MLCL_EINTERRUPTED: a progress callback asked to stop."""


class HandleBusy(MlclError, RuntimeError):
    """MLCL_EBUSY: the C handle is in use by another call (another thread or a
    re-entrant call from a callback)."""


_ERROR_CLASSES = {-1: InvalidArgument, -2: OutOfMemory, -3: IOFailure, -4: FormatError,
                  -5: VersionError, -6: StateError, -7: NumericError, -8: BackendError,
                  -9: OverflowFailure, -10: Unsupported, -11: ChecksumError, -12: Interrupted,
                  -13: HandleBusy}


def _status_str(status):
    try:
        return lib.mlcl_status_str(int(status)).decode()
    except Exception:  # noqa: BLE001 - only used for messages
        return "?"


def last_error():
    """mlcl_last_error() of this thread, as str."""
    return lib.mlcl_last_error().decode(errors="replace")


def error_for(status, function=""):
    """The exception object for a negative status (message from mlcl_last_error())."""
    cls = _ERROR_CLASSES.get(int(status), MlclError)
    return cls(status, last_error(), function)


def _errcheck(result, func, args):
    if result < 0:
        raise error_for(result, func.__name__)
    return result


# -------------------------------------------------------------------- structs
# Mirrors of the public option structs (same field order and types as the
# headers; ctypes applies the C alignment rules). Always fill them with the
# library's *_init() function, never from Python defaults.

MLP_MAX_HIDDEN = 8
BATCHER_STATE_WORDS = 6
IDX_MAX_DIMS = 8


class QueueOptions(ctypes.Structure):
    _fields_ = [("version", c_uint), ("capacity", c_int), ("feat_dim", c_int), ("n_labels", c_int)]


class LossOptions(ctypes.Structure):
    _fields_ = [("version", c_uint), ("method", c_int), ("variant", c_int), ("mask", c_int),
                ("alpha", c_float), ("beta", c_float), ("tau", c_float), ("sigma", c_float),
                ("reduction", c_int), ("cld_weight", c_int), ("weight_grad", c_int),
                ("dweight_grad", c_int), ("con_norm", c_int), ("h_target", c_int)]


class LossParts(ctypes.Structure):
    """mlcl_loss_parts; a new one carries MLCL_LOSS_PARTS_VERSION (the caller sets it)."""
    _fields_ = [("version", c_uint), ("total", c_double), ("con", c_double), ("G", c_double),
                ("H", c_double), ("wreg", c_double), ("n_anchors_used", c_int)]

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        if not args and "version" not in kw:
            C.mlcl_loss_parts_init(ctypes.byref(self), LOSS_PARTS_VERSION)


class LossInputs(ctypes.Structure):
    """mlcl_loss_inputs (borrowed pointers, for one mlcl_loss_compute call)."""
    _fields_ = [("version", c_uint), ("n", c_int), ("q", c_void_p), ("k", c_void_p),
                ("y", c_void_p), ("d", c_void_p), ("queue", c_void_p), ("F", c_int),
                ("kq", c_void_p), ("yq", c_void_p), ("dq", c_void_p), ("W", c_void_p),
                ("h", c_int)]


class Metrics(ctypes.Structure):
    _fields_ = [("version", c_uint), ("HA", c_double), ("ebF1", c_double), ("miF1", c_double),
                ("maF1", c_double), ("p_at_1", c_double), ("mAP", c_double),
                ("map_labels_used", c_int), ("map_labels_skipped", c_int),
                ("ebf1_samples_skipped", c_int), ("threshold", c_float)]


class EncoderOptions(ctypes.Structure):
    _fields_ = [("version", c_uint), ("max_batch", c_int), ("seed", c_uint64)]


class MlpSpec(ctypes.Structure):
    _fields_ = [("version", c_uint), ("in_dim", c_int), ("n_hidden", c_int),
                ("hidden", c_int * MLP_MAX_HIDDEN), ("dropout", c_float), ("batchnorm", c_int),
                ("out_dim", c_int), ("out_act", c_int)]


class ResnetSpec(ctypes.Structure):
    _fields_ = [("version", c_uint), ("depth", c_int), ("stem", c_int), ("in_channels", c_int),
                ("height", c_int), ("width", c_int), ("base_width", c_int), ("bn_eps", c_float),
                ("bn_momentum", c_float), ("zero_init_residual", c_int)]


class OptimOptions(ctypes.Structure):
    _fields_ = [("version", c_uint), ("type", c_int), ("lr", c_float), ("momentum", c_float),
                ("dampening", c_float), ("nesterov", c_int), ("beta1", c_float),
                ("beta2", c_float), ("eps", c_float), ("weight_decay", c_float)]


class SchedOptions(ctypes.Structure):
    _fields_ = [("version", c_uint), ("type", c_int), ("base_lr", c_float), ("step_size", c_int),
                ("gamma", c_float), ("T_max", c_int), ("T_0", c_int), ("T_mult", c_int),
                ("eta_min", c_float)]


class SimclrOptions(ctypes.Structure):
    _fields_ = [("version", c_uint), ("out_h", c_int), ("out_w", c_int), ("crop_p", c_float),
                ("scale_min", c_float), ("scale_max", c_float), ("ratio_min", c_float),
                ("ratio_max", c_float), ("flip_p", c_float), ("jitter_p", c_float),
                ("brightness", c_float), ("contrast", c_float), ("saturation", c_float),
                ("hue", c_float), ("gray_p", c_float), ("blur_p", c_float),
                ("blur_sigma_min", c_float), ("blur_sigma_max", c_float), ("blur_kernel", c_int)]


SIMCLR_OPTIONS_VERSION = 1
NPY_MAX_DIMS = 8


class CMocoOptions(ctypes.Structure):
    """mlcl_moco_options as laid out in C (moco.h, version 2): the widths,
    loss, optimiser and backbone by pointer. Built by MocoOptions.to_c()
    (backbone NULL: MoCo(backbone=...) sets it on the C struct)."""
    _fields_ = [("version", c_uint), ("in_dim", c_int), ("n_labels", c_int), ("n_hidden", c_int),
                ("hidden", POINTER(c_int)), ("dropout", c_float), ("proj_dim", c_int),
                ("proj_dropout", c_float), ("queue_size", c_int), ("momentum", c_float),
                ("max_batch", c_int), ("seed", c_uint64), ("loss", POINTER(LossOptions)),
                ("optim", POINTER(OptimOptions)), ("key_train_mode", c_int), ("backbone", c_void_p)]


_PHASE_FIELDS = ("epochs", "optim", "lr", "weight_decay", "head_lr_scale", "sched", "T_0", "T_mult",
                 "eta_min", "step_size", "gamma", "mask_p")


class CTrainOptions(ctypes.Structure):
    """mlcl_train_options as laid out in C (train.h, version 2): the MoCo
    options by pointer, the phases flat. Built by TrainOptions.c_ref()."""
    _fields_ = ([("version", c_uint), ("method", c_int), ("batch", c_int), ("seed", c_uint64),
                 ("threads", c_int), ("moco", POINTER(CMocoOptions))] +
                [("%s_%s" % (ph, f), t) for ph in ("pretrain", "finetune")
                 for f, t in zip(_PHASE_FIELDS, (c_int, c_int, c_float, c_float, c_float, c_int, c_int, c_int,
                                                 c_float, c_int, c_float, c_float))] +
                [("standardize", c_int), ("stop_on_nonfinite", c_int)])


def _moco_optim_default():
    """MLCL_MOCO_OPTIM_INIT: AdamW, lr 4e-5, weight decay 1e-4."""
    return OptimOptions(1, 2, 4e-5, 0.0, 0.0, 0, 0.9, 0.999, 1e-8, 1e-4)


class MocoOptions(ctypes.Structure):
    """The Python view of mlcl_moco_options: widths, loss and optimiser held
    by value (as kwargs give them); to_c() builds the C struct with pointers."""
    _fields_ = [("version", c_uint), ("in_dim", c_int), ("n_labels", c_int), ("n_hidden", c_int),
                ("hidden", c_int * MLP_MAX_HIDDEN), ("dropout", c_float), ("proj_dim", c_int),
                ("proj_dropout", c_float), ("queue_size", c_int), ("momentum", c_float),
                ("max_batch", c_int), ("seed", c_uint64), ("loss", LossOptions),
                ("optim", OptimOptions), ("key_train_mode", c_int)]

    @classmethod
    def from_c(cls, c):
        o = cls()
        for name, _ in CMocoOptions._fields_:
            if name not in ("hidden", "loss", "optim", "backbone"):
                setattr(o, name, getattr(c, name))
        if c.hidden:
            o.n_hidden = c.n_hidden
            for i in range(c.n_hidden):
                o.hidden[i] = c.hidden[i]
        else:
            o.n_hidden = 3
            o.hidden[0], o.hidden[1], o.hidden[2] = 256, 512, 256
        if c.loss:
            o.loss = c.loss.contents
        else:
            _lib_loss_init(o.loss)
        o.optim = c.optim.contents if c.optim else _moco_optim_default()
        return o

    def to_c(self, trainer_method=None):
        """The C struct (kept alive by this object until the next call). For a
        trainer (trainer_method set) the loss takes the method's method,
        variant and mask and the optimiser is left to the pretrain phase."""
        c = CMocoOptions()
        for name, _ in CMocoOptions._fields_:
            if name not in ("hidden", "loss", "optim", "backbone"):
                setattr(c, name, getattr(self, name))
        n = max(0, min(int(self.n_hidden), MLP_MAX_HIDDEN))
        widths = (c_int * max(n, 1))(*list(self.hidden)[:n])
        c.n_hidden = self.n_hidden
        c.hidden = ctypes.cast(widths, POINTER(c_int)) if n else None
        loss = LossOptions.from_buffer_copy(self.loss)
        optim = OptimOptions.from_buffer_copy(self.optim)
        if trainer_method is not None:
            implied = LossOptions()
            if 0 <= int(trainer_method) <= 5:  # (an unknown method is reported by create)
                C.mlcl_train_method_loss(ctypes.byref(implied), int(trainer_method))
                loss.method, loss.variant, loss.mask = implied.method, implied.variant, implied.mask
            c.optim = None
        else:
            c.optim = ctypes.pointer(optim)
        c.loss = ctypes.pointer(loss)
        self._keep = (widths, loss, optim, c)
        return c


class PhaseOptions(ctypes.Structure):
    """The Python view of one phase (the pretrain_* or finetune_* fields)."""
    _fields_ = [("epochs", c_int), ("optim", c_int), ("lr", c_float), ("weight_decay", c_float),
                ("head_lr_scale", c_float), ("sched", c_int), ("T_0", c_int), ("T_mult", c_int),
                ("eta_min", c_float), ("step_size", c_int), ("gamma", c_float), ("mask_p", c_float)]


class TrainOptions(ctypes.Structure):
    """The Python view of mlcl_train_options: moco, pretrain and finetune as
    nested structs (kwargs dicts); c_ref() builds the C struct (flat phases,
    the MoCo options by pointer)."""
    _fields_ = [("version", c_uint), ("method", c_int), ("batch", c_int), ("seed", c_uint64),
                ("threads", c_int), ("moco", MocoOptions), ("pretrain", PhaseOptions),
                ("finetune", PhaseOptions), ("standardize", c_int), ("stop_on_nonfinite", c_int)]

    @classmethod
    def from_c(cls, c):
        o = cls()
        for name in ("version", "method", "batch", "seed", "threads", "standardize", "stop_on_nonfinite"):
            setattr(o, name, getattr(c, name))
        if c.moco:
            o.moco = MocoOptions.from_c(c.moco.contents)
        else:
            cm = CMocoOptions()
            C.mlcl_moco_options_init(ctypes.byref(cm), MOCO_OPTIONS_VERSION)
            o.moco = MocoOptions.from_c(cm)
        for ph in ("pretrain", "finetune"):
            for f in _PHASE_FIELDS:
                setattr(getattr(o, ph), f, getattr(c, "%s_%s" % (ph, f)))
        return o

    def to_c(self):
        c = CTrainOptions()
        for name in ("version", "method", "batch", "seed", "threads", "standardize", "stop_on_nonfinite"):
            setattr(c, name, getattr(self, name))
        for ph in ("pretrain", "finetune"):
            for f in _PHASE_FIELDS:
                setattr(c, "%s_%s" % (ph, f), getattr(getattr(self, ph), f))
        m = self.moco  # (a view: it holds the pieces to_c made)
        mc = m.to_c(trainer_method=self.method)
        c.moco = ctypes.pointer(mc)
        self._keep = (c, mc, m, m._keep)
        return c

    def c_ref(self):
        """ctypes.byref of the C struct (alive as long as this object)."""
        return ctypes.byref(self.to_c())


def _lib_loss_init(loss):
    C.mlcl_loss_options_init(ctypes.byref(loss), LOSS_OPTIONS_VERSION)


class TrainerExOptions(ctypes.Structure):
    """mlcl_trainer_ex_options (train.h): what mlcl_trainer_create_ex adds."""
    _fields_ = [("version", c_uint), ("backbone", c_void_p), ("pretrain_views", ctypes.POINTER(SimclrOptions)),
                ("finetune_views", ctypes.POINTER(SimclrOptions))]


TRAINER_EX_OPTIONS_VERSION = 1


class Progress(ctypes.Structure):
    _fields_ = [("version", c_uint), ("phase", c_int), ("epoch", c_int), ("epochs", c_int), ("step", c_longlong),
                ("end_of_epoch", c_int), ("loss", c_double), ("con", c_double), ("G", c_double),
                ("H", c_double), ("wreg", c_double), ("lr", c_double), ("samples_per_s", c_double)]


PROGRESS_FN = ctypes.CFUNCTYPE(c_int, POINTER(Progress), c_void_p)

# Option struct versions (the *_OPTIONS_VERSION macros).
QUEUE_OPTIONS_VERSION = 1
LOSS_OPTIONS_VERSION = 1
LOSS_PARTS_VERSION = 1
LOSS_INPUTS_VERSION = 1
METRICS_VERSION = 1
ENCODER_OPTIONS_VERSION = 1
MLP_SPEC_VERSION = 1
RESNET_SPEC_VERSION = 1
OPTIM_OPTIONS_VERSION = 1
SCHED_OPTIONS_VERSION = 1
MOCO_OPTIONS_VERSION = 2
TRAIN_OPTIONS_VERSION = 2
LIBSVM_INDEX_AUTO = -1

# ----------------------------------------------------------------- prototypes
P = POINTER
pf = P(c_float)
pu8 = P(c_uint8)
pu64 = P(c_uint64)
pi = P(c_int)
pd = P(c_double)
H = c_void_p  # opaque handles
INT = "status"  # marker: returns an int status; errcheck raises on < 0

# name: (restype, [argtypes]); restype INT means "int status" (checked).
_PROTOS = {
    # core.h
    "mlcl_version_number": (c_uint, []),
    "mlcl_version_string": (c_char_p, []),
    "mlcl_status_str": (c_char_p, [c_int]),
    "mlcl_last_error": (c_char_p, []),
    "mlcl_clear_error": (None, []),
    "mlcl_set_num_threads": (INT, [c_int]),
    "mlcl_set_num_threads_forced": (INT, [c_int]),
    "mlcl_get_num_threads": (INT, [pi]),
    "mlcl_check_output_path": (INT, [c_char_p]),
    "mlcl_rng_create": (INT, [P(H), c_uint64]),
    "mlcl_rng_free": (None, [H]),
    "mlcl_rng_seed": (INT, [H, c_uint64]),
    "mlcl_rng_u32": (INT, [H, P(ctypes.c_uint32), c_size_t]),
    "mlcl_rng_uniform": (INT, [H, pf, c_size_t]),
    "mlcl_rng_normal": (INT, [H, pf, c_size_t, c_float]),
    "mlcl_rng_get_state": (INT, [H, pu64]),
    "mlcl_rng_set_state": (INT, [H, pu64]),
    # queue.h
    "mlcl_label_words": (c_size_t, [c_int]),
    "mlcl_labels_pack": (INT, [pu64, pu8, c_int, c_int]),
    "mlcl_labels_unpack": (INT, [pu8, pu64, c_int, c_int]),
    "mlcl_queue_options_init": (INT, [P(QueueOptions), c_uint]),
    "mlcl_queue_create": (INT, [P(H), P(QueueOptions)]),
    "mlcl_queue_free": (None, [H]),
    "mlcl_queue_enqueue": (INT, [H, c_int, pf, pu64, pf]),
    "mlcl_queue_reset": (INT, [H]),
    "mlcl_queue_size": (INT, [H, pi]),
    "mlcl_queue_capacity": (INT, [H, pi]),
    "mlcl_queue_head": (INT, [H, pi]),
    "mlcl_queue_feat_dim": (INT, [H, pi]),
    "mlcl_queue_n_labels": (INT, [H, pi]),
    "mlcl_queue_features": (INT, [H, P(c_void_p)]),
    "mlcl_queue_labels": (INT, [H, P(c_void_p)]),
    "mlcl_queue_dists": (INT, [H, P(c_void_p)]),
    "mlcl_queue_set_state": (INT, [H, c_int, c_int, pf, pu64, pf]),
    # mask.h
    "mlcl_mask_build": (INT, [pu8, pi, c_int, c_int, pu64, c_int, pu64, c_int, pu64, c_int]),
    "mlcl_mask_labelwise_counts": (INT, [pi, c_int, pu64, c_int, pu64, c_int]),
    "mlcl_mask_labelwise": (INT, [pi, c_int, pu64, c_int, pu64, c_int, pu64, c_int]),
    # loss.h
    "mlcl_loss_options_init": (INT, [P(LossOptions), c_uint]),
    "mlcl_loss_create": (INT, [P(H), c_int, c_int, c_int, c_int, P(LossOptions)]),
    "mlcl_loss_free": (None, [H]),
    "mlcl_loss_set_threads": (INT, [H, c_int]),
    "mlcl_loss_get_threads": (INT, [H, pi]),
    "mlcl_loss_set_options": (INT, [H, P(LossOptions)]),
    "mlcl_loss_get_options": (INT, [H, P(LossOptions)]),
    "mlcl_loss_get_dims": (INT, [H, pi, pi, pi, pi]),
    "mlcl_loss_workspace_size": (INT, [H, P(c_size_t)]),
    "mlcl_loss_parts_init": (INT, [P(LossParts), c_uint]),
    "mlcl_loss_inputs_init": (INT, [P(LossInputs), c_uint]),
    "mlcl_loss_compute": (INT, [H, P(LossParts), pf, pf, pf, P(LossInputs)]),
    # metrics.h
    "mlcl_metrics_init": (INT, [P(Metrics), c_uint]),
    "mlcl_metrics_compute": (INT, [P(Metrics), c_int, c_int, pf, pu8, c_float]),
    "mlcl_metrics_sweep": (INT, [P(Metrics), pf, c_int, c_int, pf, pu8]),
    "mlcl_metrics_average_precision": (INT, [pd, c_int, c_int, pf, pu8]),
    # encoder.h, models.h
    "mlcl_encoder_options_init": (INT, [P(EncoderOptions), c_uint]),
    "mlcl_mlp_spec_init": (INT, [P(MlpSpec), c_uint]),
    "mlcl_encoder_create": (INT, [P(H), c_int, P(EncoderOptions)]),
    "mlcl_encoder_create_mlp": (INT, [P(H), P(MlpSpec), P(EncoderOptions)]),
    "mlcl_encoder_free": (None, [H]),
    "mlcl_encoder_add_linear": (INT, [H, c_int, c_int]),
    "mlcl_encoder_add_relu": (INT, [H]),
    "mlcl_encoder_add_dropout": (INT, [H, c_float]),
    "mlcl_encoder_add_batchnorm": (INT, [H, c_float, c_float]),
    "mlcl_encoder_add_l2norm": (INT, [H]),
    "mlcl_encoder_add_softmax": (INT, [H]),
    "mlcl_encoder_forward": (INT, [H, c_int, pf, pf]),
    "mlcl_encoder_forward_csr": (INT, [H, c_int, P(c_int64), pi, pf, pf]),
    "mlcl_encoder_backward": (INT, [H, c_int, pf, pf]),
    "mlcl_encoder_zero_grad": (INT, [H]),
    "mlcl_encoder_set_training": (INT, [H, c_int]),
    "mlcl_encoder_set_threads": (INT, [H, c_int]),
    "mlcl_encoder_get_threads": (INT, [H, pi]),
    "mlcl_encoder_get_training": (INT, [H, pi]),
    "mlcl_encoder_in_dim": (INT, [H, pi]),
    "mlcl_encoder_out_dim": (INT, [H, pi]),
    "mlcl_encoder_num_layers": (INT, [H, pi]),
    "mlcl_encoder_param_count": (INT, [H, P(c_size_t)]),
    "mlcl_encoder_params_ptr": (INT, [H, P(pf)]),
    "mlcl_encoder_grads_ptr": (INT, [H, P(pf)]),
    "mlcl_encoder_get_params": (INT, [H, pf, c_size_t]),
    "mlcl_encoder_set_params": (INT, [H, pf, c_size_t]),
    "mlcl_encoder_state_count": (INT, [H, P(c_size_t)]),
    "mlcl_encoder_get_state": (INT, [H, pf, c_size_t]),
    "mlcl_encoder_set_state": (INT, [H, pf, c_size_t]),
    "mlcl_encoder_copy_params": (INT, [H, H]),
    "mlcl_encoder_momentum_update": (INT, [H, H, c_float]),
    "mlcl_encoder_get_rng_state": (INT, [H, pu64]),
    "mlcl_encoder_set_rng_state": (INT, [H, pu64]),
    "mlcl_encoder_clone": (INT, [P(H), H]),
    "mlcl_resnet_spec_init": (INT, [P(ResnetSpec), c_uint]),
    "mlcl_encoder_create_resnet": (INT, [P(H), P(ResnetSpec), P(EncoderOptions)]),
    # ops.h (outputs first, then inputs, then sizes)
    "mlcl_softmax_forward": (INT, [pf, pf, c_int, c_int]),
    "mlcl_softmax_backward": (INT, [pf, pf, pf, c_int, c_int]),
    "mlcl_sigmoid": (INT, [pf, pf, c_size_t]),
    "mlcl_l2norm_forward": (INT, [pf, pf, pf, c_int, c_int]),
    "mlcl_l2norm_backward": (INT, [pf, pf, pf, pf, c_int, c_int]),
    # loss.h: binary cross-entropy
    "mlcl_bce_with_logits": (INT, [pf, pf, pf, pf, c_int, c_int]),
    # optim.h
    "mlcl_optim_options_init": (INT, [P(OptimOptions), c_uint]),
    "mlcl_optim_create": (INT, [P(H), P(OptimOptions)]),
    "mlcl_optim_free": (None, [H]),
    "mlcl_optim_add_group": (INT, [H, pf, pf, c_size_t, c_float, c_float, pi]),
    "mlcl_optim_num_groups": (INT, [H, pi]),
    "mlcl_optim_set_lr": (INT, [H, c_int, c_float]),
    "mlcl_optim_set_weight_decay": (INT, [H, c_int, c_float]),
    "mlcl_optim_get_lr": (INT, [H, c_int, pf]),
    "mlcl_optim_step": (INT, [H]),
    "mlcl_optim_zero_state": (INT, [H]),
    "mlcl_optim_state_count": (INT, [H, P(c_size_t)]),
    "mlcl_optim_get_state": (INT, [H, pf, c_size_t]),
    "mlcl_optim_set_state": (INT, [H, pf, c_size_t]),
    "mlcl_optim_get_step": (INT, [H, c_int, P(c_int64)]),
    "mlcl_optim_set_step": (INT, [H, c_int, c_int64]),
    "mlcl_sched_options_init": (INT, [P(SchedOptions), c_uint]),
    "mlcl_sched_lr": (INT, [P(SchedOptions), c_double, pf]),
    # dataset.h, readers.h, batch.h, augment.h
    "mlcl_dataset_load_arff": (INT, [P(H), c_char_p, c_int, c_int]),
    "mlcl_dataset_load_libsvm": (INT, [P(H), c_char_p, c_int, c_int, c_int]),
    "mlcl_dataset_load_libsvm_sparse": (INT, [P(H), c_char_p, c_int, c_int, c_int]),
    "mlcl_dataset_load_arff_sparse": (INT, [P(H), c_char_p, c_int, c_int]),
    "mlcl_dataset_create_csr": (INT, [P(H), c_int, c_int, c_int, P(c_int64), pi, pf, pu8]),
    "mlcl_dataset_is_sparse": (INT, [H, pi]),
    "mlcl_dataset_csr": (INT, [H, P(P(c_int64)), P(pi), P(pf), P(c_int64)]),
    "mlcl_idx_load": (INT, [P(P(c_uint8)), pi, pi, c_char_p]),
    "mlcl_idx_free": (None, [P(c_uint8)]),
    "mlcl_dataset_load_idx": (INT, [P(H), c_char_p, c_char_p, c_int]),
    "mlcl_dataset_set_image_shape": (INT, [H, c_int, c_int, c_int]),
    "mlcl_dataset_set_label_names": (INT, [H, c_int, P(c_char_p)]),
    "mlcl_dataset_create_from_arrays": (INT, [P(H), c_int, c_int, c_int, pf, pu8]),
    "mlcl_dataset_subset": (INT, [P(H), H, pi, c_int]),
    "mlcl_dataset_split": (INT, [P(H), P(H), H, c_float, c_uint64]),
    "mlcl_dataset_free": (None, [H]),
    "mlcl_dataset_dims": (INT, [H, pi, pi, pi]),
    "mlcl_dataset_image_shape": (INT, [H, pi, pi, pi]),
    "mlcl_dataset_features": (c_void_p, [H]),
    "mlcl_dataset_labels": (c_void_p, [H]),
    "mlcl_dataset_labels_packed": (c_void_p, [H]),
    "mlcl_dataset_feature_name": (INT, [H, c_int, P(c_char_p)]),
    "mlcl_dataset_label_name": (INT, [H, c_int, P(c_char_p)]),
    "mlcl_dataset_gather": (INT, [pf, pu8, pu64, H, pi, c_int]),
    "mlcl_dataset_standardize_stats": (INT, [pf, pf, H]),
    "mlcl_dataset_standardize_apply": (INT, [H, pf, pf]),
    "mlcl_batcher_create": (INT, [P(H), c_int, c_int, c_int, c_uint64]),
    "mlcl_batcher_free": (None, [H]),
    "mlcl_batcher_next": (INT, [H, P(pi), pi]),
    "mlcl_batcher_epoch": (INT, [H, pi]),
    "mlcl_batcher_batches_per_epoch": (INT, [H, pi]),
    "mlcl_batcher_get_state": (INT, [H, pu64]),
    "mlcl_batcher_set_state": (INT, [H, pu64]),
    "mlcl_augment_mask": (INT, [pf, pf, c_int, c_int, c_float, H]),
    "mlcl_npy_read": (INT, [P(pf), pi, P(c_int64), c_char_p, c_char_p, c_int]),
    "mlcl_npy_free": (None, [pf]),
    "mlcl_dataset_load_npy": (INT, [P(H), c_char_p, c_char_p, c_char_p, c_char_p, c_int]),
    # image.h
    "mlcl_simclr_options_init": (INT, [P(SimclrOptions), c_uint]),
    "mlcl_image_simclr": (INT, [pf, pf, c_int, c_int, c_int, c_int, P(SimclrOptions), H]),
    "mlcl_image_resize": (INT, [pf, c_int, c_int, pf, c_int, c_int, c_int, c_int]),
    # moco.h
    "mlcl_moco_options_init": (INT, [P(CMocoOptions), c_uint]),
    "mlcl_moco_create": (INT, [P(H), P(CMocoOptions)]),
    "mlcl_moco_free": (None, [H]),
    "mlcl_moco_step": (INT, [H, c_int, pf, pf, pu64, P(LossParts)]),
    "mlcl_moco_set_threads": (INT, [H, c_int]),
    "mlcl_moco_get_threads": (INT, [H, pi]),
    "mlcl_moco_set_param": (INT, [H, c_int, c_double]),
    "mlcl_moco_get_param": (INT, [H, c_int, pd]),
    "mlcl_moco_param_bounds": (INT, [c_int, pd, pd]),
    "mlcl_moco_encoder": (INT, [H, c_int, P(H)]),
    "mlcl_moco_queue": (INT, [H, P(H)]),
    "mlcl_moco_optim": (INT, [H, P(H)]),
    "mlcl_moco_steps": (INT, [H, P(c_longlong)]),
    "mlcl_moco_set_steps": (INT, [H, c_longlong]),
    "mlcl_moco_loss": (INT, [H, P(H)]),
    # comm.h (the mlcl_comm struct is defined in comm.py; passed by address)
    "mlcl_comm_init": (INT, [c_void_p, c_uint]),
    "mlcl_comm_validate": (INT, [c_void_p]),
    "mlcl_encoder_set_comm": (INT, [H, c_void_p]),
    "mlcl_moco_set_comm": (INT, [H, c_void_p]),
    "mlcl_trainer_set_comm": (INT, [H, c_void_p]),
    # train.h
    "mlcl_train_options_init": (INT, [P(CTrainOptions), c_uint]),
    "mlcl_train_options_preset": (INT, [P(CTrainOptions), c_char_p]),
    "mlcl_trainer_create": (INT, [P(H), P(CTrainOptions), H]),
    "mlcl_trainer_create_ex": (INT, [P(H), P(CTrainOptions), H, P(TrainerExOptions)]),
    "mlcl_trainer_ex_options_init": (INT, [P(TrainerExOptions), c_uint]),
    "mlcl_trainer_free": (None, [H]),
    "mlcl_trainer_set_callback": (INT, [H, PROGRESS_FN, c_void_p]),
    "mlcl_trainer_set_threads": (INT, [H, c_int]),
    "mlcl_trainer_get_threads": (INT, [H, pi]),
    "mlcl_trainer_run": (INT, [H]),
    "mlcl_trainer_run_epochs": (INT, [H, c_int, pi]),
    "mlcl_trainer_predict": (INT, [H, c_int, pf, pf]),
    "mlcl_trainer_predict_csr": (INT, [H, c_int, P(c_int64), pi, pf, pf]),
    "mlcl_trainer_distributions": (INT, [H, c_int, pf, pf]),
    "mlcl_trainer_evaluate": (INT, [H, H, P(Metrics), P(Metrics)]),
    "mlcl_trainer_timing": (INT, [H, pd, pd]),
    "mlcl_trainer_position": (INT, [H, pi, pi]),
    "mlcl_trainer_set_param": (INT, [H, c_int, c_double]),
    "mlcl_trainer_get_param": (INT, [H, c_int, P(c_double)]),
    "mlcl_train_param_bounds": (INT, [c_int, P(c_double), P(c_double)]),
    "mlcl_train_method_loss": (INT, [P(LossOptions), c_int]),
    "mlcl_trainer_save": (INT, [H, c_char_p]),
    "mlcl_trainer_load": (INT, [H, c_char_p]),
    "mlcl_trainer_moco": (INT, [H, P(H)]),
}

# model.h (Model, Trainer.export_model)


class ModelExportOptions(ctypes.Structure):
    _fields_ = [("version", c_uint), ("train", c_void_p), ("label_names", POINTER(c_char_p)),
                ("thresholds", pf), ("train_path", c_char_p), ("test_path", c_char_p),
                ("test_paper", POINTER(Metrics)), ("test_t05", POINTER(Metrics))]


MODEL_EXPORT_OPTIONS_VERSION = 1
#: mlcl_model_output
MODEL_OUTPUTS = {"scores": 0, "labels": 1, "embedding": 2, "distributions": 3}

_PROTOS.update({
    "mlcl_model_export_options_init": (INT, [P(ModelExportOptions), c_uint]),
    "mlcl_trainer_export_model_ex": (INT, [H, P(H), P(ModelExportOptions)]),
    "mlcl_model_free": (None, [H]),
    "mlcl_model_save": (INT, [H, c_char_p]),
    "mlcl_model_load": (INT, [P(H), c_char_p]),
    "mlcl_model_workspace_create": (INT, [P(H), H]),
    "mlcl_model_workspace_free": (None, [H]),
    "mlcl_model_infer": (INT, [H, H, c_int, c_int, pf, pf]),
    "mlcl_model_dims": (INT, [H, pi, pi, pi]),
    "mlcl_model_image_shape": (INT, [H, pi, pi, pi, pi, pi]),
    "mlcl_model_standardization": (INT, [H, pi, pf, pf, c_int]),
    "mlcl_model_architecture": (INT, [H, P(c_char_p)]),
    "mlcl_model_label_name": (INT, [H, c_int, P(c_char_p)]),
    "mlcl_model_set_label_names": (INT, [H, c_int, P(c_char_p)]),
    "mlcl_model_thresholds": (INT, [H, c_int, pf]),
    "mlcl_model_set_thresholds": (INT, [H, c_int, pf]),
    "mlcl_model_provenance_count": (INT, [H, pi]),
    "mlcl_model_provenance": (INT, [H, c_int, P(c_char_p), P(c_char_p)]),
    "mlcl_model_provenance_get": (INT, [H, c_char_p, P(c_char_p)]),
    "mlcl_model_set_provenance": (INT, [H, c_char_p, c_char_p]),
})



class ModelImportOptions(ctypes.Structure):
    """mlcl_model_import_options (Model.import_safetensors)."""
    _fields_ = [("version", c_uint), ("backbone_prefix", c_char_p), ("head_prefix", c_char_p),
                ("backbone_only", c_int), ("allow_unused", c_int)]


MODEL_IMPORT_OPTIONS_VERSION = 1

_PROTOS.update({
    "mlcl_model_create": (INT, [P(H), H, c_int, ctypes.c_uint64]),
    "mlcl_model_import_options_init": (INT, [P(ModelImportOptions), c_uint]),
    "mlcl_model_import_safetensors": (INT, [H, c_char_p, P(ModelImportOptions)]),
})

#: the model exporters for other runtimes, by file extension (Model.export):
#: looked up at call time, as older builds of the library do not have them
MODEL_EXPORTERS = {".safetensors": "mlcl_model_export_safetensors",
                   ".onnx": "mlcl_model_export_onnx",
                   ".npz": "mlcl_model_export_npz"}


def optional_function(name, argtypes):
    """A status-returning C function that may be absent from the loaded
    library: the declared ctypes function, or None when it is not exported."""
    f = getattr(lib, name, None)
    if f is None:
        return None
    f.argtypes = argtypes
    f.restype = c_int
    f.errcheck = _errcheck
    return f


lib.mlcl_status_str.argtypes = [c_int]
lib.mlcl_status_str.restype = c_char_p
lib.mlcl_last_error.argtypes = []
lib.mlcl_last_error.restype = c_char_p

# ------------------------------------------- validation and thresholds (train.h, metrics.h)


class ValidationOptions(ctypes.Structure):
    """mlcl_validation_options (Trainer.set_validation)."""
    _fields_ = [("version", c_uint), ("select_metric", c_int), ("patience", c_int),
                ("thresholds", c_int)]


VALIDATION_OPTIONS_VERSION = 1
SELECT_NONE = -1
#: mlcl_validation_options.thresholds
THRESHOLD_MODES = {"none": 0, "per-label": 1, "global": 2}

_PROTOS.update({
    "mlcl_validation_options_init": (INT, [P(ValidationOptions), c_uint]),
    "mlcl_trainer_set_validation": (INT, [H, H, P(ValidationOptions)]),
    "mlcl_trainer_selection": (INT, [H, pi, pd, pd, pi]),
    "mlcl_trainer_thresholds": (INT, [H, c_int, pf, pf]),
    "mlcl_trainer_evaluate_thresholds": (INT, [H, H, P(Metrics), P(Metrics)]),
    "mlcl_metrics_compute_thresholds": (INT, [P(Metrics), c_int, c_int, pf, pu8, pf]),
    "mlcl_metrics_choose_thresholds": (INT, [pf, pf, pd, c_int, c_int, pf, pu8]),
})

# ------------------------------------------------------------------ readers.h


class CsvOptions(ctypes.Structure):
    """mlcl_csv_options (Dataset.load_csv)."""
    _fields_ = [("version", c_uint), ("n_labels", c_int), ("labels_first", c_int),
                ("impute", c_int), ("delimiter", c_int), ("no_header", c_int),
                ("label_columns", c_char_p), ("label_prefix", c_char_p)]


CSV_OPTIONS_VERSION = 1
#: mlcl_impute
IMPUTE = {"none": 0, "mean": 1, "zero": 2}


class ManifestOptions(ctypes.Structure):
    """mlcl_manifest_options (Dataset.load_images)."""
    _fields_ = [("version", c_uint), ("height", c_int), ("width", c_int), ("channels", c_int),
                ("image_root", c_char_p), ("skip_bad_images", c_int), ("voc_difficult", c_int),
                ("label_names", POINTER(c_char_p)), ("n_label_names", c_int), ("threads", c_int)]


MANIFEST_OPTIONS_VERSION = 1
#: mlcl_data_format
DATA_FORMATS = {0: "unknown", 1: "arff", 2: "csv", 3: "npy", 4: "image-csv", 5: "coco",
                6: "voc", 7: "csv-noheader"}

_PROTOS.update({
    "mlcl_csv_options_init": (INT, [P(CsvOptions), c_uint]),
    "mlcl_dataset_load_csv": (INT, [P(H), c_char_p, P(CsvOptions)]),
    "mlcl_image_read": (INT, [P(pf), pi, pi, pi, c_char_p, c_int]),
    "mlcl_image_free": (None, [pf]),
    "mlcl_image_resize_crop": (INT, [pf, c_int, c_int, pf, c_int, c_int, c_int]),
    "mlcl_manifest_options_init": (INT, [P(ManifestOptions), c_uint]),
    "mlcl_dataset_load_image_csv": (INT, [P(H), pi, c_char_p, P(ManifestOptions)]),
    "mlcl_dataset_load_coco": (INT, [P(H), pi, c_char_p, P(ManifestOptions)]),
    "mlcl_dataset_load_voc": (INT, [P(H), pi, c_char_p, c_char_p, P(ManifestOptions)]),
    "mlcl_data_guess_format": (INT, [pi, c_char_p]),
})



class LoaderOptions(ctypes.Structure):
    """mlcl_loader_options (mlcl.Loader)."""
    _fields_ = [("version", c_uint), ("batch", c_int), ("height", c_int), ("width", c_int),
                ("resize", c_int), ("channels", c_int), ("threads", c_int), ("prefetch", c_int),
                ("seed", c_uint64), ("shuffle", c_int), ("drop_last", c_int), ("views", c_int),
                ("simclr", SimclrOptions), ("normalize", c_int), ("mean", c_float * 3),
                ("std", c_float * 3), ("skip_bad_images", c_int)]


LOADER_OPTIONS_VERSION = 1
#: mlcl_loader_options.normalize
NORMALIZE = {"none": 0, "imagenet": 1, "custom": 2}


class LoaderBatch(ctypes.Structure):
    """mlcl_loader_batch (borrowed views into the loader's ring)."""
    _fields_ = [("version", c_uint), ("n", c_int), ("epoch", c_int), ("index", c_longlong), ("d", c_int),
                ("x", pf), ("x2", pf), ("y", pu8), ("rows", pi), ("skipped", c_int)]


class LoaderStats(ctypes.Structure):
    """mlcl_loader_stats."""
    _fields_ = [("version", c_uint), ("images", c_longlong), ("skipped", c_longlong), ("busy_seconds", c_double),
                ("wait_seconds", c_double), ("batches", c_longlong), ("threads", c_int),
                ("ring_bytes", c_size_t)]


_PROTOS.update({
    # loader.h
    "mlcl_image_list_create": (INT, [P(H), c_int, P(c_char_p), pu8, c_int]),
    "mlcl_image_list_load_csv": (INT, [P(H), c_char_p, P(ManifestOptions)]),
    "mlcl_image_list_load_coco": (INT, [P(H), c_char_p, P(ManifestOptions)]),
    "mlcl_image_list_load_voc": (INT, [P(H), c_char_p, c_char_p, P(ManifestOptions)]),
    "mlcl_image_list_free": (None, [H]),
    "mlcl_image_list_size": (INT, [H, pi, pi]),
    "mlcl_loader_options_init": (INT, [P(LoaderOptions), c_uint]),
    "mlcl_loader_batch_init": (INT, [P(LoaderBatch), c_uint]),
    "mlcl_loader_stats_init": (INT, [P(LoaderStats), c_uint]),
    "mlcl_loader_create": (INT, [P(H), H, P(LoaderOptions)]),
    "mlcl_loader_free": (None, [H]),
    "mlcl_loader_next": (INT, [H, P(LoaderBatch)]),
    "mlcl_loader_position": (INT, [H, pi, P(c_longlong)]),
    "mlcl_loader_seek": (INT, [H, c_int, c_longlong]),
    "mlcl_loader_batches_per_epoch": (INT, [H, P(c_longlong)]),
    "mlcl_loader_stats_get": (INT, [H, P(LoaderStats)]),
    "mlcl_loader_normalization": (INT, [H, pf, pf]),
    "mlcl_trainer_create_stream": (INT, [P(H), P(CTrainOptions), H, H, H]),
})

#: names declared here but missing from the loaded library (an older or
#: partial build); calling them raises AttributeError naming the function.
missing = []


class _Missing:
    def __init__(self, name):
        self.__name__ = name

    def __call__(self, *a, **k):
        raise AttributeError("mlcl: %s is not exported by %s" % (self.__name__, path))


class _Funcs:
    """Namespace of the declared C functions: ``C.mlcl_queue_create(...)``."""


C = _Funcs()
for _name, (_res, _args) in _PROTOS.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        missing.append(_name)
        setattr(C, _name, _Missing(_name))
        continue
    _f.argtypes = _args
    if _res == INT:
        _f.restype = c_int
        _f.errcheck = _errcheck
    else:
        _f.restype = _res
    setattr(C, _name, _f)

