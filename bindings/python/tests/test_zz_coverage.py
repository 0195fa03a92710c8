"""Runs last: every C function the package declares was called by the suite."""
import glob
import os

import pytest

import mlcl._lib
from conftest import CALLED, HERE, MODULES_RUN


def test_every_declared_function_was_called():
    mods = {os.path.basename(p) for p in glob.glob(os.path.join(HERE, "test_*.py"))}
    mods.discard("test_zz_coverage.py")
    if not mods <= MODULES_RUN:
        pytest.skip("only part of the suite ran (%s missing)" % ", ".join(sorted(mods - MODULES_RUN)))
    never = sorted(set(mlcl._lib._PROTOS) - CALLED)
    assert never == [], "declared but never called by the tests: %s" % never
