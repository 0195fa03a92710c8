"""SimCLR image augmentations and the bilinear resize (image.h).

Images are float32 arrays in NCHW order (or CHW for one image), values
nominally in [0, 1]. See docs/images.md for the exact operations.
"""

import ctypes

import numpy as np

from ._lib import C, SimclrOptions, SIMCLR_OPTIONS_VERSION
from ._util import as_input, copy_from, make_options, ptr, to_int, to_path

__all__ = ["simclr_options", "simclr", "resize", "read", "resize_crop"]


def simclr_options(**kw):
    """mlcl_simclr_options: the C defaults (SimCLR ImageNet), then kwargs
    (out_h, out_w, crop_p, scale_min, scale_max, ratio_min, ratio_max, flip_p,
    jitter_p, brightness, contrast, saturation, hue, gray_p, blur_p,
    blur_sigma_min, blur_sigma_max, blur_kernel)."""
    return make_options(SimclrOptions, "mlcl_simclr_options_init", SIMCLR_OPTIONS_VERSION, kw,
                        None, "SimCLR options")


def _nchw(x):
    a = as_input("x", x, np.float32)
    if a.ndim == 3:
        return a[None], True
    if a.ndim != 4:
        raise ValueError("x must be (n, c, h, w) or (c, h, w) (got shape %s)" % (a.shape,))
    return a, False


def simclr(rng, x, options=None, **kw):
    """One SimCLR view of each image of ``x`` ((n, c, h, w) or (c, h, w),
    converted to float32), drawn from ``rng`` (an mlcl.Rng, advanced by 2 n
    words). ``options`` is a simclr_options() struct, or give its fields as
    keyword arguments. Returns a new float32 array (n, c, out_h, out_w)."""
    if options is not None and kw:
        raise TypeError("give either options or keyword arguments, not both")
    o = options if options is not None else simclr_options(**kw)
    a, single = _nchw(x)
    n, c, h, w = a.shape
    n, c, h, w = (to_int(nm, v) for nm, v in zip(("n", "channels", "height", "width"), a.shape))
    oh, ow = (o.out_h or h), (o.out_w or w)
    out = np.empty((n, c, oh, ow), np.float32)
    with rng._use("image.simclr") as rh:
        C.mlcl_image_simclr(ptr(out, np.float32), ptr(a, np.float32), n, c, h, w,
                            ctypes.byref(o), rh)
    return out[0] if single else out


def resize(x, out_h, out_w):
    """Bilinear resize (align_corners=False, no antialias) of (n, c, h, w) or
    (c, h, w) float32 images to out_h x out_w."""
    a, single = _nchw(x)
    n, c, h, w = (to_int(nm, v) for nm, v in zip(("n", "channels", "height", "width"), a.shape))
    out_h, out_w = to_int("out_h", out_h), to_int("out_w", out_w)
    out = np.empty((n, c, out_h, out_w), np.float32)
    C.mlcl_image_resize(ptr(out, np.float32), out_h, out_w, ptr(a, np.float32), n, c, h, w)
    return out[0] if single else out


def read(path, channels=0):
    """Decodes a JPEG or PNG file -> float32 array (channels, height, width),
    values in [0, 1] (8-bit / 255, 16-bit / 65535), a copy owned by Python.
    ``channels``: 0 = the file's own (1 gray, 3 RGB, 4 RGBA), 1 = luma, 3 =
    RGB, 4 = RGBA. A JPEG's EXIF orientation is applied. mlcl.FormatError
    (corrupt, not a JPEG/PNG) or mlcl.IOFailure, naming the file."""
    ch = to_int("channels", channels)
    if ch not in (0, 1, 3, 4):
        raise ValueError("channels must be 0, 1, 3 or 4 (got %d)" % ch)
    data = ctypes.POINTER(ctypes.c_float)()
    c, h, w = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    C.mlcl_image_read(ctypes.byref(data), ctypes.byref(c), ctypes.byref(h), ctypes.byref(w),
                      to_path("path", path), ch)
    try:
        return copy_from(ctypes.cast(data, ctypes.c_void_p).value, np.float32,
                         (c.value, h.value, w.value))
    finally:
        C.mlcl_image_free(data)


def resize_crop(x, out_h, out_w=None):
    """Resizes one (c, h, w) image (or each of (n, c, h, w)) to cover
    out_h x out_w with its aspect kept, then crops the centre (torchvision
    Resize + CenterCrop; PIL's antialiased bilinear). out_w None = out_h."""
    a, single = _nchw(x)
    n, c, h, w = (to_int(nm, v) for nm, v in zip(("n", "channels", "height", "width"), a.shape))
    out_h = to_int("out_h", out_h, lo=1)
    out_w = out_h if out_w is None else to_int("out_w", out_w, lo=1)
    out = np.empty((n, c, out_h, out_w), np.float32)
    for i in range(n):
        C.mlcl_image_resize_crop(ptr(out[i], np.float32), out_h, out_w, ptr(a[i], np.float32),
                                 c, h, w)
    return out[0] if single else out
