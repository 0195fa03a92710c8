"""The streaming image loader (loader.h): ImageList, Loader, Trainer.from_loaders."""

import gc
import json

import numpy as np
import pytest

import mlcl

PIL = pytest.importorskip("PIL.Image")

N_IMAGES = 12
N_LABELS = 3


@pytest.fixture
def pngs(tmp_path):
    """12 RGB PNGs of different sizes, their labels and a CSV manifest."""
    r = np.random.default_rng(5)
    paths, labels = [], []
    for i in range(N_IMAGES):
        a = r.integers(0, 256, (12 + i % 5, 14 + (3 * i) % 7, 3), dtype=np.uint8)
        p = tmp_path / ("im%02d.png" % i)
        PIL.fromarray(a).save(str(p))
        paths.append(str(p))
        y = r.integers(0, 2, N_LABELS).astype(np.uint8)
        y[i % N_LABELS] = 1  # every image has a label
        labels.append(y)
    labels = np.array(labels)
    m = tmp_path / "list.csv"
    m.write_text("path,a,b,c\n" + "".join(
        "im%02d.png,%d,%d,%d\n" % ((i,) + tuple(labels[i])) for i in range(N_IMAGES)))
    return paths, labels, m


def _epoch(loader, epochs=1):
    out = []
    for _ in range(epochs):
        out.extend(loader)
    return out


def _same(b1, b2):
    assert (b1.epoch, b1.index) == (b2.epoch, b2.index)
    assert np.array_equal(b1.rows, b2.rows)
    assert np.array_equal(b1.x, b2.x)
    assert (b1.x2 is None) == (b2.x2 is None)
    if b1.x2 is not None:
        assert np.array_equal(b1.x2, b2.x2)
    assert np.array_equal(b1.y, b2.y)


def test_image_list(pngs, tmp_path):
    paths, labels, m = pngs
    with mlcl.ImageList.from_arrays(paths, labels) as il:
        assert il.size() == (N_IMAGES, N_LABELS)
        assert len(il) == N_IMAGES and il.n_labels == N_LABELS
        assert "12 images" in repr(il)
    il = mlcl.ImageList.load_csv(m)
    assert il.size() == (N_IMAGES, N_LABELS)
    # the labels of the manifest, in list order (shuffle off)
    with mlcl.Loader(il, batch=5, size=6, shuffle=False, threads=1) as ld:
        got = _epoch(ld)
    assert [len(b) for b in got] == [5, 5, 2]
    assert np.array_equal(np.concatenate([b.rows for b in got]), np.arange(N_IMAGES))
    assert np.array_equal(np.concatenate([b.y for b in got]), labels)
    il.close()
    with pytest.raises(mlcl.ClosedError):
        il.size()
    # bad input
    with pytest.raises(ValueError, match="labels"):
        mlcl.ImageList.from_arrays(paths, labels * 2)
    with pytest.raises(ValueError, match="shape"):
        mlcl.ImageList.from_arrays(paths[:3], labels)
    with pytest.raises(ValueError, match="empty"):
        mlcl.ImageList.from_arrays([], np.zeros((0, 2)))
    with pytest.raises(ValueError, match="NUL"):
        mlcl.ImageList.from_arrays(["a\0b"], [[1]])
    with pytest.raises(mlcl.MlclError, match="nope.csv"):
        mlcl.ImageList.load_csv(tmp_path / "nope.csv")


