"""image.h (SimCLR augmentations, resize) and the .npy/.npz readers, against
numpy and (when installed) torch."""
import numpy as np
import pytest

import mlcl
from mlcl import image


# ------------------------------------------------------------------ npy / npz

def test_npy_load_matches_numpy(tmp_path):
    a = (np.arange(2 * 3 * 4).reshape(2, 3, 4) / 7).astype(np.float32)
    u = (np.arange(30) * 9 % 256).astype(np.uint8).reshape(5, 6)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "u.npy", u)
    np.save(tmp_path / "be.npy", a.astype(">f8"))
    np.savez_compressed(tmp_path / "z.npz", a=a, u=u)
    np.testing.assert_array_equal(mlcl.npy_load(tmp_path / "a.npy"), a)
    np.testing.assert_array_equal(mlcl.npy_load(tmp_path / "be.npy"), a)
    np.testing.assert_array_equal(mlcl.npy_load(tmp_path / "u.npy"), u.astype(np.float32))
    np.testing.assert_allclose(mlcl.npy_load(tmp_path / "z.npz", "u", scale_u8=True), u / 255.0,
                               rtol=1e-7)
    assert mlcl.npy_load(tmp_path / "z.npz", "a").shape == (2, 3, 4)
    np.save(tmp_path / "f.npy", np.asfortranarray(a))
    with pytest.raises(mlcl.FormatError, match="f.npy: fortran_order is True"):
        mlcl.npy_load(tmp_path / "f.npy")
    with pytest.raises(mlcl.FormatError, match="entry 'q.npy': no such key"):
        mlcl.npy_load(tmp_path / "z.npz", "q")
    raw = bytearray((tmp_path / "a.npy").read_bytes())
    (tmp_path / "cut.npy").write_bytes(bytes(raw[:-3]))
    with pytest.raises(mlcl.FormatError, match="cut.npy: truncated"):
        mlcl.npy_load(tmp_path / "cut.npy")


def test_npz_crc_is_checked(tmp_path):
    np.savez(tmp_path / "s.npz", x=np.arange(100, dtype=np.float32))
    raw = bytearray((tmp_path / "s.npz").read_bytes())
    i = raw.index(b"\x93NUMPY") + 200  # inside the data of the stored entry
    raw[i] ^= 1
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    with pytest.raises(mlcl.ChecksumError, match="CRC-32"):
        mlcl.npy_load(tmp_path / "bad.npz", "x")


def test_dataset_load_npy(tmp_path):
    x = (np.arange(4 * 3 * 5 * 6) % 256).astype(np.uint8).reshape(4, 3, 5, 6)
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=bool)
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    ds = mlcl.Dataset.load_npy(tmp_path / "d.npz", tmp_path / "d.npz", "images", "labels")
    assert ds.dims == (4, 90, 2)
    assert ds.image_shape == (3, 5, 6)
    np.testing.assert_allclose(ds.features, x.reshape(4, -1) / 255.0, rtol=1e-7)
    np.testing.assert_array_equal(ds.labels, y.astype(np.uint8))
    np.save(tmp_path / "lab.npy", np.array([[0, 2]] * 4, dtype=np.int64))
    with pytest.raises(mlcl.FormatError, match="row 0, column 1 is 2"):
        mlcl.Dataset.load_npy(tmp_path / "d.npz", tmp_path / "lab.npy", "images")


# ------------------------------------------------------------------ images

def _ref_resize(x, oh, ow):
    h, w = x.shape[-2:]

    def coords(o, i):
        s = (np.arange(o) + 0.5) * i / o - 0.5
        s = np.maximum(s, 0)
        i0 = np.minimum(np.floor(s).astype(int), i - 1)
        i1 = np.minimum(i0 + 1, i - 1)
        return i0, i1, s - i0

    y0, y1, wy = coords(oh, h)
    x0, x1, wx = coords(ow, w)
    xd = x.astype(np.float64)
    top = xd[..., y0, :][..., x0] * (1 - wx) + xd[..., y0, :][..., x1] * wx
    bot = xd[..., y1, :][..., x0] * (1 - wx) + xd[..., y1, :][..., x1] * wx
    return top * (1 - wy)[:, None] + bot * wy[:, None]


