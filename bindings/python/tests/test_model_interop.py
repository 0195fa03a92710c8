"""Models leaving libmlcl for the PyTorch and ONNX worlds (issue 13, item 3).

A tiny Yeast MLP and a tiny ResNet-18 (small stem) are trained with
bin/mlcl-train, scored with bin/mlcl-predict and exported with
`mlcl-predict --export`. Then, independently of libmlcl:

* safetensors: the file is parsed here with numpy (8-byte length, JSON
  header, raw little-endian data), loaded with load_state_dict(strict=True)
  into the equivalent PyTorch module of docs/models.md, and its outputs must
  equal mlcl-predict's within 1e-5;
* ONNX: onnx.checker, then the graph is evaluated by a small numpy (float64)
  interpreter of its operators written below (Debian's onnx 1.12 has no
  onnx.reference), again within 1e-5 of mlcl-predict;
* import: a torchvision-layout ResNet-18 state written by torch (through the
  numpy writer below) is imported with mlcl_model_import_safetensors and must
  reproduce torch's forward output.

Tests needing torch or onnx skip with a message when they are missing.
"""
import ctypes
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.normpath(os.path.join(HERE, "..", "..", "..", "bin"))
sys.path.insert(0, HERE)

try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the machine
    torch = None
try:
    import onnx
    from onnx import numpy_helper
except ImportError:  # pragma: no cover
    onnx = None

TOL = 1e-5


def need_torch():
    if torch is None:
        pytest.skip("PyTorch (python3-torch) is not installed: safetensors checks against torch skipped")


def need_onnx():
    if onnx is None:
        pytest.skip("onnx (python3-onnx) is not installed: ONNX checks skipped")


def run(*args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert p.returncode == 0, "%s failed (%d):\n%s%s" % (args[0], p.returncode, p.stdout, p.stderr)
    return p


def tool(name):
    path = os.path.join(BIN, name)
    if not os.access(path, os.X_OK):
        pytest.skip("%s is not built (make)" % path)
    return path


# ------------------------------------------------------------------ safetensors with numpy

DT = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "F16": "<f2", "U8": "u1"}


