#!/usr/bin/python3
"""Writes the small .npy/.npz fixtures of tests/test_npy.c byte by byte
(standard library only, no numpy), so the core tests never need numpy.
Run from this directory: /usr/bin/python3 make_fixtures.py"""
import struct
import zipfile


def npy(descr, shape, payload, major=1, fortran=False):
    shp = "(" + "".join("%d, " % s for s in shape).rstrip(" ") + ")" if len(shape) != 1 else "(%d,)" % shape[0]
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shp)
    pre = 10 if major == 1 else 12
    pad = (64 - (pre + len(d) + 1) % 64) % 64
    h = (d + " " * pad + "\n").encode("latin1")
    if major == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + payload
    return b"\x93NUMPY" + bytes([major, 0]) + struct.pack("<I", len(h)) + h + payload


F4 = npy("<f4", (2, 3), struct.pack("<6f", 0.0, 0.5, 1.0, 0.25, 0.75, -2.0))
U1 = npy("|u1", (2, 1, 2, 2), bytes([0, 255, 51, 102, 153, 204, 0, 255]), major=2)
B1 = npy("|b1", (2, 3), bytes([1, 0, 1, 0, 1, 0]))
I8 = npy(">i8", (3,), struct.pack(">3q", -1, 0, 7), major=3)
FORTRAN = npy("<f4", (2, 2), struct.pack("<4f", 1, 2, 3, 4), fortran=True)

files = {"f4_v1.npy": F4, "u1_v2.npy": U1, "b1_labels.npy": B1, "i8_be_v3.npy": I8,
         "fortran.npy": FORTRAN}
for name, data in files.items():
    with open(name, "wb") as f:
        f.write(data)
for name, method in (("stored.npz", zipfile.ZIP_STORED), ("deflated.npz", zipfile.ZIP_DEFLATED)):
    with zipfile.ZipFile(name, "w", method) as z:
        z.writestr("x.npy", U1)
        z.writestr("y.npy", B1)
