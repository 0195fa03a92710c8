"""mlcl: Python bindings (ctypes) for libmlcl, multi-label supervised
contrastive learning with label distributions.

A pure-Python package over the C library libmlcl.so.1 (see _lib for where it
is looked for). Every C status < 0 raises an MlclError subclass carrying the
library's message (``.status``, ``.status_name``, ``.message``).

Copies and views: accessors named like attributes (``Dataset.features``,
``Encoder.params``, ``Queue.features``) return numpy COPIES; methods named
``*_view()`` return numpy views of C memory that keep their owner alive
(close() then frees the C object when the last view is gone).

Handles (Dataset, Encoder, MoCo, Trainer, Queue, Loss, Optimizer, Rng,
Batcher, ImageList, Loader): one call at a time per handle (a call from another thread while one
runs raises BusyError, as does close() during a call or a re-entrant run()
from a progress callback); every method of a closed handle raises
ClosedError. Strings with NUL bytes, integers out of the C range, labels other
than 0/1 and out-of-range row indices are refused (ValueError/TypeError)
instead of being truncated or wrapped.

Array inputs: hot paths (Loss.compute, Encoder.forward/backward, MoCo.step,
Queue.enqueue) require C-contiguous float32 numpy arrays and raise TypeError
otherwise (pass ``strict=False`` to have them converted); every other function
converts its inputs with np.ascontiguousarray(x, dtype=...).
"""

from . import _lib
from ._lib import (MlclError, InvalidArgument, OutOfMemory, IOFailure, FormatError,
                   VersionError, StateError, NumericError, BackendError, OverflowFailure,
                   Unsupported, ChecksumError, Interrupted, HandleBusy, STATUS_NAMES)
from ._util import BusyError, ClosedError
from .core import (Rng, check_output_path, clear_error, get_num_threads, last_error,
                   set_num_threads, status_str, version, version_number)
from .queue import Queue, label_words, pack_labels, unpack_labels
from .mask import build_mask, labelwise, labelwise_counts
from .loss import Loss, LossResult, loss_options
from .metrics import (average_precision, choose_thresholds, compute_metrics,
                      compute_with_thresholds, sweep_metrics, METRIC_NAMES)
from .nn import (Encoder, bce_with_logits, encoder_options, l2norm, l2norm_backward, mlp_spec,
                 resnet_spec, sigmoid, softmax, softmax_backward)
from .optim import Optimizer, Schedule, optim_options, sched_options, schedule_lr
from .data import Batcher, Dataset, augment_mask, guess_format, idx_load, npy_load, LIBSVM_INDEX_AUTO
from . import image
from .moco import MoCo, moco_options
from .trainer import METHODS, ProgressInfo, Trainer, train_options
from .model import Model
from .loader import ImageList, Loader, LoaderBatch, loader_options

#: the loaded library's version string "MAJOR.MINOR.PATCH"
__version__ = _lib.version_string
#: path of the loaded shared library
library_path = _lib.path

__all__ = [
    "__version__", "library_path", "MlclError", "InvalidArgument", "OutOfMemory", "IOFailure",
    "FormatError", "VersionError", "StateError", "NumericError", "BackendError",
    "OverflowFailure", "Unsupported", "ChecksumError", "Interrupted", "HandleBusy", "STATUS_NAMES",
    "Rng", "check_output_path", "clear_error", "get_num_threads", "last_error", "set_num_threads",
    "status_str", "version",
    "version_number", "Queue", "label_words", "pack_labels", "unpack_labels", "build_mask",
    "labelwise", "labelwise_counts", "Loss", "LossResult", "loss_options", "average_precision",
    "compute_metrics", "sweep_metrics", "choose_thresholds", "compute_with_thresholds", "METRIC_NAMES", "Encoder", "bce_with_logits",
    "encoder_options", "l2norm", "l2norm_backward", "mlp_spec", "resnet_spec", "sigmoid", "softmax",
    "softmax_backward", "Optimizer", "Schedule", "optim_options", "sched_options", "schedule_lr",
    "Batcher", "Dataset", "augment_mask", "guess_format", "idx_load", "npy_load", "image", "LIBSVM_INDEX_AUTO", "MoCo",
    "moco_options", "METHODS", "ProgressInfo", "Trainer", "train_options",
]
__all__ += ["Model", "MulSupConClassifier", "ImageList", "Loader", "LoaderBatch", "loader_options"]


def __getattr__(name):
    # the estimator imports scikit-learn (when installed): only on first use
    if name == "MulSupConClassifier":
        from .estimator import MulSupConClassifier
        return MulSupConClassifier
    raise AttributeError("module 'mlcl' has no attribute %r" % name)