def read_safetensors(path):
    """{name: array}, metadata — the format parsed by hand."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    assert 8 + n <= len(raw)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out, spans = {}, []
    for name, e in header.items():
        b, end = e["data_offsets"]
        assert 0 <= b <= end <= len(data)
        a = np.frombuffer(data[b:end], dtype=DT[e["dtype"]]).reshape(e["shape"])
        out[name] = a
        spans.append((b, end))
    spans.sort()
    pos = 0
    for b, end in spans:  # the tensors tile the data block
        assert b == pos
        pos = end
    assert pos == len(data)
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """The writer side of the same format (what safetensors.torch.save_file does)."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    inv = {v: k for k, v in DT.items()}
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder not in "|" else a.dtype
        b = a.astype(dt).tobytes()
        header[name] = {"dtype": inv[dt.str], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


# ------------------------------------------------------------------ the equivalent PyTorch module

def parse_arch(text):
    """'backbone: Linear(103,256) ReLU Dropout(0.2) ...; head: Linear(256,14)' -> layer tuples."""
    body = text.split("backbone:")[1].split("; head:")[0]
    layers, tok, depth = [], "", 0
    for ch in body:
        depth += (ch == "(") - (ch == ")")
        if ch == " " and depth == 0:
            if tok:
                layers.append(tok)
            tok = ""
        else:
            tok += ch
    if tok:
        layers.append(tok)
    return layers


def build_backbone(tokens):
    from torch_resnet import ResNet
    mods = []
    for t in tokens:
        name, _, args = t.partition("(")
        args = args.rstrip(")")
        if name == "Linear":
            a = args.split(",")
            mods.append(nn.Linear(int(a[0]), int(a[1]), bias="bias=False" not in args))
        elif name == "ReLU":
            mods.append(nn.ReLU())
        elif name == "Dropout":
            mods.append(nn.Dropout(float(args)))
        elif name == "BatchNorm1d":
            mods.append(nn.BatchNorm1d(int(args)))
        elif name == "L2Norm":
            mods.append(L2Norm())
        elif name == "Softmax":
            mods.append(nn.Softmax(dim=1))
        elif name.startswith("ResNet-"):
            # ResNet-18(small stem, 1x16x16, width 8, out 64)
            parts = [p.strip() for p in args.split(",")]
            stem = parts[0].split()[0]
            cin = int(parts[1].split("x")[0])
            width = int(parts[2].split()[1])
            mods.append(ResNet(int(name[7:]), stem, in_channels=cin, base_width=width))
        else:
            raise AssertionError("layer %s not covered by this test" % t)
    return mods[0] if len(mods) == 1 and isinstance(mods[0], nn.Module) and tokens[0].startswith("ResNet") \
        else nn.Sequential(*mods)


if torch is not None:
    class L2Norm(nn.Module):
        def forward(self, x):
            return F.normalize(x, dim=1, eps=1e-12)

    class Standardize(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.register_buffer("mean", torch.zeros(d))
            self.register_buffer("std", torch.ones(d))

        def forward(self, x):
            return (x - self.mean) / self.std

    class MLCLNet(nn.Module):
        """docs/models.md: the PyTorch module whose state_dict() keys the safetensors export uses."""

        def __init__(self, meta):
            super().__init__()
            d, c, h = (int(meta["mlcl.n_features"]), int(meta["mlcl.n_labels"]), int(meta["mlcl.embedding_dim"]))
            if meta["mlcl.standardized"] == "1":
                self.scaler = Standardize(d)
            else:
                self.scaler = None
            self.image = tuple(int(v) for v in meta["mlcl.image_shape"].split(",")) if "mlcl.image_shape" in meta else None
            self.net_input = tuple(int(v) for v in meta["mlcl.network_input"].split(",")) if self.image else None
            self.backbone = build_backbone(parse_arch(meta["mlcl.architecture"]))
            self.head = nn.Linear(h, c)
            self.register_buffer("thresholds", torch.full((c,), 0.5))

        def forward(self, x):
            if self.image:
                x = x.reshape(-1, *self.image)
                if self.net_input != self.image[1:]:
                    x = F.interpolate(x, size=self.net_input, mode="bilinear", align_corners=False)
            elif self.scaler is not None:
                x = self.scaler(x)
            e = self.backbone(x)
            logits = self.head(e)
            return torch.sigmoid(logits), e, torch.softmax(logits, dim=1)


def torch_outputs(st_path, x):
    tensors, meta = read_safetensors(st_path)
    net = MLCLNet(meta)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=True)
    net.eval()
    with torch.no_grad():
        s, e, p = net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return s.numpy(), e.numpy(), p.numpy(), net, tensors, meta


# ------------------------------------------------------------------ a numpy ONNX interpreter

def _conv(x, w, strides, pads):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    win = win[:, :, ::strides[0], ::strides[1]]
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True)


def _maxpool(x, k, strides, pads):
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(xp, tuple(k), axis=(2, 3))
    return win[:, :, ::strides[0], ::strides[1]].max(axis=(4, 5))


