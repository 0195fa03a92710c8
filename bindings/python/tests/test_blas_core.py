"""The bindings choose OpenBLAS's kernels on CPUs OpenBLAS does not know
(mlcl/_lib.py _blas_core): each case runs in a fresh interpreter, since
OpenBLAS picks its kernels once per process."""
import os
import subprocess
import sys

import pytest

from mlcl import _lib

PROBE = ("import ctypes\n"
         "b = ctypes.CDLL('libopenblas.so.0'); b.openblas_get_corename.restype = ctypes.c_char_p\n"
         "print(b.openblas_get_corename().decode())\n")


def run(code, **env_set):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env.update(env_set)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.path.dirname(os.path.dirname(_lib.__file__)),
                                                   env.get("PYTHONPATH", "")] if p)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip(), r.stderr


def native_core():
    return run(PROBE)[0]


def test_unknown_cpu_gets_its_kernels():
    native, want = native_core(), _lib._cpu_core()
    out, err = run("import mlcl; print(mlcl.blas_core())")
    if native.lower() == "prescott" and want:
        assert out == want, (native, out, err)
    else:
        assert out == native, (native, out, err)  # nothing changed where OpenBLAS knows the CPU


def test_set_coretype_is_respected():
    out, _ = run("import mlcl; print(mlcl.blas_core())", OPENBLAS_CORETYPE="Prescott")
    assert out == "Prescott"


def test_openblas_loaded_first_warns():
    native, want = native_core(), _lib._cpu_core()
    if not (native.lower() == "prescott" and want):
        pytest.skip("OpenBLAS knows this CPU (%s): nothing to warn about" % native)
    out, err = run("import ctypes, warnings\n"
                   "ctypes.CDLL('libopenblas.so.0')\n"
                   "warnings.simplefilter('always')\n"
                   "import mlcl; print(mlcl.blas_core())")
    assert out == "Prescott"
    assert "OPENBLAS_CORETYPE=%s" % want in err and "RuntimeWarning" in err
