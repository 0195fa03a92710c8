"""The streaming image loader (loader.h): image lists (paths and labels only)
and a multi-threaded loader that decodes, resizes, optionally augments and
normalises the images into prefetched batches.

Batches are COPIES: a C batch points into the loader's ring and is valid only
until the next ``next()``/``seek()``/``close()`` of the loader, so every array
of a ``LoaderBatch`` is copied into memory owned by numpy before
``Loader.next()`` returns. A batch therefore stays valid after the loader
moved on or was closed.
"""

import ctypes

import numpy as np

from ._lib import (C, LoaderBatch as _CBatch, LoaderOptions, LoaderStats, LOADER_OPTIONS_VERSION,
                   ManifestOptions, MANIFEST_OPTIONS_VERSION, NORMALIZE, SimclrOptions)
from ._util import (BusyError, Handle, apply_kwargs, copy_from, labels01, locked, to_cstr,
                    to_int, to_path)

__all__ = ["ImageList", "Loader", "LoaderBatch", "loader_options"]


def _manifest_options(image_root, label_names, voc_difficult="negative"):
    """(ManifestOptions, objects C points into while the call runs)."""
    o = ManifestOptions()
    C.mlcl_manifest_options_init(ctypes.byref(o), MANIFEST_OPTIONS_VERSION)
    keep = []
    if image_root is not None:
        b = to_path("image_root", image_root)
        keep.append(b)
        o.image_root = b
    if voc_difficult not in ("negative", "positive"):
        raise ValueError("voc_difficult: %r is not 'negative' or 'positive'" % (voc_difficult,))
    o.voc_difficult = 1 if voc_difficult == "positive" else 0
    if label_names is not None:
        if isinstance(label_names, (str, bytes)):
            raise TypeError("label_names must be a sequence of strings")
        names = [to_cstr("label_names[%d]" % i, v) for i, v in enumerate(label_names)]
        arr = (ctypes.c_char_p * max(len(names), 1))(*names)
        keep.append(arr)
        o.label_names = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
        o.n_label_names = len(names)
    return o, keep


class ImageList(Handle):
    """The paths and labels of a set of image files (no pixels).

    Create it with ``ImageList.from_arrays(paths, labels)``, ``load_csv``,
    ``load_coco`` or ``load_voc``. Loaders borrow it: close() is refused
    (BusyError) while a Loader over it is open.
    """

    _free = "mlcl_image_list_free"

    def __init__(self, *, _handle):
        super().__init__(_handle)
        self._pins = 0  # open loaders over this list

    def _close_check(self):
        if getattr(self, "_pins", 0) > 0:
            raise BusyError("ImageList is used by %d open Loader(s); close them first"
                            % self._pins)

    @classmethod
    def from_arrays(cls, paths, labels):
        """``paths``: n file names; ``labels``: (n, n_labels) 0/1 (bools or numbers)."""
        if isinstance(paths, (str, bytes)):
            raise TypeError("paths must be a sequence of paths, not one string")
        pb = [to_path("paths[%d]" % i, p) for i, p in enumerate(paths)]
        n = len(pb)
        if n == 0:
            raise ValueError("paths is empty")
        y = labels01("labels", labels, shape=(n, None))
        if y.shape[1] == 0:
            raise ValueError("labels has no columns")
        arr = (ctypes.c_char_p * n)(*pb)
        h = ctypes.c_void_p()
        C.mlcl_image_list_create(ctypes.byref(h), to_int("len(paths)", n), arr,
                                 y.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                                 to_int("n_labels", y.shape[1]))
        return cls(_handle=h.value)

    @classmethod
    def load_csv(cls, path, image_root=None, label_names=None):
        """A CSV/TSV image manifest (the format of Dataset.load_images); nothing is decoded."""
        o, keep = _manifest_options(image_root, label_names)
        h = ctypes.c_void_p()
        C.mlcl_image_list_load_csv(ctypes.byref(h), to_path("path", path), ctypes.byref(o))
        del keep
        return cls(_handle=h.value)

    @classmethod
    def load_coco(cls, path, image_root=None, label_names=None):
        """A COCO instances JSON (images looked for as Dataset.load_images does)."""
        o, keep = _manifest_options(image_root, label_names)
        h = ctypes.c_void_p()
        C.mlcl_image_list_load_coco(ctypes.byref(h), to_path("path", path), ctypes.byref(o))
        del keep
        return cls(_handle=h.value)

    @classmethod
    def load_voc(cls, root, split="trainval", image_root=None, label_names=None,
                 voc_difficult="negative"):
        """A PASCAL VOC tree (ImageSets/Main/<split>.txt, Annotations/, JPEGImages/)."""
        o, keep = _manifest_options(image_root, label_names, voc_difficult)
        h = ctypes.c_void_p()
        C.mlcl_image_list_load_voc(ctypes.byref(h), to_path("root", root),
                                   to_cstr("split", split), ctypes.byref(o))
        del keep
        return cls(_handle=h.value)

    @locked("size")
    def size(self):
        """(images, labels)."""
        n, c = ctypes.c_int(), ctypes.c_int()
        C.mlcl_image_list_size(self._ptr, ctypes.byref(n), ctypes.byref(c))
        return n.value, c.value

    def __len__(self):
        return self.size()[0]

    @property
    def n_labels(self):
        return self.size()[1]

    def __repr__(self):
        if self.closed:
            return "<mlcl.ImageList closed>"
        n, c = self.size()
        return "<mlcl.ImageList %d images, %d labels>" % (n, c)


