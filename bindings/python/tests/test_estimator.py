"""mlcl.MulSupConClassifier: fit/predict_proba/predict, parameters, sklearn's
clone and cross_val_score with multi-label scorers, and use without sklearn."""
import pickle

import numpy as np
import pytest

import mlcl
from conftest import run_py

FAST = dict(preset="yeast", pretrain_epochs=2, finetune_epochs=2, seed=4)


@pytest.fixture(scope="module")
def xy(yeast):
    tr, te = yeast
    return tr.features, tr.labels, te.features, te.labels


def test_fit_predict(xy):
    x, y, xt, yt = xy
    est = mlcl.MulSupConClassifier(thresholds=0.4, label_names=["L%d" % j for j in range(14)],
                                   **FAST)
    assert est.fit(x, y) is est
    m = est.model_
    assert isinstance(m, mlcl.Model)
    assert (est.n_features_in_, est.n_labels_) == (103, 14)
    assert est.label_names_[3] == "L3" and len(est.classes_) == 14
    p = est.predict_proba(xt)
    assert p.shape == (917, 14) and p.dtype == np.float32
    assert np.array_equal(p, m.predict(xt))
    assert np.allclose(m.thresholds, 0.4)
    assert np.array_equal(est.predict(xt), (p >= np.float32(0.4)).astype(np.uint8))
    assert est.transform(xt).shape == (917, 256)
    # the same run as mlcl.Trainer with the same options
    with mlcl.Dataset.from_arrays(x, y) as ds, \
            mlcl.Trainer(ds, preset="yeast", seed=4, method="cld", pretrain=dict(epochs=2),
                         finetune=dict(epochs=2)) as t:
        t.run()
        assert np.array_equal(t.predict(xt), p)
    # better than chance: the label frequencies as scores
    ap = mlcl.compute_metrics(p, yt)["mAP"]
    prior = np.tile(y.mean(axis=0, dtype=np.float32), (len(yt), 1))
    assert ap > mlcl.compute_metrics(prior, yt)["mAP"] + 0.02
    # a fitted estimator pickles (the model travels as its file's bytes)
    est2 = pickle.loads(pickle.dumps(est))
    assert np.array_equal(est2.predict_proba(xt[:10]), est.predict_proba(xt[:10]))
    # refitting replaces model_; whoever holds the previous model keeps a working one
    old = est.model_
    est.set_params(pretrain_epochs=1, finetune_epochs=1).fit(x[:300], y[:300])
    assert est.model_ is not old and not old.closed
    assert np.array_equal(old.predict(xt), p)


def test_fit_rejects_bad_input(xy):
    x, y, _, _ = xy
    est = mlcl.MulSupConClassifier(**FAST)
    with pytest.raises(ValueError, match="indicator matrix"):
        est.fit(x, y[:, 0])
    with pytest.raises(ValueError, match="only 0 and 1"):
        est.fit(x, y * 2)
    with pytest.raises(ValueError, match="rows"):
        est.fit(x[:10], y[:11])
    bad = x[:100].copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad, y[:100])
    with pytest.raises(mlcl.InvalidArgument, match="epochs"):
        mlcl.MulSupConClassifier(pretrain_epochs=-1).fit(x[:100], y[:100])
    with pytest.raises(ValueError, match="method"):
        mlcl.MulSupConClassifier(method="nope").fit(x[:100], y[:100])
    with pytest.raises(TypeError, match="unknown option 'nope'"):
        mlcl.MulSupConClassifier(nope=1)
    with pytest.raises(Exception, match="not fitted"):
        mlcl.MulSupConClassifier().predict(x[:3])


def test_params_and_clone():
    sklearn_base = pytest.importorskip("sklearn.base")
    moco = dict(queue_size=128)
    est = mlcl.MulSupConClassifier(method="rld", finetune_lr=1e-3, moco=moco)
    p = est.get_params()
    assert p["method"] == "rld" and p["finetune_lr"] == 1e-3 and p["moco"] is moco
    assert p["preset"] is None and p["pretrain_epochs"] is None
    c = sklearn_base.clone(est)
    assert c is not est and c.get_params() == p
    est.set_params(finetune_epochs=3, standardize=0)
    assert est.finetune_epochs == 3 and est.get_params()["standardize"] == 0
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(bogus=1)
    kw = est._train_kwargs()
    assert kw["method"] == "rld" and kw["finetune"] == {"epochs": 3, "lr": 1e-3}
    assert kw["moco"] == {"queue_size": 128} and kw["standardize"] == 0
    est.set_params(queue_size=64)
    assert est._train_kwargs()["moco"] == {"queue_size": 64}
    assert moco == {"queue_size": 128}  # the caller's dict is not modified
    assert "MulSupConClassifier(" in repr(est) and "method='rld'" in repr(est)


def test_cross_val_score(xy):
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.metrics import average_precision_score, make_scorer
    from sklearn.model_selection import KFold, cross_val_score
    x, y, _, _ = xy
    est = mlcl.MulSupConClassifier(**FAST)
    scorer = make_scorer(average_precision_score, average="macro", needs_proba=True)
    scores = cross_val_score(est, x, y, cv=2, scoring=scorer)
    assert scores.shape == (2,)
    # the scores are those of the folds fitted by hand (seeded: exactly)
    train, test = next(iter(KFold(2).split(x)))
    manual = clone(est).fit(x[train], y[train])
    assert scores[0] == average_precision_score(y[test], manual.predict_proba(x[test]),
                                                average="macro")
    prior = np.tile(y[train].mean(axis=0), (len(test), 1))
    assert scores[0] > average_precision_score(y[test], prior, average="macro") + 0.02
    # a scorer that calls predict(): micro F1 of the 0/1 decisions
    f1 = cross_val_score(est, x, y, cv=2, scoring="f1_micro")
    assert np.all((f1 > 0.35) & (f1 < 1.0))


def test_without_sklearn(yeast_paths):
    code = r"""
import sys
sys.modules["sklearn"] = None  # as if not installed
import numpy as np, mlcl
from mlcl import estimator
assert not estimator.HAVE_SKLEARN
d = mlcl.Dataset.load_arff(sys.argv[1])
x, y = d.features[:300], d.labels[:300]
est = mlcl.MulSupConClassifier(pretrain_epochs=1, finetune_epochs=1, batch=64, seed=1)
assert est.get_params()["batch"] == 64
est.set_params(batch=32)
est.fit(x, y)
p = est.predict_proba(x)
assert p.shape == (300, 14)
assert np.array_equal(est.predict(x), (p >= 0.5).astype(np.uint8))
assert 0.0 <= est.score(x, y) <= 1.0
try:
    est.set_params(bogus=1)
except ValueError as e:
    assert "bogus" in str(e)
else:
    raise AssertionError("bogus accepted")
print("ok", est)
"""
    r = run_py(["-c", code, yeast_paths[0]])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok MulSupConClassifier(")