def _resize_linear_half_pixel(x, oh, ow):
    def axis_weights(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0
    y0, y1, wy = axis_weights(x.shape[2], oh)
    x0, x1, wx = axis_weights(x.shape[3], ow)
    top = x[:, :, y0][:, :, :, x0] * (1 - wx) + x[:, :, y0][:, :, :, x1] * wx
    bot = x[:, :, y1][:, :, :, x0] * (1 - wx) + x[:, :, y1][:, :, :, x1] * wx
    return top * (1 - wy)[:, None] + bot * wy[:, None]


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def onnx_eval(model, feeds):
    """Runs the graph in float64 with numpy; returns {output name: array}."""
    env = {k: np.asarray(v, dtype=np.float64) for k, v in feeds.items()}
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        env[t.name] = a.astype(np.float64) if a.dtype.kind == "f" else a
    seen = set()
    for node in model.graph.node:
        at = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        at = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in at.items()}
        x = [env[i] if i else None for i in node.input]
        op = node.op_type
        seen.add(op)
        if op == "Gemm":
            assert at.get("transA", 0) == 0 and at.get("alpha", 1.0) == 1.0 and at.get("beta", 1.0) == 1.0
            b = x[1].T if at.get("transB", 0) else x[1]
            y = x[0] @ b + (x[2] if len(x) > 2 and x[2] is not None else 0.0)
        elif op == "Relu":
            y = np.maximum(x[0], 0.0)
        elif op == "Sigmoid":
            y = 1.0 / (1.0 + np.exp(-x[0]))
        elif op == "Softmax":
            y = _softmax(x[0], at.get("axis", -1))
        elif op == "Sub":
            y = x[0] - x[1]
        elif op == "Div":
            y = x[0] / x[1]
        elif op == "Add":
            y = x[0] + x[1]
        elif op == "Max":
            y = np.maximum(x[0], x[1])
        elif op == "Identity":
            y = x[0]
        elif op == "ReduceL2":
            y = np.sqrt((x[0] ** 2).sum(axis=tuple(at["axes"]), keepdims=bool(at.get("keepdims", 1))))
        elif op == "BatchNormalization":
            shp = (1, -1) + (1,) * (x[0].ndim - 2)
            sc, bi, mu, var = (v.reshape(shp) for v in x[1:5])
            y = (x[0] - mu) / np.sqrt(var + at.get("epsilon", 1e-5)) * sc + bi
        elif op == "Conv":
            assert at.get("group", 1) == 1 and list(at.get("dilations", [1, 1])) == [1, 1]
            y = _conv(x[0], x[1], at.get("strides", [1, 1]), at.get("pads", [0, 0, 0, 0]))
            if len(x) > 2:
                y = y + x[2].reshape(1, -1, 1, 1)
        elif op == "MaxPool":
            y = _maxpool(x[0], at["kernel_shape"], at.get("strides", [1, 1]), at.get("pads", [0, 0, 0, 0]))
        elif op == "GlobalAveragePool":
            y = x[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            y = x[0].reshape(x[0].shape[0], -1)
        elif op == "Reshape":
            shape = [x[0].shape[i] if s == 0 else s for i, s in enumerate(x[1].astype(int))]
            y = x[0].reshape(shape)
        elif op == "Shape":
            y = np.array(x[0].shape, dtype=np.int64)
        elif op == "Slice":
            y = x[0][int(x[1][0]):int(x[2][0])]
        elif op == "Concat":
            y = np.concatenate(x, axis=at["axis"])
        elif op == "Resize":
            assert at["mode"] == "linear" and at["coordinate_transformation_mode"] == "half_pixel"
            sizes = x[3].astype(int)
            assert sizes[0] == x[0].shape[0] and sizes[1] == x[0].shape[1]
            y = _resize_linear_half_pixel(x[0], sizes[2], sizes[3])
        else:
            raise AssertionError("operator %s is not covered by this interpreter" % op)
        env[node.output[0]] = y
    return {o.name: env[o.name] for o in model.graph.output}, seen


def check_onnx(path, x, expect, ops_expected):
    need_onnx()
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    assert m.opset_import[0].version == 13 and m.ir_version == 7
    assert [o.name for o in m.graph.output] == ["scores", "embedding", "distributions"]
    out, seen = onnx_eval(m, {"input": x})
    assert ops_expected <= seen, seen
    for name, ref in expect.items():
        got = out[name]
        assert got.shape == ref.shape, name
        np.testing.assert_allclose(got, ref, rtol=0, atol=TOL, err_msg=name)
    meta = {p.key: p.value for p in m.metadata_props}
    return m, meta


# ------------------------------------------------------------------ fixtures: trained models

def predict_all(model, inp, tmp):
    """mlcl-predict's scores, embedding and distributions (.npy)."""
    pred = tool("mlcl-predict")
    out = {}
    for kind, flag in (("scores", None), ("embedding", "--embed"), ("distributions", "--distributions")):
        path = os.path.join(tmp, "%s.npy" % kind)
        run(pred, "--model", model, "--input", inp, "--out", path, *([flag] if flag else []))
        out[kind] = np.load(path).astype(np.float64)
    return out


@pytest.fixture(scope="module")
def yeast_run(tmp_path_factory, yeast_paths):
    tmp = str(tmp_path_factory.mktemp("interop_yeast"))
    model = os.path.join(tmp, "yeast.mlcl")
    run(tool("mlcl-train"), "--train", yeast_paths[0], "--test", yeast_paths[1], "--preset", "yeast",
        "--pretrain-epochs", 1, "--finetune-epochs", 1, "--threads", 1, "--save-model", model, "--quiet", "--seed", 3)
    pred = tool("mlcl-predict")
    st, ox, nz = (os.path.join(tmp, "yeast.safetensors"), os.path.join(tmp, "yeast.onnx"), os.path.join(tmp, "yeast.npz"))
    for path in (st, ox, nz):
        run(pred, "--model", model, "--export", path)
    import mlcl
    x = np.asarray(mlcl.Dataset.load_arff(yeast_paths[1]).features, dtype=np.float32)
    return dict(tmp=tmp, model=model, st=st, onnx=ox, npz=nz, x=x, out=predict_all(model, yeast_paths[1], tmp))


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("interop_resnet"))
    model = os.path.join(tmp, "resnet.mlcl")
    # Fashion-MNIST 2x2 mosaics (1 x 56 x 56), network input 16 x 16: the model resizes
    p = subprocess.run([tool("mlcl-train"), "--encoder", "resnet18-small", "--base-width", "8", "--image-size", "16",
                        "--mosaic-train", "32", "--mosaic-test", "16", "--batch", "16", "--pretrain-epochs", "1",
                        "--finetune-epochs", "1", "--threads", "1", "--save-model", model, "--quiet"],
                       capture_output=True, text=True)
    if p.returncode != 0 and "fashion" in (p.stderr + p.stdout).lower() and not os.path.exists(model):
        pytest.skip("Fashion-MNIST mosaics unavailable: %s" % p.stderr.strip()[-200:])
    assert p.returncode == 0, p.stderr
    import mlcl
    ds = mlcl.Dataset.fashion_mosaic(12, seed=5, train=False)
    x = np.asarray(ds.features, dtype=np.float32)
    inp = os.path.join(tmp, "rows.npy")
    np.save(inp, x)
    pred = tool("mlcl-predict")
    st, ox, nz = (os.path.join(tmp, "resnet.safetensors"), os.path.join(tmp, "resnet.onnx"), os.path.join(tmp, "resnet.npz"))
    for path in (st, ox, nz):
        run(pred, "--model", model, "--export", path)
    return dict(tmp=tmp, model=model, st=st, onnx=ox, npz=nz, x=x, out=predict_all(model, inp, tmp))


