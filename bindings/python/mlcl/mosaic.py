"""The Fashion-MNIST multi-label mosaic set: a pure-Python helper on the
public API (the generator is not part of libmlcl; the C programs compile
examples/mosaic.c). Bit-identical to examples/mosaic.c for the same
arguments: the same items drawn from the library's generator on the stream
"mosaic", the same pixels (uint8 / 255 in float32)."""
import os

import numpy as np

from .core import Rng
from .data import Dataset, idx_load

__all__ = ["fashion_mosaic", "FASHION_DIR", "FASHION_CLASSES"]

FASHION_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_STREAM = 0x6d6f73616963  # "mosaic"
_M64 = (1 << 64) - 1


def _stream_rng(seed, stream):
    """PCG-XSH-RR seeded as the library seeds a stream (state 0, increment
    2 stream + 1, one step, add the seed, one step), via set_state."""
    r = Rng(0)
    r.set_state((0, ((stream << 1) | 1) & _M64))
    r.u32(1)
    st, inc = r.get_state()
    r.set_state(((st + seed) & _M64, inc))
    r.u32(1)
    return r


def _bounded_draws(rng, bound, count):
    """count draws uniform in [0, bound) with the threshold rejection rule."""
    threshold = ((1 << 32) - bound) % bound if bound > 1 else 0
    out = np.empty(count, np.int64)
    k = 0
    while k < count:
        block = rng.u32(count - k + 16).astype(np.int64)
        for v in block[block >= threshold]:
            if k == count:
                break  # the surplus of the block is never used: the stream ends here
            out[k] = v % bound if bound > 1 else 0
            k += 1
    return out


def fashion_mosaic(n_samples, seed=0, train=True, grid=2, dir=None):
    """Fashion-MNIST grid x grid mosaics: labels = the classes present
    (c = 10, named), image shape (1, 28 grid, 28 grid), pixels / 255.
    ``dir`` None = /usr/share/datasets/fashion-mnist."""
    n_samples = int(n_samples)
    if n_samples <= 0:
        raise ValueError("n_samples must be > 0 (got %d)" % n_samples)
    grid = int(grid)
    if not 1 <= grid <= 8:
        raise ValueError("grid must be in 1..8 (got %d)" % grid)
    seed = int(seed)
    if not 0 <= seed <= _M64:
        raise ValueError("seed must be in 0..2^64-1 (got %d)" % seed)
    d = FASHION_DIR if dir is None else os.fspath(dir)
    pre = "train" if train else "t10k"
    ipath = os.path.join(d, "%s-images-idx3-ubyte.gz" % pre)
    lpath = os.path.join(d, "%s-labels-idx1-ubyte.gz" % pre)
    img = idx_load(ipath)
    lab = idx_load(lpath)
    if img.ndim != 3 or 0 in img.shape:
        raise ValueError("%s: expected a non-empty n x rows x cols IDX file" % ipath)
    if lab.shape != (img.shape[0],):
        raise ValueError("%s: expected %d labels to match %s" % (lpath, img.shape[0], ipath))
    if lab.size and lab.max() >= 10:
        raise ValueError("%s: a label is >= 10 classes" % lpath)
    n, h, w = img.shape
    items = _bounded_draws(_stream_rng(seed, _STREAM), n, n_samples * grid * grid)
    items = items.reshape(n_samples, grid, grid)
    # (n, grid, grid, h, w) -> (n, grid, h, grid, w): row r of cell (a, b) at (a h + r, b w)
    x = img[items].transpose(0, 1, 3, 2, 4).reshape(n_samples, grid * h * grid * w)
    x = x.astype(np.float32) / np.float32(255)
    y = np.zeros((n_samples, 10), np.uint8)
    np.put_along_axis(y, lab[items.reshape(n_samples, -1)].astype(np.int64), 1, axis=1)
    ds = Dataset.from_arrays(x, y)
    ds.set_image_shape(1, grid * h, grid * w)
    ds.set_label_names(FASHION_CLASSES)
    return ds
