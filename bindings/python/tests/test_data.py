"""Datasets: readers, arrays, subsets, splits, standardisation, batches, masking."""
import gzip
import hashlib
import os

import numpy as np
import pytest

import mlcl


def test_yeast_arff(yeast):
    tr, te = yeast
    assert tr.dims == (1500, 103, 14) and te.dims == (917, 103, 14)
    assert len(tr) == 1500 and tr.image_shape == (0, 0, 0)
    y = tr.labels
    # data README: per-label positives of Yeast train
    assert list(y.sum(0)) == [476, 645, 598, 532, 441, 378, 261, 289, 98, 161, 198, 1128, 1116, 21]
    assert y.min(1).max() <= 1 and y.sum(1).min() >= 1
    x = tr.features
    assert x.dtype == np.float32 and x.shape == (1500, 103) and np.isfinite(x).all()
    x[0, 0] = 1e9  # a copy: the dataset is unchanged
    assert tr.features[0, 0] != 1e9
    assert np.array_equal(tr.features_view(), tr.features)
    assert np.array_equal(mlcl.unpack_labels(tr.labels_packed, 14), y)
    assert tr.label_names[0] == "Class1" and tr.feature_name(0) == "Att1"
    assert len(tr.feature_names) == 103
    with pytest.raises(mlcl.InvalidArgument, match="out of range"):
        tr.label_name(99)


def test_from_arrays_subset_split_gather(rng):
    x = rng.standard_normal((20, 3))
    y = (rng.random((20, 4)) < 0.5).astype(int)
    ds = mlcl.Dataset.from_arrays(x, y)  # converted to float32 / uint8
    assert ds.dims == (20, 3, 4) and ds.label_words == 1
    assert np.array_equal(ds.features, x.astype(np.float32)) and np.array_equal(ds.labels, y)
    sub = ds.subset([3, 3, 0])
    assert np.array_equal(sub.features, x.astype(np.float32)[[3, 3, 0]])
    a, b = ds.split(0.25, seed=9)
    assert (a.n, b.n) == (15, 5)
    allrows = np.vstack([a.features, b.features])
    assert sorted(map(tuple, allrows)) == sorted(map(tuple, x.astype(np.float32)))
    a2, b2 = ds.split(0.25, seed=9)
    assert np.array_equal(b.features, b2.features)
    xb, yb, ypb = ds.gather([5, 1])
    assert np.array_equal(xb, x.astype(np.float32)[[5, 1]]) and np.array_equal(yb, y[[5, 1]])
    assert np.array_equal(ypb, mlcl.pack_labels(y[[5, 1]]))
    with pytest.raises(ValueError, match=r"rows\[0\] = 20 is out of range"):
        ds.gather([20])  # checked in Python (no int32 wrap-around) before the C call
    mean, std = ds.standardize_stats()
    assert np.allclose(mean, x.mean(0), atol=1e-5) and np.allclose(std, x.std(0), atol=1e-5)
    ds.standardize_apply(mean, std)
    assert np.allclose(ds.features.mean(0), 0, atol=1e-5)
    bad = y.copy()
    bad[2, 1] = 5
    with pytest.raises(ValueError, match=r"y\[2, 1\] = 5 is not 0 or 1"):
        mlcl.Dataset.from_arrays(x, bad)
    xn = x.copy()
    xn[0, 0] = np.nan
    with pytest.raises(mlcl.NumericError):
        mlcl.Dataset.from_arrays(xn, y)
    for d in (ds, sub, a, b, a2, b2):
        d.close()


def test_libsvm_and_arff_errors(tmp_path):
    p = tmp_path / "t.svm"
    p.write_text("3 4 3\n0,2 0:1.5 3:2\n 1:0.5\n1 2:-1\n")
    ds = mlcl.Dataset.load_libsvm(str(p))
    assert ds.dims == (3, 4, 3)
    assert np.array_equal(ds.labels, [[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    assert np.array_equal(ds.features, [[1.5, 0, 0, 2], [0, 0.5, 0, 0], [0, 0, -1, 0]])
    bad = tmp_path / "bad.arff"
    bad.write_text("@relation 'x: -C -1'\n@attribute a numeric\n@attribute l {0,1}\n@data\n"
                   "1,0\n2,?\n")
    with pytest.raises(mlcl.FormatError) as ei:
        mlcl.Dataset.load_arff(str(bad))
    assert "bad.arff" in ei.value.message and "6" in ei.value.message
    with pytest.raises(mlcl.IOFailure):
        mlcl.Dataset.load_arff(str(tmp_path / "missing.arff"))


def test_idx_reader(tmp_path):
    raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
    p = tmp_path / "x-idx.gz"
    with gzip.open(p, "wb") as f:
        f.write(raw)
    a = mlcl.idx_load(str(p))
    assert a.dtype == np.uint8 and np.array_equal(a, np.arange(6).reshape(2, 3))
    lab = tmp_path / "l-idx"
    lab.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 0]))
    img = tmp_path / "i-idx"
    img.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3]) + bytes([0, 255] * 3))
    ds = mlcl.Dataset.load_idx(str(img), str(lab), 3)
    assert ds.dims == (2, 3, 3) and ds.image_shape == (1, 1, 3)
    assert np.array_equal(ds.labels, [[0, 1, 0], [1, 0, 0]])
    assert np.allclose(ds.features, np.array([[0, 1, 0], [1, 0, 1]], np.float32))
    (tmp_path / "bad-idx").write_bytes(bytes([1, 2, 3, 4]))
    with pytest.raises(mlcl.FormatError):
        mlcl.idx_load(str(tmp_path / "bad-idx"))