# ------------------------------------------------------------------ .npz

@pytest.mark.parametrize("which", ["yeast_run", "resnet_run"])
def test_npz_holds_the_safetensors_tensors(which, request):
    run_ = request.getfixturevalue(which)
    t, meta = read_safetensors(run_["st"])
    z = np.load(run_["npz"])
    assert set(z.files) == set(t) | {"__metadata__"}
    for k, v in t.items():
        assert z[k].dtype == np.float32 and z[k].shape == v.shape, k
        np.testing.assert_array_equal(z[k], v, err_msg=k)
    assert json.loads(str(z["__metadata__"])) == meta


# ------------------------------------------------------------------ (a) safetensors -> PyTorch

def test_safetensors_file_layout(yeast_run):
    """The export as the format and docs/models.md describe it (numpy only)."""
    t, meta = read_safetensors(yeast_run["st"])
    assert all(a.dtype == np.float32 for a in t.values())
    assert t["backbone.0.weight"].shape == (256, 103) and t["head.weight"].shape == (14, 256)
    assert t["scaler.mean"].shape == (103,) and t["thresholds"].shape == (14,)
    assert np.all(t["scaler.std"] > 0) and np.all(t["thresholds"] == np.float32(0.5))
    assert json.loads(meta["mlcl.label_names"])[0] == "Class1"
    assert meta["mlcl.provenance.method"] == "cld" and meta["format"] == "pt"
    # the header length is a multiple of 8 so the data is aligned
    assert int.from_bytes(open(yeast_run["st"], "rb").read(8), "little") % 8 == 0


