"""CSV tables, image files and image manifests (readers.h)."""
import gzip
import json

import numpy as np
import pytest

import mlcl

PIL = pytest.importorskip("PIL.Image")


def _write_yeast_csv(ds, path, opener=open):
    x, y = ds.features, ds.labels
    names = ds.feature_names + ds.label_names
    with opener(path, "wt") as f:
        f.write(",".join(names) + "\n")
        for i in range(x.shape[0]):
            f.write(",".join(["%.9g" % v for v in x[i]] + ["%d" % v for v in y[i]]) + "\n")


def _same(ds_a, ds_b):
    assert ds_a.dims == ds_b.dims
    fa, fb = ds_a.features, ds_b.features
    assert np.array_equal(fa.view(np.uint32), fb.view(np.uint32))  # bit for bit
    assert np.array_equal(ds_a.labels, ds_b.labels)


# ------------------------------------------------------------------------ CSV

def test_yeast_csv_bit_identical_to_arff(yeast, tmp_path):
    train, _ = yeast
    p = tmp_path / "yeast.csv"
    _write_yeast_csv(train, p)
    assert mlcl.guess_format(p) == "csv"
    with mlcl.Dataset.load_csv(p, n_labels=14) as ds:
        _same(ds, train)
        assert ds.feature_names == train.feature_names
        assert ds.label_names == train.label_names
    with mlcl.Dataset.load_csv(str(p), label_prefix="Class") as ds:
        _same(ds, train)
    cols = train.label_names
    with mlcl.Dataset.load_csv(p, label_columns=cols) as ds:
        _same(ds, train)
    with mlcl.Dataset.load_csv(p, label_columns=",".join(cols)) as ds:
        _same(ds, train)
    gz = tmp_path / "yeast.csv.gz"
    _write_yeast_csv(train, gz, opener=gzip.open)
    with mlcl.Dataset.load_csv(gz, n_labels=14) as ds:
        _same(ds, train)