def test_coco_and_voc_lists(pngs, tmp_path):
    doc = {"images": [{"id": 7, "file_name": "im00.png"}, {"id": 3, "file_name": "im01.png"},
                      {"id": 5, "file_name": "im02.png"}],
           "annotations": [{"image_id": 7, "category_id": 2}, {"image_id": 7, "category_id": 9},
                           {"image_id": 3, "category_id": 9}],
           "categories": [{"id": 9, "name": "zebra"}, {"id": 2, "name": "apple"}]}
    j = tmp_path / "ann.json"
    j.write_text(json.dumps(doc))
    with mlcl.ImageList.load_coco(j) as il, \
            mlcl.Loader(il, batch=3, size=4, shuffle=False, threads=1) as ld:
        assert il.size() == (3, 2)
        b = ld.next()
        assert np.array_equal(b.y, [[1, 1], [0, 1], [0, 0]])  # apple, zebra (sorted)
    with mlcl.ImageList.load_coco(j, label_names=["zebra", "apple"]) as il, \
            mlcl.Loader(il, batch=3, size=4, shuffle=False, threads=1) as ld:
        assert np.array_equal(ld.next().y, [[1, 1], [1, 0], [0, 0]])
    voc = tmp_path / "VOC"
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    r = np.random.default_rng(2)
    for i in ("000001", "000002", "000003"):
        PIL.fromarray(r.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(
            str(voc / "JPEGImages" / (i + ".jpg")), quality=95)
    (voc / "ImageSets" / "Main" / "car_trainval.txt").write_text("000001  1\n000002 -1\n000003  0\n")
    (voc / "ImageSets" / "Main" / "dog_trainval.txt").write_text("000001 -1\n000002  1\n000003  1\n")
    for difficult, want in (("negative", [[1, 0], [0, 1], [0, 1]]),
                            ("positive", [[1, 0], [0, 1], [1, 1]])):
        with mlcl.ImageList.load_voc(voc, "trainval", voc_difficult=difficult) as il, \
                mlcl.Loader(il, batch=3, size=4, shuffle=False, threads=1) as ld:
            assert il.size() == (3, 2)
            assert np.array_equal(ld.next().y, want)
    with pytest.raises(mlcl.MlclError, match="test"):
        mlcl.ImageList.load_voc(voc, "test")


def test_batches_equal_across_threads(pngs):
    paths, labels, _ = pngs
    il = mlcl.ImageList.from_arrays(paths, labels)
    kw = dict(batch=5, size=8, views=2, seed=3, simclr=dict(out_h=8, out_w=8), prefetch=2)
    with mlcl.Loader(il, threads=1, **kw) as l1, mlcl.Loader(il, threads=2, **kw) as l2:
        assert l1.batches_per_epoch() == len(l2) == 3
        a, b = _epoch(l1, 2), _epoch(l2, 2)
        assert len(a) == 6
        for b1, b2 in zip(a, b):
            _same(b1, b2)
            assert b1.x.shape == (len(b1), 3, 8, 8) and b1.x.dtype == np.float32
            assert b1.x2.shape == b1.x.shape
            assert b1.y.shape == (len(b1), N_LABELS) and b1.y.dtype == np.uint8
            assert np.array_equal(b1.y, labels[b1.rows])
            assert not np.array_equal(b1.x, b1.x2)  # two different views
        assert [(b.epoch, b.index) for b in a] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
        # each epoch is a permutation of the list, different per epoch
        e0 = np.concatenate([b.rows for b in a[:3]])
        e1 = np.concatenate([b.rows for b in a[3:]])
        assert sorted(e0) == sorted(e1) == list(range(N_IMAGES))
        assert not np.array_equal(e0, e1)
        s1, s2 = l1.stats(), l2.stats()
        assert s1["threads"] == 1 and s2["threads"] == 2
        assert s1["batches"] == s2["batches"] == 6
        assert s1["images"] >= 2 * N_IMAGES and s1["skipped"] == 0
        assert s1["ring_bytes"] >= 2 * 5 * 2 * 3 * 8 * 8 * 4
    # a different seed gives other batches
    with mlcl.Loader(il, threads=2, **dict(kw, seed=4)) as l3:
        assert not np.array_equal(l3.next().x, a[0].x)
    il.close()


def test_pixels_equal_reference(pngs):
    paths, labels, m = pngs
    il = mlcl.ImageList.load_csv(m)
    ref = [mlcl.image.resize_crop(mlcl.image.read(p, channels=3), 9, 7) for p in paths]
    with mlcl.Loader(il, batch=4, size=(9, 7), threads=2, seed=1) as ld:
        mean, std = ld.normalization()
        assert np.allclose(mean, [0.485, 0.456, 0.406]) and np.allclose(std, [0.229, 0.224, 0.225])
        seen = 0
        for b in ld:
            assert b.x.shape == (len(b), 3, 9, 7)
            for x, r in zip(b.x, b.rows):
                want = (ref[r] - mean[:, None, None]) / std[:, None, None]
                np.testing.assert_allclose(x, want, rtol=1e-6, atol=1e-6)
                seen += 1
        assert seen == N_IMAGES
    # no normalisation: the resized pixels themselves; custom mean/std; one channel
    with mlcl.Loader(il, batch=12, size=(9, 7), normalize="none", threads=1) as ld:
        mean, std = ld.normalization()
        assert np.array_equal(mean, [0, 0, 0]) and np.array_equal(std, [1, 1, 1])
        b = ld.next()
        for x, r in zip(b.x, b.rows):
            np.testing.assert_allclose(x, ref[r], rtol=0, atol=1e-6)
    with mlcl.Loader(il, batch=12, size=5, mean=0.5, std=0.25, channels=1, threads=1) as ld:
        mean, std = ld.normalization()
        assert mean.tolist() == [0.5] and std.tolist() == [0.25]
        b = ld.next()
        assert b.x.shape == (12, 1, 5, 5)
        for x, r in zip(b.x, b.rows):
            g = mlcl.image.resize_crop(mlcl.image.read(paths[r], channels=1), 5)
            np.testing.assert_allclose(x, (g - 0.5) / 0.25, rtol=1e-6, atol=1e-5)
    # bad options are refused, naming the option
    with pytest.raises(mlcl.MlclError, match="batch"):
        mlcl.Loader(il, batch=0)
    with pytest.raises(ValueError, match="normalize"):
        mlcl.Loader(il, normalize="bogus")
    with pytest.raises(TypeError, match="unknown option"):
        mlcl.Loader(il, simclr=dict(nope=1))
    with pytest.raises(TypeError, match="ImageList"):
        mlcl.Loader(paths)
    il.close()


def test_seek_reproduces(pngs):
    paths, labels, _ = pngs
    il = mlcl.ImageList.from_arrays(paths, labels)
    kw = dict(batch=5, size=6, views=1, seed=11, simclr=dict(out_h=6, out_w=6), threads=2)
    with mlcl.Loader(il, **kw) as ld:
        ref = _epoch(ld, 3)
        assert ld.position() == (3, 0)
    with mlcl.Loader(il, **kw) as ld:
        assert ld.position() == (0, 0)
        ld.seek(1, 2)
        assert ld.position() == (1, 2)
        for want in ref[5:]:
            _same(ld.next(), want)
        ld.seek(0)
        _same(next(ld), ref[0])
        assert ld.position() == (0, 1)
        with pytest.raises(mlcl.MlclError, match="batch"):
            ld.seek(0, 3)
        with pytest.raises(ValueError, match="epoch"):
            ld.seek(-1, 0)
    il.close()


def test_corrupt_file_named(pngs, tmp_path):
    paths, labels, _ = pngs
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    il = mlcl.ImageList.from_arrays(paths[:4] + [str(bad)], labels[:5])
    with mlcl.Loader(il, batch=5, size=6, threads=2) as ld:
        with pytest.raises(mlcl.MlclError, match="broken.png"):
            ld.next()
        with pytest.raises(mlcl.MlclError, match="broken.png"):  # stays at that batch
            ld.next()
        assert ld.position() == (0, 0)
    with mlcl.Loader(il, batch=5, size=6, threads=2, skip_bad_images=True) as ld:
        b = ld.next()
        assert len(b) == 4 and b.skipped == 1
        assert 4 not in b.rows.tolist()
        assert ld.stats()["skipped"] >= 1  # counts prefetched batches too
    il.close()


def test_close_with_batch_alive(pngs):
    paths, labels, _ = pngs
    il = mlcl.ImageList.from_arrays(paths, labels)
    ld = mlcl.Loader(il, batch=6, size=8, threads=2, prefetch=1)
    b = ld.next()
    keep = b.x.copy()
    b2 = ld.next()  # the ring slot of b may be reused: b is a copy
    assert np.array_equal(b.x, keep)
    with pytest.raises(mlcl.BusyError, match="Loader"):
        il.close()  # the loader uses the list
    ld.close()
    assert ld.closed
    assert np.array_equal(b.x, keep) and b2.x.shape == (6, 3, 8, 8)
    b.x += 1  # owned by numpy: writable, nothing freed under it
    with pytest.raises(mlcl.ClosedError):
        ld.next()
    with pytest.raises(mlcl.ClosedError):
        ld.position()
    ld.close()  # twice: no-op
    il.close()
    # a loader keeps its list alive when the caller drops it
    ld = mlcl.Loader(mlcl.ImageList.from_arrays(paths, labels), batch=3, size=4, threads=1)
    gc.collect()
    assert len(ld.next()) == 3
    ld.close()


def test_trainer_from_loaders(pngs):
    paths, labels, m = pngs
    il = mlcl.ImageList.load_csv(m)
    lp = mlcl.Loader(il, batch=4, size=16, views=2, seed=1, threads=2,
                     simclr=dict(out_h=16, out_w=16))
    lf = mlcl.Loader(il, batch=4, size=16, views=0, seed=2, threads=2)
    bb = mlcl.Encoder.resnet(18, stem="small", in_channels=3, height=16, width=16, base_width=4)
    opts = mlcl.train_options(batch=4, seed=3, moco=dict(queue_size=8, proj_dim=8),
                              pretrain=dict(epochs=1, lr=1e-3), finetune=dict(epochs=1))
    t = mlcl.Trainer.from_loaders(lp, lf, options=opts, backbone=bb)
    bb.close()  # copied by the trainer
    with pytest.raises(mlcl.BusyError, match="Trainer"):
        lp.next()  # borrowed by the trainer
    with pytest.raises(mlcl.BusyError, match="Trainer"):
        lf.close()
    with pytest.raises(mlcl.BusyError, match="borrowed"):
        mlcl.Trainer.from_loaders(lp, lf, options=opts)
    del lp, lf
    gc.collect()  # the trainer keeps its loaders alive
    t.run()
    assert t.position[0] >= 2
    imgs = np.stack([mlcl.image.resize_crop(mlcl.image.read(p, channels=3), 16) for p in paths])
    scores = t.predict(imgs)  # raw [0, 1] images: the trainer normalises them
    assert scores.shape == (N_IMAGES, N_LABELS)
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
    assert np.array_equal(t.predict(imgs.reshape(N_IMAGES, -1)), scores)
    assert t.distributions(imgs).shape == (N_IMAGES, N_LABELS)
    loaders = t._loaders
    t.close()
    # the loaders are usable again after the trainer is closed
    lf = loaders[1]
    assert lf.position() == (1, 0)  # the trainer read one fine-tuning epoch
    assert len(lf.next()) == 4
    for ld in loaders:
        ld.close()
    il.close()
    # mismatches are refused, naming them
    il = mlcl.ImageList.from_arrays(paths, labels)
    with mlcl.Loader(il, batch=5, size=16, threads=1) as lf:
        with pytest.raises(mlcl.MlclError, match="pretrain is NULL"):
            mlcl.Trainer.from_loaders(None, lf, options=opts)
        with pytest.raises(mlcl.MlclError, match="batch 5"):
            mlcl.Trainer.from_loaders(None, lf, method="none", batch=4, finetune=dict(epochs=1))
        # no pretraining: a fine-tuning loader alone
        with mlcl.Trainer.from_loaders(None, lf, method="none", batch=5, seed=1,
                                       finetune=dict(epochs=2)) as t:
            t.run()
            assert t.predict(imgs[:, :, :16, :16]).shape == (N_IMAGES, N_LABELS)
        assert lf.position() == (2, 0)
    with pytest.raises(ValueError, match="loader"):
        mlcl.Trainer.from_loaders(None, None, options=opts)
    il.close()