@pytest.mark.parametrize("size", [(7, 9), (20, 3), (1, 1), (32, 32)])
def test_resize_matches_reference(rng, size):
    x = rng.random((2, 3, 11, 8), dtype=np.float32)
    got = image.resize(x, *size)
    np.testing.assert_allclose(got, _ref_resize(x, *size), atol=1e-6)
    assert image.resize(x[0], *size).shape == (3,) + size


def test_resize_matches_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for shape, size in [((2, 3, 17, 13), (8, 30)), ((1, 1, 28, 28), (56, 20)), ((3, 2, 5, 40), (5, 7))]:
        x = rng.random(shape, dtype=np.float32)
        want = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear",
                             align_corners=False).numpy()
        # both compute the source coordinate in float32 (its rounding moves the weights)
        np.testing.assert_allclose(image.resize(x, *size), want, atol=2e-6)


def test_blur_matches_torch_reflect_conv(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    k, sigma = 7, 1.7
    x = rng.random((2, 3, 16, 12), dtype=np.float32)
    o = image.simclr_options(crop_p=0, flip_p=0, jitter_p=0, gray_p=0, blur_p=1,
                             blur_sigma_min=sigma, blur_sigma_max=sigma, blur_kernel=k)
    got = image.simclr(mlcl.Rng(3), x, o)
    # torchvision's gaussian_blur: reflect padding, 2-D kernel = outer(k1, k1)
    t = torch.linspace(-(k - 1) / 2, (k - 1) / 2, k, dtype=torch.float64)
    k1 = torch.exp(-0.5 * (t / sigma) ** 2)
    k1 = k1 / k1.sum()
    k2 = torch.outer(k1, k1)[None, None].repeat(3, 1, 1, 1)
    xp = F.pad(torch.from_numpy(x).double(), (k // 2,) * 4, mode="reflect")
    want = F.conv2d(xp, k2, groups=3).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_simclr_determinism_range_identity(rng):
    x = rng.random((6, 3, 24, 20), dtype=np.float32)
    o = image.simclr_options(out_h=16, out_w=16)
    assert (o.flip_p, o.jitter_p, o.gray_p, o.blur_p) == pytest.approx((0.5, 0.8, 0.2, 0.5))
    a = image.simclr(mlcl.Rng(5), x, o)
    b = image.simclr(mlcl.Rng(5), x, o)
    c = image.simclr(mlcl.Rng(6), x, o)
    assert a.shape == (6, 3, 16, 16)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    same = image.simclr(mlcl.Rng(1), x, crop_p=0, flip_p=0, jitter_p=0, gray_p=0, blur_p=0)
    np.testing.assert_array_equal(same, x)
    flipped = image.simclr(mlcl.Rng(1), x, crop_p=0, flip_p=1, jitter_p=0, gray_p=0, blur_p=0)
    np.testing.assert_array_equal(flipped, x[..., ::-1])
    g = image.simclr(mlcl.Rng(1), x, crop_p=0, flip_p=0, jitter_p=0, gray_p=1, blur_p=0)
    lum = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for ch in range(3):
        np.testing.assert_allclose(g[:, ch], lum, atol=1e-6)
    one = image.simclr(mlcl.Rng(2), x[:, :1], out_h=12, out_w=12)  # c = 1
    assert one.shape == (6, 1, 12, 12) and one.min() >= 0 and one.max() <= 1


def test_simclr_errors(rng):
    x = rng.random((2, 3, 8, 8), dtype=np.float32)
    with pytest.raises(mlcl.InvalidArgument, match="o->hue"):
        image.simclr(mlcl.Rng(1), x, hue=0.7)
    with pytest.raises(mlcl.InvalidArgument, match="o->blur_kernel"):
        image.simclr(mlcl.Rng(1), x, blur_kernel=4)
    x[1, 2, 3, 4] = np.nan
    with pytest.raises(mlcl.NumericError, match=r"src\[%d\]" % (192 + 2 * 64 + 3 * 8 + 4)):
        image.simclr(mlcl.Rng(1), x)
    with pytest.raises(TypeError, match="unknown option"):
        image.simclr_options(colour=1)
    with pytest.raises(ValueError, match="must be"):
        image.resize(np.zeros((3, 3)), 2, 2)
