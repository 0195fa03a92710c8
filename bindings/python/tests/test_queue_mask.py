"""Label packing, the ring-buffer queue and the positive masks."""
import numpy as np
import pytest

import mlcl


def test_label_words_and_pack_roundtrip(rng):
    assert [mlcl.label_words(c) for c in (0, 1, 64, 65, 128)] == [0, 1, 1, 2, 2]
    y = (rng.random((7, 70)) < 0.3).astype(np.uint8)
    p = mlcl.pack_labels(y)
    assert p.dtype == np.uint64 and p.shape == (7, 2)
    # bit j % 64 of word j // 64
    i, j = np.nonzero(y)
    for a, b in zip(i, j):
        assert (int(p[a, b // 64]) >> int(b % 64)) & 1
    assert sum(bin(int(w)).count("1") for w in p.ravel()) == int(y.sum())
    assert np.array_equal(mlcl.unpack_labels(p, 70), y)
    assert np.array_equal(mlcl.pack_labels(y.astype(bool)), p)  # converted input
    bad = y.copy()
    bad[3, 5] = 2
    with pytest.raises(ValueError, match=r"y01\[3, 5\] = 2 is not 0 or 1"):
        mlcl.pack_labels(bad)
    with pytest.raises(ValueError, match="words"):
        mlcl.unpack_labels(p, 200)


def test_queue_wraps_around(rng):
    K, m, c = 5, 3, 4
    with mlcl.Queue(K, m, c) as q:
        assert (q.capacity, q.feat_dim, q.n_labels, q.size, q.head) == (K, m, c, 0, 0)
        rows = []
        for step in range(4):  # 3 rows per step -> 12 rows through a 5-row ring
            f = rng.standard_normal((3, m)).astype(np.float32)
            y = (rng.random((3, c)) < 0.5).astype(np.uint8)
            d = rng.random((3, c)).astype(np.float32)
            q.enqueue(f, mlcl.pack_labels(y) if step % 2 else y, d)
            rows += [(f[i], y[i], d[i]) for i in range(3)]
        assert q.size == K and len(q) == K and q.head == 12 % K
        # storage row r holds the last row written at a position == r (mod K)
        for r in range(K):
            last = max(i for i in range(12) if i % K == r)
            f, y, d = rows[last]
            assert np.array_equal(q.features[r], f)
            assert np.array_equal(q.labels01[r], y)
            assert np.array_equal(q.dists[r], d)
        v = q.features_view()
        assert v.shape == (K, m) and not v.flags.writeable
        assert np.array_equal(v, q.features)
        assert q.labels_view().shape == (K, 1) and q.dists_view().shape == (K, c)
        # n > K: only the last K rows, at their ring positions
        big = np.arange(7 * m, dtype=np.float32).reshape(7, m)
        h0 = q.head
        q.enqueue(big, np.ones((7, c), np.uint8))
        assert q.head == (h0 + 7) % K
        for i in range(2, 7):
            assert np.array_equal(q.features[(h0 + i) % K], big[i])
        st = q.get_state()
        q.reset()
        assert q.size == 0 and q.head == 0 and not q.features_view().any()
        q.set_state(*st)
        assert q.size == K and np.array_equal(q.features, st[2])


def test_queue_errors_and_strictness():
    q = mlcl.Queue(4, 2, 3)
    with pytest.raises(TypeError, match="feats must have dtype float32"):
        q.enqueue(np.zeros((2, 2)), np.zeros((2, 3), np.uint8))
    with pytest.raises(TypeError, match="C-contiguous"):
        q.enqueue(np.zeros((2, 4), np.float32)[:, ::2], np.zeros((2, 3), np.uint8))
    q.enqueue(np.zeros((2, 2)), np.zeros((2, 3), np.uint8), strict=False)  # converted
    assert q.size == 2
    with pytest.raises(ValueError, match="feat_dim"):
        q.enqueue(np.zeros((2, 5), np.float32), np.zeros((2, 3), np.uint8))
    with pytest.raises(mlcl.NumericError) as ei:
        q.enqueue(np.full((1, 2), np.nan, np.float32), np.zeros((1, 3), np.uint8))
    assert ei.value.status_name == "MLCL_ENUMERIC"
    assert q.size == 2
    with pytest.raises(mlcl.InvalidArgument):
        st = q.get_state()
        q.set_state(3, 0, st[2], st[3])  # size < K needs head == size
    q.close()
    q.close()
    with pytest.raises(ValueError, match="closed"):
        q.size


def _ref_masks(ya, yc):
    inter = ya.astype(int) @ yc.T.astype(int)
    anym = (inter > 0).astype(np.uint8)
    allm = np.array([[np.array_equal(a, b) for b in yc] for a in ya], dtype=np.uint8)
    return anym, allm


def test_masks_against_numpy(rng):
    c = 67
    ya = (rng.random((6, c)) < 0.05).astype(np.uint8)
    yc = np.vstack([ya, (rng.random((9, c)) < 0.05).astype(np.uint8), ya[:2]])
    anym, allm = _ref_masks(ya, yc)
    m, cnt = mlcl.build_mask(ya, yc, mode="any")
    assert np.array_equal(m, anym) and np.array_equal(cnt, anym.sum(1))
    m, cnt = mlcl.build_mask(ya, yc, mode="all")
    assert np.array_equal(m, allm) and np.array_equal(cnt, allm.sum(1))
    # two-part candidates, packed input
    m2, cnt2 = mlcl.build_mask(mlcl.pack_labels(ya), mlcl.pack_labels(yc[:6]),
                               mlcl.pack_labels(yc[6:]), mode="any", c=c)
    assert np.array_equal(m2, anym) and np.array_equal(cnt2, anym.sum(1))
    none, cnt3 = mlcl.build_mask(ya, yc[:6], yc[6:], mode=1, counts_only=True)
    assert none is None and np.array_equal(cnt3, allm.sum(1))
    assert np.array_equal(mlcl.labelwise_counts(yc), yc.sum(0))
    assert np.array_equal(mlcl.labelwise_counts(yc[:4], yc[4:]), yc.sum(0))
    lw = mlcl.labelwise(ya, yc[:4], yc[4:])
    assert np.array_equal(lw, ya * yc.sum(0)[None, :])
    with pytest.raises(ValueError, match="mode"):
        mlcl.build_mask(ya, yc, mode="some")
    with pytest.raises(mlcl.InvalidArgument):
        mlcl.build_mask(ya, yc, mode=7)
    with pytest.raises(ValueError, match="c .the number of labels"):
        mlcl.build_mask(mlcl.pack_labels(ya), mlcl.pack_labels(yc))