def test_safetensors_mlp_in_torch(yeast_run):
    need_torch()
    s, e, p, net, tensors, _ = torch_outputs(yeast_run["st"], yeast_run["x"])
    assert set(net.state_dict().keys()) == set(tensors.keys())
    out = yeast_run["out"]
    np.testing.assert_allclose(s, out["scores"], rtol=0, atol=TOL)
    np.testing.assert_allclose(e, out["embedding"], rtol=0, atol=TOL)
    np.testing.assert_allclose(p, out["distributions"], rtol=0, atol=TOL)
    assert s.std() > 1e-3  # not a constant model


# ------------------------------------------------------------------ (b) ONNX

def test_onnx_mlp(yeast_run):
    out = yeast_run["out"]
    m, meta = check_onnx(yeast_run["onnx"], yeast_run["x"], out, {"Sub", "Div", "Gemm", "Relu", "Sigmoid", "Softmax"})
    assert "Dropout" not in {n.op_type for n in m.graph.node}
    assert json.loads(meta["mlcl.label_names"])[13] == "Class14"
    assert json.loads(meta["mlcl.thresholds"]) == [0.5] * 14
    names = {t.name for t in m.graph.initializer}
    assert {"backbone.0.weight", "head.weight", "scaler.mean", "scaler.std"} <= names


# ------------------------------------------------------------------ (c) a ResNet, both ways

def test_resnet_safetensors_in_torch(resnet_run):
    need_torch()
    s, e, p, net, tensors, meta = torch_outputs(resnet_run["st"], resnet_run["x"])
    assert "backbone.layer4.1.bn2.running_var" in tensors and "backbone.layer2.0.downsample.0.weight" in tensors
    assert meta["mlcl.image_shape"] == "1,56,56" and meta["mlcl.network_input"] == "16,16"
    out = resnet_run["out"]
    np.testing.assert_allclose(e, out["embedding"], rtol=0, atol=TOL)
    np.testing.assert_allclose(s, out["scores"], rtol=0, atol=TOL)
    np.testing.assert_allclose(p, out["distributions"], rtol=0, atol=TOL)


def test_resnet_onnx(resnet_run):
    x = resnet_run["x"].reshape(-1, 1, 56, 56)
    check_onnx(resnet_run["onnx"], x, resnet_run["out"],
               {"Conv", "BatchNormalization", "Relu", "Add", "GlobalAveragePool", "Flatten", "Gemm", "Sigmoid",
                "Resize"})


# ------------------------------------------------------------------ (d) import into libmlcl (ctypes)

# the package's declaration: ctypes shares one function object per name, so
# the argument types declared below must be the same classes as mlcl._lib's
from mlcl._lib import ModelImportOptions as ImportOptions  # noqa: E402


def _lib():
    from mlcl import _lib as L
    lib = L.lib
    H = ctypes.c_void_p
    P = ctypes.POINTER
    sig = {
        "mlcl_model_create": [P(H), H, ctypes.c_int, ctypes.c_uint64],
        "mlcl_model_import_options_init": [P(ImportOptions), ctypes.c_uint],
        "mlcl_model_import_safetensors": [H, ctypes.c_char_p, P(ImportOptions)],
        "mlcl_model_export_safetensors": [H, ctypes.c_char_p],
        "mlcl_model_export_onnx": [H, ctypes.c_char_p],
        "mlcl_model_load": [P(H), ctypes.c_char_p],
        "mlcl_model_free": [H],
        "mlcl_model_infer": [H, H, ctypes.c_int, ctypes.c_int, P(ctypes.c_float), P(ctypes.c_float)],
        "mlcl_resnet_spec_init": [P(L.ResnetSpec), ctypes.c_uint],
        "mlcl_encoder_create_resnet": [P(H), P(L.ResnetSpec), ctypes.c_void_p],
        "mlcl_encoder_free": [H],
    }
    for name, args in sig.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = None if name.endswith("_free") else ctypes.c_int
        if f.restype is not None:
            f.errcheck = L._errcheck
    return lib, L


def infer(lib, m, what, x, width):
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty((x.shape[0], width), dtype=np.float32)
    fp = ctypes.POINTER(ctypes.c_float)
    lib.mlcl_model_infer(m, None, what, x.shape[0], x.ctypes.data_as(fp), out.ctypes.data_as(fp))
    return out