def loader_options(batch=64, size=224, resize=0, channels=3, threads=0, prefetch=4, seed=0,
                   shuffle=True, drop_last=False, views=0, simclr=None, normalize="imagenet",
                   mean=None, std=None, skip_bad_images=False):
    """mlcl_loader_options from the C defaults (mlcl_loader_options_init) and
    the arguments: ``size`` an int or (height, width); ``normalize``
    'imagenet', 'none' or 'custom' (then ``mean``/``std`` per channel; giving
    mean/std alone implies 'custom'); ``simclr`` a dict of SimCLR fields or an
    mlcl.image.simclr_options(...) struct (the views' augmentation). The C
    library checks the values when the loader is created."""
    o = LoaderOptions()
    C.mlcl_loader_options_init(ctypes.byref(o), LOADER_OPTIONS_VERSION)
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError("size must be an int or (height, width) (got %r)" % (size,))
        h, w = size
    else:
        h = w = size
    kw = dict(batch=batch, height=h, width=w, resize=resize, channels=channels, threads=threads,
              prefetch=prefetch, seed=seed, shuffle=int(bool(shuffle)),
              drop_last=int(bool(drop_last)), views=views,
              skip_bad_images=int(bool(skip_bad_images)))
    if (mean is not None or std is not None) and normalize == "imagenet":
        normalize = "custom"
    kw["normalize"] = normalize
    apply_kwargs(o, kw, {"normalize": NORMALIZE}, "loader options")
    for name, v in (("mean", mean), ("std", std)):
        if v is None:
            continue
        vals = [float(t) for t in np.atleast_1d(np.asarray(v, dtype=np.float64))]
        if len(vals) not in (1, 3) or len(vals) < o.channels and len(vals) != 1:
            raise ValueError("%s must have 1 or %d values (got %d)" % (name, o.channels, len(vals)))
        if len(vals) == 1:
            vals = vals * 3
        arr = getattr(o, name)
        for i in range(3):
            arr[i] = vals[i]
    if simclr is not None:
        if isinstance(simclr, dict):
            apply_kwargs(o.simclr, simclr, {}, "loader options.simclr")
        elif isinstance(simclr, SimclrOptions):
            o.simclr = simclr
        else:
            raise TypeError("simclr must be a dict or mlcl.image.simclr_options(...)")
    return o