def test_fashion_mosaic():
    if not os.path.exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"):
        pytest.skip("dataset-fashion-mnist not installed")
    a = mlcl.Dataset.fashion_mosaic(5, seed=1, train=False, grid=2)
    b = mlcl.Dataset.fashion_mosaic(5, seed=1, train=False, grid=2)
    assert a.dims == (5, 56 * 56, 10) and a.image_shape == (1, 56, 56)
    assert np.array_equal(a.features, b.features) and np.array_equal(a.labels, b.labels)
    assert a.labels.sum(1).min() >= 1 and a.labels.sum(1).max() <= 4
    assert a.label_name(9) == "Ankle boot"
    # every cell is a test item / 255 and the labels are the cells' classes
    img = mlcl.idx_load("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    lab = mlcl.idx_load("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
    flat = img.reshape(len(img), -1).astype(np.float32) / np.float32(255)
    x = a.features.reshape(5, 56, 56)
    for i in range(5):
        classes = set()
        for r in range(2):
            for c in range(2):
                cell = x[i, 28 * r:28 * r + 28, 28 * c:28 * c + 28].reshape(-1)
                hits = np.flatnonzero((flat == cell).all(1))
                assert hits.size >= 1
                classes.add(int(lab[hits[0]]))
        assert set(np.flatnonzero(a.labels[i])) == classes
    # the same bytes as the C generator examples/mosaic.c (features then labels,
    # 5 samples, seed 1, test items, 2 x 2), hashed from its output
    digest = hashlib.sha256(a.features.tobytes() + a.labels.tobytes()).hexdigest()
    assert digest == "d1e5643230987952a0eb0915a4c54f14019ee27d6f5674900fd08eff07af27fb"
    with pytest.raises(ValueError, match="grid"):
        mlcl.Dataset.fashion_mosaic(5, grid=9)


def test_dataset_setters():
    ds = mlcl.Dataset.from_arrays(np.ones((2, 12), np.float32), np.array([[1, 0], [0, 1]]))
    assert ds.image_shape == (0, 0, 0) and ds.label_name(0) is None
    ds.set_image_shape(3, 2, 2)
    assert ds.image_shape == (3, 2, 2)
    with pytest.raises(mlcl.InvalidArgument, match="12 features"):
        ds.set_image_shape(1, 2, 2)
    ds.set_label_names(["a", "b"])
    assert ds.label_names == ["a", "b"]
    with pytest.raises(mlcl.InvalidArgument, match="count 1"):
        ds.set_label_names(["a"])
    assert ds.label_names == ["a", "b"]
    ds.set_label_names(None)
    assert ds.label_name(1) is None
    ds.set_image_shape(0, 0, 0)
    assert ds.image_shape == (0, 0, 0)


def test_batcher_and_augment():
    with mlcl.Batcher(10, 4, seed=3) as b:
        assert b.batches_per_epoch == 3 and b.epoch == 0
        st = b.get_state()
        ep = list(b)
        assert [len(r) for r in ep] == [4, 4, 2] and b.epoch == 1
        assert sorted(np.concatenate(ep)) == list(range(10))
        b.set_state(st)
        assert all(np.array_equal(u, v) for u, v in zip(list(b), ep))
    assert mlcl.Batcher(10, 4, drop_last=True).batches_per_epoch == 2
    r = mlcl.Rng(2)
    x = np.ones((50, 40))
    m = mlcl.augment_mask(r, x, 0.3)
    assert set(np.unique(m)) <= {0.0, 1.0} and 0.2 < 1 - m.mean() < 0.4
    r.seed(2)
    xi = np.ones((50, 40), np.float32)
    mlcl.augment_mask(r, xi, 0.3, out=xi)  # in place
    assert np.array_equal(xi, m)
    with pytest.raises(mlcl.InvalidArgument):
        mlcl.augment_mask(r, x, 1.5)
