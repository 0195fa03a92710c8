"""python3 -m mlcl.train takes the flags of mlcl-train's table (issue 14):
the generated table (mlcl/_train_flags.py) is the binary's ``--help-json``;
the argument parser accepts exactly its flags, less the ones listed in
mlcl.train.OMITTED with a reason, each with the same type, range or choices;
the flags passed through run as mlcl-train runs them."""
import argparse
import json
import math
import os
import subprocess

import numpy as np
import pytest

import mlcl
from conftest import REPO, run_py
from mlcl import train as twin
from mlcl import _train_flags


def _c_program():
    for p in (os.environ.get("MLCL_TRAIN_BIN"), os.path.join(REPO, "bin", "mlcl-train")):
        if p and os.access(p, os.X_OK):
            return p
    pytest.skip("bin/mlcl-train not built (run make)")


@pytest.fixture(scope="module")
def table():
    r = subprocess.run([_c_program(), "--help-json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _actions():
    p = twin._parser()
    return p, {o: a for a in p._actions for o in a.option_strings}


def _refused(parse, value):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(value)


def test_generated_table_is_the_binarys(table):
    assert table["program"] == "mlcl-train"
    assert _train_flags.FLAGS == table["flags"], (
        "bindings/python/mlcl/_train_flags.py is stale: /usr/bin/python3 examples/cli/python_flags.py "
        "bin/mlcl-train > bindings/python/mlcl/_train_flags.py")
    assert _train_flags.ALIASES == table["aliases"]
    names = [f["name"] for f in table["flags"]]
    assert len(names) == len(set(names)) and len(names) >= 70, len(names)


def test_parser_takes_exactly_the_table_less_the_omitted(table):
    names = {f["name"] for f in table["flags"]}
    omitted = twin.OMITTED
    assert set(omitted) <= names, "OMITTED names flags mlcl-train does not have: %s" % (set(omitted) - names)
    assert all(isinstance(v, str) and len(v) > 20 for v in omitted.values()), omitted
    _, actions = _actions()
    long_opts = {o for o in actions if o.startswith("--")}
    assert long_opts == names - set(omitted), (sorted(long_opts - names), sorted(names - set(omitted) - long_opts))
    for alias, target in table["aliases"].items():
        assert actions[alias] is actions[target], alias
    # no flag is accepted and then ignored: mlcl/train.py reads every one it takes
    # (as args.NAME, or by its name in a getattr(args, ...) loop)
    src = open(twin.__file__).read()
    unused = [o for o in long_opts if o != "--help" and "args.%s" % actions[o].dest not in src
              and '"%s"' % actions[o].dest not in src]
    assert not unused, "accepted but never read: %s" % unused
    # the twin's own --help-json: the same table, with the omitted flags and their reasons
    r = run_py(["-m", "mlcl.train", "--help-json"], timeout=60)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [f["name"] for f in doc["flags"]] == [f["name"] for f in table["flags"] if f["name"] not in omitted]
    assert {o["name"]: o["reason"] for o in doc["omitted"]} == omitted


def test_types_ranges_and_choices_match(table):
    _, actions = _actions()
    checked = set()
    for f in table["flags"]:
        if f["name"] in twin.OMITTED:
            continue
        a, t = actions[f["name"]], f["type"]
        checked.add(t)
        if t == "bool":
            assert a.nargs == 0, f["name"]  # store_true (or --help)
            continue
        assert a.nargs is None, f["name"]  # one value
        if t == "choice":
            assert list(a.choices) == f["choices"], f["name"]
        elif t == "int":
            lo, hi = f["min"], f["max"]
            assert a.type(str(lo)) == lo and a.type(str(hi)) == hi, f["name"]
            for bad in (str(lo - 1), str(hi + 1), "2.5", "1e3", "", "x"):
                _refused(a.type, bad)
        elif t == "float":
            lo, hi = f["min"], f["max"]
            assert a.type(repr(lo)) == lo and a.type(repr(hi)) == hi, f["name"]
            for bad in (repr(lo - max(1e-9, abs(lo) * 1e-6)), repr(hi + max(1e-9, abs(hi) * 1e-6)), "nan", "inf", "x"):
                _refused(a.type, bad)
        elif t == "uint64":
            assert a.type("0") == 0 and a.type(str(2 ** 64 - 1)) == 2 ** 64 - 1
            for bad in ("-1", str(2 ** 64), "1.5"):
                _refused(a.type, bad)
        elif t == "schedule":
            (t0, tm, em) = f["items"]
            assert a.type("%d,%d,%r" % (t0["min"], tm["max"], em["max"])) == (t0["min"], tm["max"], em["max"])
            for bad in ("%d,1,0" % (t0["min"] - 1), "1,%d,0" % (tm["max"] + 1), "1,1,%r" % (em["max"] * 2), "1,2", "1,2,3,4"):
                _refused(a.type, bad)
        elif t == "int_list":
            assert a.type("%d,%d" % (f["min"], f["max"])) == [f["min"], f["max"]]
            _refused(a.type, str(f["min"] - 1))
            _refused(a.type, ",".join(["4"] * (f["max_items"] + 1)))
        elif t == "pair":
            assert a.type("images,labels") == ("images", "labels")
            for bad in ("images", ",y", "x,", "a,b,c"):
                _refused(a.type, bad)
        elif t == "name_list":
            assert a.type("a,b") == "a,b"
            for bad in ("", ",a", "a,", "a,,b"):
                _refused(a.type, bad)
        else:  # paths and text: any non-empty value
            assert t in ("file_in", "file_out", "dir_in", "dir_out", "text"), t
            assert a.type("x") == "x"
            _refused(a.type, "")
    assert {"bool", "choice", "int", "float", "uint64", "schedule", "int_list", "pair", "name_list",
            "file_in", "file_out", "text"} <= checked, checked
    # argparse ends the program with status 2, naming the value
    r = run_py(["-m", "mlcl.train", "--batch", "1"], timeout=60)
    assert r.returncode == 2 and "'1' is not an integer in [2, 1000000]" in r.stderr, r.stderr


def test_flags_passed_through_run_as_in_mlcl_train(yeast_paths, tmp_path):
    """--pretrain-sched, --finetune-sched, --force-threads and --save-model,
    new in the twin: the same metrics as mlcl-train, a model that loads."""
    common = ["--train", yeast_paths[0], "--test", yeast_paths[1], "--pretrain-epochs", "2",
              "--finetune-epochs", "2", "--seed", "5", "--pretrain-sched", "1,2,1e-5",
              "--finetune-sched", "1,1,0.0001", "--threads", "1", "--force-threads", "--quiet"]
    cj, pj, model = tmp_path / "c.json", tmp_path / "p.json", tmp_path / "p.mlcl"
    r = subprocess.run([_c_program()] + common + ["--json", str(cj)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    r = run_py(["-m", "mlcl.train"] + common + ["--json", str(pj), "--save-model", str(model)], timeout=300)
    assert r.returncode == 0, r.stderr
    c, p = json.loads(cj.read_text())["metrics"], json.loads(pj.read_text())["metrics"]
    for prot in ("paper", "t05"):
        for k in ("HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP"):
            assert math.isclose(p[prot][k], c[prot][k], abs_tol=2e-6), (prot, k, p[prot][k], c[prot][k])
    m = mlcl.Model.load(str(model))
    assert list(m.label_names) == ["Class%d" % j for j in range(1, 15)], m.label_names
    assert m.predict(np.zeros((2, 103), np.float32)).shape == (2, 14)
    # the schedules reached the trainer: without them the metrics differ
    r = subprocess.run([_c_program()] + [a for a in common if "," not in a and "sched" not in a] +
                       ["--json", str(cj)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(cj.read_text())["metrics"]["paper"] != c["paper"]


@pytest.mark.parametrize("kind", ["npz-keys", "csv-label-prefix", "libsvm-sparse-index-base"])
def test_data_flags_passed_through(kind, tmp_path):
    """--npz-keys, --format csv with --label-prefix, --sparse with --index-base
    (new in the twin) read the data as mlcl-train does: the same table."""
    rng = np.random.default_rng(0)
    x = rng.random((160, 6)).astype(np.float32)
    y = (x[:, :3] > 0.5).astype(np.uint8)
    if kind == "npz-keys":
        path = tmp_path / "d.npz"
        np.savez(path, feats=x, labs=y)
        extra = ["--npz-keys", "feats,labs"]
    elif kind == "csv-label-prefix":
        path = tmp_path / "d.csv"
        rows = [",".join(["f%d" % i for i in range(6)] + ["lab_a", "lab_b", "lab_c"])]
        rows += [",".join(["%.5f" % v for v in a] + ["%d" % v for v in b]) for a, b in zip(x, y)]
        path.write_text("\n".join(rows) + "\n")
        extra = ["--format", "csv", "--label-prefix", "lab_"]
    else:
        path = tmp_path / "d.svm"
        path.write_text("".join(",".join(str(j) for j in np.nonzero(b)[0]) + " " +
                                " ".join("%d:%.5f" % (i, v) for i, v in enumerate(a) if v > 0.3) + "\n"
                                for a, b in zip(x, y)))
        extra = ["--sparse", "--index-base", "0"]
    common = ["--train", str(path), "--test", str(path), "--pretrain-epochs", "1", "--finetune-epochs", "1",
              "--batch", "32", "--queue", "64", "--threads", "1", "--quiet"] + extra
    c = subprocess.run([_c_program()] + common, capture_output=True, text=True, timeout=120)
    p = run_py(["-m", "mlcl.train"] + common, timeout=120)
    assert c.returncode == 0 and p.returncode == 0, (c.stderr, p.stderr)
    table = [line for line in c.stdout.splitlines() if line.startswith(("paper protocol", "threshold 0.5"))]
    assert len(table) == 2 and table == [line for line in p.stdout.splitlines()
                                         if line.startswith(("paper protocol", "threshold 0.5"))], (c.stdout, p.stdout)