def make_resnet_model(lib, L, stem, cin, size, width, c):
    spec = L.ResnetSpec()
    lib.mlcl_resnet_spec_init(ctypes.byref(spec), 1)
    spec.depth, spec.stem, spec.in_channels, spec.height, spec.width, spec.base_width = (
        18, 1 if stem == "small" else 0, cin, size, size, width)
    enc, m = ctypes.c_void_p(), ctypes.c_void_p()
    lib.mlcl_encoder_create_resnet(ctypes.byref(enc), ctypes.byref(spec), None)
    try:
        lib.mlcl_model_create(ctypes.byref(m), enc, c, 7)
    finally:
        lib.mlcl_encoder_free(enc)
    return m


def randomize_bn(net, gen):
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.1)
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)
                mod.num_batches_tracked.fill_(17)


def test_import_torchvision_resnet18_state(tmp_path):
    """torch writes a torchvision-layout ResNet-18 (small stem) state; libmlcl runs it."""
    need_torch()
    from torch_resnet import ResNet
    lib, L = _lib()
    gen = torch.Generator().manual_seed(11)
    torch.manual_seed(11)
    net = ResNet(18, "small", in_channels=3, base_width=8)
    randomize_bn(net, gen)
    net.eval()
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    assert state["bn1.num_batches_tracked"].dtype == np.int64  # written as I64 and ignored on import
    path = str(tmp_path / "resnet18.safetensors")
    write_safetensors(path, state, {"format": "pt"})
    x = torch.rand((6, 3, 16, 16), generator=gen)
    with torch.no_grad():
        ref = net(x).numpy()
    m = make_resnet_model(lib, L, "small", 3, 16, 8, 4)
    try:
        before = infer(lib, m, 2, x.numpy().reshape(6, -1), 64)
        assert np.abs(before - ref).max() > 1e-2  # the import has something to change
        o = ImportOptions()
        lib.mlcl_model_import_options_init(ctypes.byref(o), 1)
        o.backbone_prefix = b""
        o.backbone_only = 1
        lib.mlcl_model_import_safetensors(m, path.encode(), ctypes.byref(o))
        emb = infer(lib, m, 2, x.numpy().reshape(6, -1), 64)
        np.testing.assert_allclose(emb, ref, rtol=0, atol=TOL)
        # without the prefix option, the names do not match: a clean error, the model unchanged
        from mlcl._lib import FormatError
        with pytest.raises(FormatError, match="backbone.conv1.weight"):
            lib.mlcl_model_import_safetensors(m, path.encode(), None)
        np.testing.assert_allclose(infer(lib, m, 2, x.numpy().reshape(6, -1), 64), emb, rtol=0, atol=0)
        # a torchvision classifier: its fc is the model's head (head_prefix "fc.")
        fc = nn.Linear(64, 4)
        with torch.no_grad():
            ref_s = torch.sigmoid(fc(net(x))).numpy()
        state.update({"fc.weight": fc.weight.detach().numpy(), "fc.bias": fc.bias.detach().numpy()})
        write_safetensors(path, state)
        o.backbone_only, o.head_prefix = 0, b"fc."
        lib.mlcl_model_import_safetensors(m, path.encode(), ctypes.byref(o))
        np.testing.assert_allclose(infer(lib, m, 0, x.numpy().reshape(6, -1), 4), ref_s, rtol=0, atol=TOL)
    finally:
        lib.mlcl_model_free(m)


def test_import_full_model_roundtrip(yeast_run, tmp_path):
    """torch changes every tensor of the exported MLP; importing it back gives torch's outputs."""
    need_torch()
    lib, _ = _lib()
    x = yeast_run["x"][:50]
    _, _, _, net, _, _ = torch_outputs(yeast_run["st"], x)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name == "scaler.std":
                t.mul_(1.5)
            elif name != "thresholds":
                t.add_(0.01 * torch.randn(t.shape, generator=torch.Generator().manual_seed(len(name))))
        s, e, p = net(torch.from_numpy(x))
    path = str(tmp_path / "changed.safetensors")
    write_safetensors(path, {k: v.numpy() for k, v in net.state_dict().items()})
    m = ctypes.c_void_p()
    lib.mlcl_model_load(ctypes.byref(m), yeast_run["model"].encode())
    try:
        lib.mlcl_model_import_safetensors(m, path.encode(), None)
        np.testing.assert_allclose(infer(lib, m, 0, x, 14), s.numpy(), rtol=0, atol=TOL)
        np.testing.assert_allclose(infer(lib, m, 2, x, 256), e.numpy(), rtol=0, atol=TOL)
        np.testing.assert_allclose(infer(lib, m, 3, x, 14), p.numpy(), rtol=0, atol=TOL)
        # and what libmlcl writes back is what torch had
        out = str(tmp_path / "again.safetensors")
        lib.mlcl_model_export_safetensors(m, out.encode())
        again, _ = read_safetensors(out)
        for k, v in net.state_dict().items():
            np.testing.assert_array_equal(again[k], v.numpy(), err_msg=k)
    finally:
        lib.mlcl_model_free(m)


