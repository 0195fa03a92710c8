"""Build steps pyproject.toml cannot express: the version read from the C
header, and a copy of the built library inside the package.

When ../../lib/libmlcl.so.1 exists (the source tree after `make`), it is
copied into the package as mlcl/libmlcl.so.1 (the wheel is then tagged for
this platform), so the installed package finds its library from any folder
with no LD_LIBRARY_PATH or ldconfig. Set MLCL_BUNDLE_LIBRARY=0 to leave it
out: the package then loads the system's libmlcl.so.1 (`make install`) or
$MLCL_LIBRARY (mlcl/_lib.py lists the search order).
"""

import os
import re
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.normpath(os.path.join(HERE, "..", ".."))
SONAME = "libmlcl.so.1"


def version():
    """MLCL_VERSION_MAJOR.MINOR.PATCH from include/mlcl/core.h."""
    try:
        with open(os.path.join(TREE, "include", "mlcl", "core.h")) as f:
            text = f.read()
    except OSError:
        return "1.0.0"
    parts = []
    for k in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"#define\s+MLCL_VERSION_%s\s+(\d+)" % k, text)
        if m is None:
            raise RuntimeError("setup.py: MLCL_VERSION_%s not found in include/mlcl/core.h" % k)
        parts.append(m.group(1))
    return ".".join(parts)


def built_library():
    if os.environ.get("MLCL_BUNDLE_LIBRARY", "1") == "0":
        return None
    p = os.path.join(TREE, "lib", SONAME)
    return os.path.realpath(p) if os.path.isfile(p) else None


class BuildPy(build_py):
    def run(self):
        super().run()
        lib = built_library()
        if lib is not None:
            dst = os.path.join(self.build_lib, "mlcl", SONAME)
            shutil.copyfile(lib, dst)
            os.chmod(dst, 0o755)
            self.announce("mlcl: bundled %s as %s" % (lib, dst), level=2)


class MaybeBinaryDistribution(Distribution):
    def has_ext_modules(self):
        # a bundled shared library makes the wheel platform-specific
        return built_library() is not None


setup(version=version(), cmdclass={"build_py": BuildPy}, distclass=MaybeBinaryDistribution)