class LoaderBatch:
    """One batch, copied out of the loader's ring: ``x`` (n, C, H, W) float32
    (the image, or its first view), ``x2`` the second view (views = 2) or
    None, ``y`` (n, n_labels) uint8, ``rows`` (n,) int32 indices into the
    list, ``epoch``, ``index`` (within the epoch), ``skipped`` (images left
    out with skip_bad_images)."""

    __slots__ = ("x", "x2", "y", "rows", "epoch", "index", "skipped")

    def __init__(self, x, x2, y, rows, epoch, index, skipped):
        self.x, self.x2, self.y, self.rows = x, x2, y, rows
        self.epoch, self.index, self.skipped = epoch, index, skipped

    def __len__(self):
        return self.x.shape[0]

    def __repr__(self):
        return "<mlcl.LoaderBatch epoch %d batch %d: %d images %s>" % (
            self.epoch, self.index, len(self), "x".join(str(s) for s in self.x.shape[1:]))


class Loader(Handle):
    """``Loader(images, batch=64, size=224, resize=0, channels=3, threads=0,
    prefetch=4, seed=0, shuffle=True, drop_last=False, views=0, simclr=None,
    normalize='imagenet', mean=None, std=None, skip_bad_images=False)`` or
    ``Loader(images, options=loader_options(...))``.

    A streaming loader over ``images`` (an ImageList, kept alive and pinned:
    the list refuses close() while the loader is open). Background threads
    fill a ring of ``prefetch`` batches. ``next()`` returns the next
    LoaderBatch (after an epoch's last batch comes batch 0 of the next epoch);
    iterating (``for b in loader``) yields the batches from the current
    position to the end of its epoch. The batches depend only on the list,
    the options and the position, never on ``threads``; ``seek(epoch,
    batch)`` restarts there. A file that cannot be read raises
    mlcl.FormatError / mlcl.IOFailure naming it (the loader stays at that
    batch until seek()), unless skip_bad_images.

    A Trainer created with Trainer.from_loaders() borrows its loaders: while
    it is open the loader refuses every call and close() (BusyError).
    """

    _free = "mlcl_loader_free"

    def __init__(self, images, options=None, **kw):
        if not isinstance(images, ImageList):
            raise TypeError("images must be an mlcl.ImageList")
        if options is None:
            options = loader_options(**kw)
        elif kw:
            raise TypeError("pass either options= or keyword options, not both")
        elif not isinstance(options, LoaderOptions):
            raise TypeError("options must be mlcl.loader_options(...)")
        o = LoaderOptions()
        ctypes.memmove(ctypes.byref(o), ctypes.byref(options), ctypes.sizeof(o))
        h = ctypes.c_void_p()
        with images._use("Loader(images)") as lh:
            C.mlcl_loader_create(ctypes.byref(h), lh, ctypes.byref(o))
            n, c = ctypes.c_int(), ctypes.c_int()
            C.mlcl_image_list_size(lh, ctypes.byref(n), ctypes.byref(c))
            images._pins += 1
        super().__init__(h.value)
        self._images = images
        self._o = o
        self._n_labels = c.value
        self._pins = 0  # trainers borrowing this loader

    def _freed(self):
        images, self._images = getattr(self, "_images", None), None
        if images is not None:
            images._pins -= 1

    def _close_check(self):
        if getattr(self, "_pins", 0) > 0:
            raise BusyError("Loader is borrowed by %d open Trainer(s); close them first"
                            % self._pins)

    def _free_check(self, op):
        if self._pins > 0:
            raise BusyError("Loader.%s(): the loader is borrowed by an open Trainer "
                            "(Trainer.from_loaders); close the trainer first" % op)

    # ---- properties of the options
    @property
    def images(self):
        """The ImageList the loader reads."""
        return self._images

    @property
    def batch_size(self):
        return self._o.batch

    @property
    def shape(self):
        """(channels, height, width) of an output image."""
        return self._o.channels, self._o.height, self._o.width

    @property
    def views(self):
        return self._o.views

    @property
    def n_labels(self):
        return self._n_labels

    # ---- batches
    @locked("next")
    def next(self):
        """The next batch (a LoaderBatch of copies), waiting for it if needed."""
        self._free_check("next")
        b = _CBatch()
        C.mlcl_loader_batch_init(ctypes.byref(b), 1)  # MLCL_LOADER_BATCH_VERSION
        C.mlcl_loader_next(self._ptr, ctypes.byref(b))
        # copy everything out of the ring now: the C batch is only valid until
        # the next call on the loader
        c, h, w = self.shape
        n = b.n
        if n * c * h * w and b.d != c * h * w:
            raise RuntimeError("mlcl: loader batch has %d floats per image, expected %d"
                               % (b.d, c * h * w))
        addr = ctypes.cast(b.x, ctypes.c_void_p).value
        x = copy_from(addr, np.float32, (n, c, h, w))
        x2 = None
        if b.x2:
            x2 = copy_from(ctypes.cast(b.x2, ctypes.c_void_p).value, np.float32, (n, c, h, w))
        y = copy_from(ctypes.cast(b.y, ctypes.c_void_p).value, np.uint8, (n, self._n_labels))
        rows = copy_from(ctypes.cast(b.rows, ctypes.c_void_p).value, np.int32, (n,))
        return LoaderBatch(x, x2, y, rows, b.epoch, b.index, b.skipped)

    __next__ = next

    def __iter__(self):
        """The batches from the current position to the end of its epoch."""
        epoch, batch = self.position()
        total = self.batches_per_epoch()
        for _ in range(batch, total):
            yield self.next()

    @locked("position")
    def position(self):
        """(epoch, batch) of the batch next() returns next."""
        self._free_check("position")
        e, b = ctypes.c_int(), ctypes.c_longlong()
        C.mlcl_loader_position(self._ptr, ctypes.byref(e), ctypes.byref(b))
        return e.value, b.value

    @locked("seek")
    def seek(self, epoch, batch=0):
        """Restarts the loader at (epoch, batch): the batches are then those an
        uninterrupted loader returns from there."""
        self._free_check("seek")
        C.mlcl_loader_seek(self._ptr, to_int("epoch", epoch, lo=0),
                           to_int("batch", batch, lo=0, ctype=ctypes.c_longlong))

    @locked("batches_per_epoch")
    def batches_per_epoch(self):
        self._free_check("batches_per_epoch")
        nb = ctypes.c_longlong()
        C.mlcl_loader_batches_per_epoch(self._ptr, ctypes.byref(nb))
        return nb.value

    def __len__(self):
        return self.batches_per_epoch()

    @locked("stats")
    def stats(self):
        """The counters since creation: dict(images, skipped, busy_seconds,
        wait_seconds, batches, threads, ring_bytes)."""
        self._free_check("stats")
        s = LoaderStats()
        C.mlcl_loader_stats_init(ctypes.byref(s), 1)  # MLCL_LOADER_STATS_VERSION
        C.mlcl_loader_stats_get(self._ptr, ctypes.byref(s))
        return {f[0]: getattr(s, f[0]) for f in LoaderStats._fields_}

    @locked("normalization")
    def normalization(self):
        """(mean, std): float32 arrays of one value per channel, the
        normalisation (x - mean) / std the loader applies (0 and 1 with
        normalize='none')."""
        self._free_check("normalization")
        c = self._o.channels
        mean = np.zeros(max(c, 3), np.float32)
        std = np.zeros(max(c, 3), np.float32)
        C.mlcl_loader_normalization(self._ptr, mean.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                    std.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        return mean[:c].copy(), std[:c].copy()

    def __repr__(self):
        if self.closed:
            return "<mlcl.Loader closed>"
        return "<mlcl.Loader batch %d, %dx%dx%d, views %d>" % ((self._o.batch,) + self.shape
                                                                + (self._o.views,))
