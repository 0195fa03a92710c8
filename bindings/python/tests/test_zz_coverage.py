"""Runs last: every C function the package declares was called by the suite."""
import glob
import os
import re

import pytest

import mlcl._lib
from conftest import CALLED, HERE, MODULES_RUN, REPO

# C exports the package deliberately does not declare, and why
NOT_WRAPPED = {
    "mlcl_set_allocator": "C function pointers called from the library's threads: "
                          "a Python allocator would run inside the kernels",
    "mlcl_allocator_init": "mlcl_set_allocator is not wrapped (its struct's initialiser neither)",
    "mlcl_trainer_export_model": "Trainer.export_model uses mlcl_trainer_export_model_ex",
    "mlcl_model_predict": "Model.predict uses mlcl_model_infer with pooled workspaces",
    "mlcl_model_predict_labels": "Model.predict_labels uses mlcl_model_infer",
    "mlcl_model_embed": "Model.embed uses mlcl_model_infer",
    "mlcl_model_distributions": "Model.distributions uses mlcl_model_infer",
    "mlcl_trainer_in_use": "the Python handles keep their own busy state (BusyError)",
    "mlcl_image_list_label_name": "used by mlcl-train --stream; the Python ImageList does not expose label names yet",
}


def test_every_declared_function_was_called():
    mods = {os.path.basename(p) for p in glob.glob(os.path.join(HERE, "test_*.py"))}
    mods.discard("test_zz_coverage.py")
    if not mods <= MODULES_RUN:
        pytest.skip("only part of the suite ran (%s missing)" % ", ".join(sorted(mods - MODULES_RUN)))
    never = sorted(set(mlcl._lib._PROTOS) - CALLED)
    assert never == [], "declared but never called by the tests: %s" % never


def test_every_c_export_is_declared():
    """Every MLCL_API function of include/mlcl/*.h is declared by the package
    (so the test above checks that it is called), looked up as an optional
    exporter, or listed in NOT_WRAPPED with a reason."""
    exported = set()
    for h in glob.glob(os.path.join(REPO, "include", "mlcl", "*.h")):
        text = open(h, encoding="utf-8").read()
        exported |= set(re.findall(r"MLCL_API\s[^;{]*?\b(mlcl_\w+)\s*\(", text))
    assert len(exported) > 150, "the header scan found only %d functions" % len(exported)
    declared = set(mlcl._lib._PROTOS) | set(mlcl._lib.MODEL_EXPORTERS.values())
    declared |= {"mlcl_status_str", "mlcl_last_error"}  # declared by hand in _lib
    missing = sorted(exported - declared - set(NOT_WRAPPED))
    assert missing == [], "C exports the Python package does not declare: %s" % missing
    stale = sorted(set(NOT_WRAPPED) - exported)
    assert stale == [], "NOT_WRAPPED names functions the headers no longer export: %s" % stale