def test_csv_missing_values_and_options(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("a\tb\ty1\ty2\n1\t\t1\t0\n3\t4\t0\t1\n5\tNA\t1\t1\n")
    with pytest.raises(mlcl.FormatError, match=r"t\.tsv.*line 2") as e:
        mlcl.Dataset.load_csv(p, n_labels=2)
    assert e.value.status_name == "MLCL_EFORMAT"
    with mlcl.Dataset.load_csv(p, n_labels=2, impute="mean") as ds:
        assert np.array_equal(ds.features, np.array([[1, 4], [3, 4], [5, 4]], np.float32))
        assert np.array_equal(ds.labels, [[1, 0], [0, 1], [1, 1]])
    with mlcl.Dataset.load_csv(p, n_labels=2, impute="zero", delimiter="\t") as ds:
        assert np.array_equal(ds.features[:, 1], [0, 4, 0])
    q = tmp_path / "first.csv"
    q.write_text("1,0.5,2.5\n0,1.5,3.5\n")
    with mlcl.Dataset.load_csv(q, n_labels=1, labels_first=True, header=False) as ds:
        assert ds.dims == (2, 2, 1)
        assert np.array_equal(ds.labels[:, 0], [1, 0])
        assert np.array_equal(ds.features, np.array([[0.5, 2.5], [1.5, 3.5]], np.float32))
        assert ds.feature_names == ["c2", "c3"]


def test_csv_bad_inputs(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("f1,f2,lab\n1,2,1\n1,abc,0\n")
    with pytest.raises(mlcl.FormatError, match=r"bad\.csv.*line 3.*f2"):
        mlcl.Dataset.load_csv(p, n_labels=1)
    q = tmp_path / "lab.csv"
    q.write_text("f1,lab\n1,2\n")
    with pytest.raises(mlcl.FormatError, match=r"lab\.csv.*line 2"):
        mlcl.Dataset.load_csv(q, n_labels=1)
    with pytest.raises(mlcl.InvalidArgument, match="nosuch"):
        mlcl.Dataset.load_csv(p, label_columns=["nosuch"])
    with pytest.raises(mlcl.IOFailure, match="missing.csv"):
        mlcl.Dataset.load_csv(tmp_path / "missing.csv", n_labels=1)
    # refused before any C call
    with pytest.raises(ValueError, match="exactly one"):
        mlcl.Dataset.load_csv(p)
    with pytest.raises(ValueError, match="exactly one"):
        mlcl.Dataset.load_csv(p, n_labels=1, label_prefix="l")
    with pytest.raises(ValueError, match="impute"):
        mlcl.Dataset.load_csv(p, n_labels=1, impute="median")
    with pytest.raises(ValueError, match="delimiter"):
        mlcl.Dataset.load_csv(p, n_labels=1, delimiter="|")
    with pytest.raises(ValueError, match="NUL"):
        mlcl.Dataset.load_csv(str(p) + "\0x", n_labels=1)
    with pytest.raises(ValueError, match=r"\[1, "):
        mlcl.Dataset.load_csv(p, n_labels=0)


# --------------------------------------------------------------------- images

def _png(path, arr, mode=None):
    (PIL.fromarray(arr, mode) if mode else PIL.fromarray(arr)).save(str(path))


def test_png_round_trip(tmp_path):
    r = np.random.default_rng(3)
    rgb = r.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    p = tmp_path / "rgb.png"
    _png(p, rgb)
    got = mlcl.image.read(p)
    assert got.dtype == np.float32 and got.shape == (3, 7, 5)
    want = rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    assert np.array_equal(got, want)
    assert np.array_equal(mlcl.image.read(str(p), channels=3), want)
    rgba = mlcl.image.read(p, channels=4)
    assert np.array_equal(rgba[:3], want) and np.all(rgba[3] == 1)
    luma = mlcl.image.read(p, channels=1)
    ref = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255
    assert luma.shape == (1, 7, 5) and np.allclose(luma[0], ref, atol=1e-5)
    gray = r.integers(0, 256, (4, 6), dtype=np.uint8)
    g = tmp_path / "g.png"
    _png(g, gray)
    gg = mlcl.image.read(g)
    assert gg.shape == (1, 4, 6)
    assert np.array_equal(gg[0], gray.astype(np.float32) / np.float32(255))
    a = r.integers(0, 256, (3, 3, 4), dtype=np.uint8)
    ap = tmp_path / "a.png"
    _png(ap, a)
    assert np.array_equal(mlcl.image.read(ap), a.transpose(2, 0, 1).astype(np.float32) / np.float32(255))


def test_image_read_bad_inputs(tmp_path):
    with pytest.raises(mlcl.IOFailure, match="nope.png"):
        mlcl.image.read(tmp_path / "nope.png")
    t = tmp_path / "text.png"
    t.write_bytes(b"this is not an image at all\n" * 4)
    with pytest.raises(mlcl.FormatError, match="text.png"):
        mlcl.image.read(t)
    good = tmp_path / "ok.png"
    _png(good, np.zeros((8, 8, 3), np.uint8))
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.read_bytes()[:40])
    with pytest.raises(mlcl.FormatError, match="trunc.png"):
        mlcl.image.read(trunc)
    with pytest.raises(ValueError, match="channels"):
        mlcl.image.read(good, channels=2)


def test_resize_crop_matches_pil(tmp_path):
    r = np.random.default_rng(5)
    img = r.random((2, 12, 20)).astype(np.float32)
    out = mlcl.image.resize_crop(img, 6)
    assert out.shape == (2, 6, 6)
    # torchvision Resize(6) + CenterCrop(6): shorter side 12 -> 6, width 20 -> 10, crop the centre
    for ch in range(2):
        pil = np.asarray(PIL.fromarray(img[ch], "F").resize((10, 6), PIL.BILINEAR))
        top, left = 0, int(round((10 - 6) / 2))
        assert np.allclose(out[ch], pil[top:top + 6, left:left + 6], atol=1e-5)
    # the same size is the identity; a batch goes image by image
    assert np.array_equal(mlcl.image.resize_crop(img, 12, 20), img)
    batch = mlcl.image.resize_crop(np.stack([img, img[::-1].copy()]), 4, 5)
    assert batch.shape == (2, 2, 4, 5)
    assert np.array_equal(batch[1], mlcl.image.resize_crop(img[::-1].copy(), 4, 5))
    with pytest.raises(ValueError):
        mlcl.image.resize_crop(img, 0)
    with pytest.raises(ValueError, match="shape"):
        mlcl.image.resize_crop(img[0], 4)


# ------------------------------------------------------------------ manifests

def _four_pngs(d):
    r = np.random.default_rng(11)
    paths, arrays = [], []
    for i in range(4):
        a = r.integers(0, 256, (10 + i, 12, 3), dtype=np.uint8)
        p = d / ("img%d.png" % i)
        _png(p, a)
        paths.append(p)
        arrays.append(a)
    return paths, arrays


def test_image_csv_manifest(tmp_path):
    paths, _ = _four_pngs(tmp_path)
    m = tmp_path / "list.csv"
    m.write_text("path,labels\nimg0.png,cat;dog\nimg1.png,dog\nimg2.png,\n%s,bird\n" % paths[3])
    assert mlcl.guess_format(m) == "image-csv"
    with mlcl.Dataset.load_images(m, size=8, threads=1) as ds:
        assert ds.dims == (4, 3 * 8 * 8, 3)
        assert ds.image_shape == (3, 8, 8)
        assert ds.label_names == ["bird", "cat", "dog"]
        assert np.array_equal(ds.labels, [[0, 1, 1], [0, 0, 1], [0, 0, 0], [1, 0, 0]])
        x = ds.features
        for i, p in enumerate(paths):
            want = mlcl.image.resize_crop(mlcl.image.read(p, channels=3), 8)
            assert np.array_equal(x[i], want.ravel()), i
    # one 0/1 column per label, grayscale, a rectangle, the label names given
    m2 = tmp_path / "cols.tsv"
    m2.write_text("path\tb\ta\nimg0.png\t1\t0\nimg1.png\t0\t1\nimg2.png\t1\t1\nimg3.png\t0\t0\n")
    with mlcl.Dataset.load_images(m2, size=(4, 6), channels=1, format="image-csv") as ds:
        assert ds.image_shape == (1, 4, 6)
        assert ds.label_names == ["b", "a"]
        assert np.array_equal(ds.labels, [[1, 0], [0, 1], [1, 1], [0, 0]])
    with mlcl.Dataset.load_images(m, size=8, label_names=["dog", "cat", "bird"]) as ds:
        assert ds.label_names == ["dog", "cat", "bird"]
        assert np.array_equal(ds.labels, [[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 1]])
    with pytest.raises(mlcl.MlclError, match="bird"):
        mlcl.Dataset.load_images(m, size=8, label_names=["dog", "cat"])


def test_manifest_bad_images(tmp_path):
    paths, _ = _four_pngs(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"garbage")
    m = tmp_path / "m.csv"
    m.write_text("path,labels\nimg0.png,a\nmissing.png,b\nbroken.png,a\nimg1.png,b\n")
    with pytest.raises(mlcl.IOFailure, match="missing.png"):
        mlcl.Dataset.load_images(m, size=8)
    ds, skipped = mlcl.Dataset.load_images(m, size=8, skip_bad_images=True, return_skipped=True)
    with ds:
        assert skipped == 2 and ds.n == 2
        assert np.array_equal(ds.labels, [[1, 0], [0, 1]])
    m3 = tmp_path / "m3.csv"
    m3.write_text("path,labels\nbroken.png,a\n")
    with pytest.raises(mlcl.FormatError, match="broken.png"):
        mlcl.Dataset.load_images(m3, size=8)
    bad = tmp_path / "nopath.csv"
    bad.write_text("file,labels\nimg0.png,a\n")
    with pytest.raises(ValueError, match="nopath.csv"):
        mlcl.Dataset.load_images(bad)  # not a manifest: no "path" column
    with pytest.raises(mlcl.MlclError, match="nopath.csv"):
        mlcl.Dataset.load_images(bad, format="image-csv")
    with pytest.raises(ValueError, match="channels"):
        mlcl.Dataset.load_images(m, channels=4)
    with pytest.raises(ValueError, match="format"):
        mlcl.Dataset.load_images(m, format="tiff")
    with pytest.raises(ValueError, match="split"):
        mlcl.Dataset.load_images(m, split="train")


def test_coco_and_voc(tmp_path):
    paths, _ = _four_pngs(tmp_path)
    doc = {"images": [{"id": 7, "file_name": "img0.png"}, {"id": 3, "file_name": "img1.png"},
                      {"id": 5, "file_name": "img2.png"}],
           "annotations": [{"image_id": 7, "category_id": 2}, {"image_id": 7, "category_id": 9},
                           {"image_id": 3, "category_id": 9}],
           "categories": [{"id": 9, "name": "zebra"}, {"id": 2, "name": "apple"}]}
    j = tmp_path / "ann.json"
    j.write_text(json.dumps(doc))
    assert mlcl.guess_format(j) == "coco"
    with mlcl.Dataset.load_images(j, size=6) as ds:
        assert ds.label_names == ["apple", "zebra"]
        assert np.array_equal(ds.labels, [[1, 1], [0, 1], [0, 0]])
    doc["annotations"].append({"image_id": 99, "category_id": 2})
    j2 = tmp_path / "ann2.json"
    j2.write_text(json.dumps(doc))
    with pytest.raises(mlcl.FormatError, match="ann2.json"):
        mlcl.Dataset.load_images(j2, size=6)
    # a PASCAL VOC tree
    voc = tmp_path / "VOC"
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    r = np.random.default_rng(2)
    for i in ("000001", "000002", "000003"):
        PIL.fromarray(r.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(
            str(voc / "JPEGImages" / (i + ".jpg")), quality=95)
    (voc / "ImageSets" / "Main" / "car_trainval.txt").write_text(
        "000001  1\n000002 -1\n000003  0\n")
    (voc / "ImageSets" / "Main" / "dog_trainval.txt").write_text(
        "000001 -1\n000002  1\n000003  1\n")
    assert mlcl.guess_format(voc) == "voc"
    with mlcl.Dataset.load_images(voc, size=5, split="trainval") as ds:
        assert ds.label_names == ["car", "dog"]
        assert np.array_equal(ds.labels, [[1, 0], [0, 1], [0, 1]])  # difficult = absent
    with mlcl.Dataset.load_images(voc, size=5, split="trainval", voc_difficult="positive",
                                  format="voc") as ds:
        assert np.array_equal(ds.labels, [[1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="split"):
        mlcl.Dataset.load_images(voc, size=5)
    with pytest.raises(mlcl.MlclError, match="test"):
        mlcl.Dataset.load_images(voc, size=5, split="test")


def test_guess_format(tmp_path, yeast_paths):
    assert mlcl.guess_format(yeast_paths[0]) == "arff"
    n = tmp_path / "x.npy"
    np.save(n, np.zeros(3, np.float32))
    assert mlcl.guess_format(n) == "npy"
    s = tmp_path / "x.svm"
    s.write_text("0,2 1:0.5 3:1.5\n")
    assert mlcl.guess_format(s) == "unknown"
    h = tmp_path / "x.txt"
    h.write_text("0.5,1.25,0\n")
    assert mlcl.guess_format(h) == "csv-noheader"
    with pytest.raises(mlcl.IOFailure):
        mlcl.guess_format(tmp_path / "absent.txt")
