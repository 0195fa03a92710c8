import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYROOT = os.path.dirname(HERE)                      # bindings/python
REPO = os.path.dirname(os.path.dirname(PYROOT))     # the libmlcl source tree


def data_dir():
    for d in (os.environ.get("MLCL_DATA_DIR"), os.path.join(REPO, "..", "shared", "data"),
              "/work/shared/data"):
        if d and os.path.exists(os.path.join(d, "yeast-train.arff.gz")):
            return os.path.abspath(d)
    return None


@pytest.fixture(scope="session")
def yeast_paths():
    d = data_dir()
    if d is None:
        pytest.skip("Yeast data not found (set MLCL_DATA_DIR)")
    return os.path.join(d, "yeast-train.arff.gz"), os.path.join(d, "yeast-test.arff.gz")


@pytest.fixture(scope="session")
def yeast(yeast_paths):
    import mlcl
    return mlcl.Dataset.load_arff(yeast_paths[0]), mlcl.Dataset.load_arff(yeast_paths[1])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def python_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PYROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_py(args, **kw):
    return subprocess.run([sys.executable] + args, env=python_env(), capture_output=True,
                          text=True, **kw)


def have_cc():
    return shutil.which("cc") is not None or shutil.which("gcc") is not None


# ------------------------------------------------ "every wrapped function is called"
import mlcl._lib as _mlcl_lib  # noqa: E402

CALLED = set()
MODULES_RUN = set()


def _counting(name, f):
    def wrapper(*a, **k):
        CALLED.add(name)
        return f(*a, **k)
    wrapper.__name__ = name
    return wrapper


for _n in list(_mlcl_lib._PROTOS):
    setattr(_mlcl_lib.C, _n, _counting(_n, getattr(_mlcl_lib.C, _n)))


@pytest.fixture(autouse=True)
def _record_module(request):
    MODULES_RUN.add(os.path.basename(str(request.node.fspath)))
    yield
