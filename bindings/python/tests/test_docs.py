"""docs/python.md runs as written: every ```python block of the page, in the
page's order, each in its own interpreter (as a user pasting it into a
script would run it), all in one temporary folder so that a block can read
the files an earlier block wrote. The data folder the page uses,
``../shared/data``, is replaced by the one the tests use (MLCL_DATA_DIR).

A block is skipped, with the reason, only when it needs something absent:
PyTorch or scikit-learn not installed, or (Model.export) a library built
without the exporter the block calls."""
import os
import re
import subprocess
import sys

import pytest

import mlcl._lib
from conftest import REPO, data_dir, python_env

DOC = os.path.join(REPO, "docs", "python.md")
DOC_DATA = "../shared/data"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _blocks():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    out = []
    for m in _BLOCK.finditer(text):
        out.append((text.count("\n", 0, m.start()) + 2, m.group(1)))  # line of the first code line
    return out


BLOCKS = _blocks()
_RESULTS = {}


def _importable(mod):
    r = subprocess.run([sys.executable, "-c", "import " + mod], capture_output=True)
    return r.returncode == 0


def _needs(code):
    """The reason to skip the block, or None."""
    for mod, pkg in (("torch", "PyTorch (python3-torch)"), ("sklearn", "scikit-learn (python3-sklearn)")):
        if re.search(r"^\s*(import|from)\s+%s\b" % mod, code, re.M) and not _importable(mod):
            return "%s is not installed" % pkg
    if DOC_DATA in code and data_dir() is None:
        return "the Yeast data is not found (set MLCL_DATA_DIR)"
    return None


def _run(i, folder):
    """Runs blocks 0..i (each once) in ``folder``; returns block i's result."""
    for j in range(i + 1):
        if j in _RESULTS:
            continue
        line, code = BLOCKS[j]
        skip = _needs(code)
        if skip is not None:
            _RESULTS[j] = ("skip", skip)
            continue
        code = code.replace(DOC_DATA, (data_dir() or DOC_DATA).replace("\\", "\\\\"))
        r = subprocess.run([sys.executable, "-c", code], cwd=str(folder), env=python_env(),
                           capture_output=True, text=True, timeout=600)
        _RESULTS[j] = ("ran", r)
    return _RESULTS[i]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("docs_python_md")


def test_the_page_has_its_examples():
    assert len(BLOCKS) >= 7, "docs/python.md has %d python blocks" % len(BLOCKS)
    text = "".join(code for _, code in BLOCKS)
    for what in ("mlcl.Model.load(", ".predict(", "export_model(", "MulSupConClassifier(",
                 "cross_val_score(", ".export("):
        assert what in text, "no python example of %s in docs/python.md" % what
    # examples read data only from the folder the test substitutes
    for line, code in BLOCKS:
        for path in re.findall(r"[\"']([^\"']*\.arff(?:\.gz)?)[\"']", code):
            assert path.startswith(DOC_DATA + "/") or "/" not in path, \
                "docs/python.md line %d reads %s, not from %s" % (line, path, DOC_DATA)


@pytest.mark.parametrize("i", range(len(BLOCKS)), ids=["line%d" % line for line, _ in BLOCKS])
def test_block_runs_as_written(i, folder):
    line, code = BLOCKS[i]
    kind, r = _run(i, folder)
    if kind == "skip":
        pytest.skip("docs/python.md line %d: %s" % (line, r))
    if r.returncode != 0 and ".export(" in code:
        missing = [sym for ext, sym in mlcl._lib.MODEL_EXPORTERS.items()
                   if ext in code and not hasattr(mlcl._lib.lib, sym)]
        if missing and "NotImplementedError" in r.stderr and any(s in r.stderr for s in missing):
            pytest.skip("docs/python.md line %d: the library has no %s" % (line, ", ".join(missing)))
    assert r.returncode == 0, "docs/python.md, the block at line %d failed:\n%s\n%s" % (
        line, r.stdout[-2000:], r.stderr[-4000:])
