"""Sparse (CSR) datasets and the sparse first layer from Python."""
import numpy as np
import pytest

import mlcl


def _csr(x):
    indptr, indices, data = [0], [], []
    for row in x:
        nz = np.nonzero(row)[0]
        indices += list(nz)
        data += list(row[nz])
        indptr.append(len(indices))
    return np.array(indptr), np.array(indices), np.array(data, np.float32)


def test_libsvm_sparse_and_csr(tmp_path):
    p = tmp_path / "s.svm"
    p.write_text("3 6 2\n0 4:0.5 1:2\n1 0:1.5 5:-1\n\n0,1 2:3\n")
    ds = mlcl.Dataset.load_libsvm_sparse(str(p))
    dd = mlcl.Dataset.load_libsvm(str(p))
    assert ds.is_sparse and not dd.is_sparse and ds.dims == (3, 6, 2)
    indptr, indices, data = ds.csr()
    assert list(indptr) == [0, 2, 4, 5] and list(indices) == [1, 4, 0, 5, 2]
    assert np.allclose(data, [2, 0.5, 1.5, -1, 3])
    x, y = ds.gather([0, 1, 2])[:2]
    assert np.array_equal(x, dd.features) and np.array_equal(y, dd.labels)
    with pytest.raises(ValueError, match="sparse"):
        ds.features
    with pytest.raises(ValueError, match="sparse"):
        ds.features_view()
    with pytest.raises(mlcl.InvalidArgument, match="dense"):
        dd.csr()
    p.write_text("2 6 2\n0 1:1 1:2\n1 0:1\n")
    with pytest.raises(mlcl.FormatError, match="line 2: feature index 1 appears twice"):
        mlcl.Dataset.load_libsvm_sparse(str(p))


def test_arff_sparse(tmp_path):
    p = tmp_path / "s.arff"
    p.write_text("@relation 'r: -C -2'\n@attribute a numeric\n@attribute b numeric\n@attribute c numeric\n"
                 "@attribute L1 {0,1}\n@attribute L2 {0,1}\n@data\n{0 1.5,2 0,3 1}\n{1 -2,4 1}\n")
    ds, dd = mlcl.Dataset.load_arff_sparse(str(p)), mlcl.Dataset.load_arff(str(p))
    assert ds.is_sparse and ds.dims == dd.dims == (2, 3, 2)
    indptr, indices, data = ds.csr()
    assert list(indptr) == [0, 1, 2] and list(indices) == [0, 1] and list(data) == [1.5, -2]
    assert np.array_equal(ds.gather([0, 1])[0], dd.features)
    assert np.array_equal(ds.labels, dd.labels) and ds.feature_name(2) == "c"


def test_forward_csr_matches_dense(rng):
    x = rng.random((16, 40)).astype(np.float32)
    x[x < 0.9] = 0
    y = (rng.random((16, 3)) < 0.5).astype(np.uint8)
    ds = mlcl.Dataset.from_csr(*_csr(x), 40, y)
    assert ds.is_sparse
    assert np.array_equal(ds.gather(list(range(16)))[0], x)
    enc = mlcl.Encoder.mlp(40, hidden=[8], dropout=0.0, max_batch=16, seed=3)
    dense = enc.forward(x)
    sparse = enc.forward_csr(*ds.csr())
    assert np.allclose(sparse, dense, rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(dense.shape).astype(np.float32)
    enc.zero_grad()
    enc.forward(x)
    enc.backward(g, want_grad_in=False)
    gd = enc.grads.copy()
    enc.zero_grad()
    enc.forward_csr(*_csr(x))
    assert enc.backward(g, want_grad_in=False) is None
    assert np.allclose(enc.grads, gd, rtol=1e-5, atol=1e-5)
    with pytest.raises(mlcl.InvalidArgument, match="grad_in = NULL"):
        enc.backward(g)
    with pytest.raises(mlcl.InvalidArgument, match="increase strictly"):
        enc.forward_csr([0, 2], [3, 1], [1.0, 2.0])


def test_trainer_on_csr_rows(rng):
    x = rng.random((120, 80)).astype(np.float32)
    x[x < 0.95] = 0
    y = (rng.random((120, 5)) < 0.3).astype(np.uint8)
    ds = mlcl.Dataset.from_csr(*_csr(x), 80, y)
    dd = mlcl.Dataset.from_arrays(x, y)
    kw = dict(seed=2, batch=32, standardize=0, pretrain=dict(epochs=1, mask_p=0.2),
              finetune=dict(epochs=1, mask_p=0.1))
    with mlcl.Trainer(ds, **kw) as a, mlcl.Trainer(dd, **kw) as b:
        a.run()
        b.run()
        assert np.allclose(a.predict(x), b.predict(x), atol=1e-5)
        assert np.allclose(a.predict_csr(*_csr(x)), a.predict(x), atol=1e-6)
        ma, mb = a.evaluate(ds), b.evaluate(dd)
        assert ma["paper"]["mAP"] == pytest.approx(mb["paper"]["mAP"], abs=1e-4)
    with pytest.raises(mlcl.InvalidArgument, match="standardize = 0"):
        mlcl.Trainer(ds, seed=2)