def test_imagenet_stem_onnx_and_torch(tmp_path):
    """The torchvision stem (7x7/2 conv, max-pool) through ONNX and safetensors, on a created model."""
    need_torch()
    lib, L = _lib()
    m = make_resnet_model(lib, L, "imagenet", 3, 32, 8, 5)
    try:
        st, ox = str(tmp_path / "r.safetensors"), str(tmp_path / "r.onnx")
        gen = torch.Generator().manual_seed(2)
        # give the BatchNorms non-trivial statistics through an import first
        from torch_resnet import ResNet
        net = ResNet(18, "imagenet", in_channels=3, base_width=8)
        randomize_bn(net, gen)
        write_safetensors(str(tmp_path / "w.safetensors"), {k: v.numpy() for k, v in net.state_dict().items()})
        o = ImportOptions()
        lib.mlcl_model_import_options_init(ctypes.byref(o), 1)
        o.backbone_prefix, o.backbone_only = b"", 1
        lib.mlcl_model_import_safetensors(m, str(tmp_path / "w.safetensors").encode(), ctypes.byref(o))
        lib.mlcl_model_export_safetensors(m, st.encode())
        lib.mlcl_model_export_onnx(m, ox.encode())
        x = torch.rand((4, 3, 32, 32), generator=gen).numpy()
        ref = {"scores": infer(lib, m, 0, x.reshape(4, -1), 5).astype(np.float64),
               "embedding": infer(lib, m, 2, x.reshape(4, -1), 64).astype(np.float64),
               "distributions": infer(lib, m, 3, x.reshape(4, -1), 5).astype(np.float64)}
        s, e, p, *_ = torch_outputs(st, x.reshape(4, -1))
        np.testing.assert_allclose(s, ref["scores"], rtol=0, atol=TOL)
        np.testing.assert_allclose(e, ref["embedding"], rtol=0, atol=TOL)
        if onnx is not None:
            check_onnx(ox, x, ref, {"Conv", "MaxPool", "BatchNormalization", "Add", "GlobalAveragePool"})
    finally:
        lib.mlcl_model_free(m)


def test_mlp_layers_all_ways(tmp_path):
    """BatchNorm1d, Linear without bias, L2Norm and Softmax; standardisation switched on by an import."""
    need_torch()
    lib, L = _lib()
    enc, m = ctypes.c_void_p(), ctypes.c_void_p()
    lib.mlcl_encoder_create(ctypes.byref(enc), 6, None)
    for f, args in (("linear", (5, 1)), ("batchnorm", (1e-5, 0.1)), ("relu", ()), ("dropout", (0.3,)),
                    ("linear", (4, 0)), ("l2norm", ()), ("linear", (4, 1)), ("softmax", ())):
        getattr(lib, "mlcl_encoder_add_" + f)(enc, *args)
    try:
        lib.mlcl_model_create(ctypes.byref(m), enc, 3, 5)
    finally:
        lib.mlcl_encoder_free(enc)
    try:
        first = str(tmp_path / "first.safetensors")
        lib.mlcl_model_export_safetensors(m, first.encode())
        _, meta = read_safetensors(first)
        assert meta["mlcl.standardized"] == "0"
        assert parse_arch(meta["mlcl.architecture"]) == ["Linear(6,5)", "BatchNorm1d(5)", "ReLU", "Dropout(0.3)",
                                                         "Linear(5,4,bias=False)", "L2Norm", "Linear(4,4)", "Softmax"]
        # torch makes every value (and a scaler) and libmlcl imports them
        meta["mlcl.standardized"] = "1"
        torch.manual_seed(3)
        net = MLCLNet(meta)
        randomize_bn(net, torch.Generator().manual_seed(4))
        with torch.no_grad():
            net.scaler.mean.copy_(torch.randn(6))
            net.scaler.std.copy_(torch.rand(6) + 0.5)
        net.eval()
        path = str(tmp_path / "torch.safetensors")
        write_safetensors(path, {k: v.numpy() for k, v in net.state_dict().items()})
        lib.mlcl_model_import_safetensors(m, path.encode(), None)
        x = np.random.default_rng(0).normal(size=(9, 6)).astype(np.float32)
        with torch.no_grad():
            ts, te, tp = (v.numpy() for v in net(torch.from_numpy(x)))
        ref = {"scores": infer(lib, m, 0, x, 3).astype(np.float64), "embedding": infer(lib, m, 2, x, 4).astype(np.float64),
               "distributions": infer(lib, m, 3, x, 3).astype(np.float64)}
        np.testing.assert_allclose(ref["scores"], ts, rtol=0, atol=TOL)
        np.testing.assert_allclose(ref["embedding"], te, rtol=0, atol=TOL)
        np.testing.assert_allclose(ref["distributions"], tp, rtol=0, atol=TOL)
        st, ox = str(tmp_path / "m.safetensors"), str(tmp_path / "m.onnx")
        lib.mlcl_model_export_safetensors(m, st.encode())
        lib.mlcl_model_export_onnx(m, ox.encode())
        s2, e2, p2, *_ = torch_outputs(st, x)
        np.testing.assert_allclose(s2, ref["scores"], rtol=0, atol=TOL)
        if onnx is not None:
            check_onnx(ox, x, ref, {"Sub", "Div", "BatchNormalization", "ReduceL2", "Max", "Softmax", "Gemm"})
    finally:
        lib.mlcl_model_free(m)


def test_resnet_followed_by_layers(tmp_path):
    """A ResNet with a projection after it: nn.Sequential(resnet, ReLU, Linear) names, both exports."""
    need_torch()
    lib, L = _lib()
    spec = L.ResnetSpec()
    lib.mlcl_resnet_spec_init(ctypes.byref(spec), 1)
    spec.in_channels, spec.height, spec.width, spec.base_width = 2, 12, 12, 4
    enc, m = ctypes.c_void_p(), ctypes.c_void_p()
    lib.mlcl_encoder_create_resnet(ctypes.byref(enc), ctypes.byref(spec), None)
    try:
        lib.mlcl_encoder_add_relu(enc)
        lib.mlcl_encoder_add_linear(enc, 6, 1)
        lib.mlcl_model_create(ctypes.byref(m), enc, 3, 9)
    finally:
        lib.mlcl_encoder_free(enc)
    try:
        st, ox = str(tmp_path / "p.safetensors"), str(tmp_path / "p.onnx")
        lib.mlcl_model_export_safetensors(m, st.encode())
        lib.mlcl_model_export_onnx(m, ox.encode())
        t, _ = read_safetensors(st)
        assert t["backbone.0.conv1.weight"].shape == (4, 2, 3, 3) and t["backbone.2.weight"].shape == (6, 32)
        x = np.random.default_rng(1).random((3, 2 * 12 * 12), dtype=np.float32)
        ref = {"scores": infer(lib, m, 0, x, 3).astype(np.float64), "embedding": infer(lib, m, 2, x, 6).astype(np.float64),
               "distributions": infer(lib, m, 3, x, 3).astype(np.float64)}
        s, e, p, *_ = torch_outputs(st, x)
        np.testing.assert_allclose(s, ref["scores"], rtol=0, atol=TOL)
        np.testing.assert_allclose(e, ref["embedding"], rtol=0, atol=TOL)
        if onnx is not None:
            check_onnx(ox, x.reshape(3, 2, 12, 12), ref, {"Conv", "GlobalAveragePool", "Flatten", "Relu", "Gemm"})
    finally:
        lib.mlcl_model_free(m)
